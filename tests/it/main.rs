//! The single integration-test binary. Tests that need a server start a managed one on
//! free loopback ports (scripts/install-targets.sh installs the packages) and stop it.

mod accounting;
mod calibrate;
mod cli;
mod common;
mod compare;
mod deployment;
mod failover;
mod faults;
mod forking;
mod fuzz;
mod ha_profile;
mod hostile;
mod hostile_sip;
mod html;
mod intercluster;
mod kamailio;
mod limits;
mod load;
mod merge;
mod metrics;
mod muc;
mod offline;
mod preflight;
mod proxy;
mod secrets;
mod serve;
mod sip;
mod sip_ua;
mod sm;
mod smoke;
mod target;
mod violations;
