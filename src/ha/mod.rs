//! High availability: what the seed deployments prescribe for failover and recovery (seed
//! research §1.11, §2.2, §2.5, §3), as pure computations the fleet and the CLI share.

pub mod profile;
