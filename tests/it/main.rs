//! The single integration-test binary. Tests that need a server start a managed one on
//! free loopback ports (scripts/install-targets.sh installs the packages) and stop it.

mod cli;
mod common;
mod compare;
mod faults;
mod fuzz;
mod hostile;
mod html;
mod metrics;
mod secrets;
mod sm;
mod smoke;
mod target;
mod violations;
