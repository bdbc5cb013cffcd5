//! Command-line arguments (clap derive). Only validates what the user typed; files are
//! read later, by [`crate::scenario`].

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// impress: conformance and load tests for XMPP and SIP IM & presence deployments.
#[derive(Debug, Parser)]
#[command(name = "impress", version, about)]
pub struct Cli {
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a suite against a target and write a report directory.
    Run {
        /// Suite file (TOML).
        suite: PathBuf,
        /// `managed:prosody` (default), `managed:ejabberd`, `managed:kamailio`, or a target
        /// file (TOML).
        #[arg(long)]
        target: Option<String>,
        /// Report directory.
        #[arg(long, default_value = "impress-report")]
        out: PathBuf,
        /// Do not print the summary.
        #[arg(long, short)]
        quiet: bool,
        /// Serve live Prometheus metrics at http://ADDR/metrics during the run
        /// (e.g. 127.0.0.1:9464; port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<SocketAddr>,
        /// SIP target of a suite with both XMPP and SIP fleets: `managed:kamailio` (the
        /// default) or a target file. A suite with only SIP fleets takes `--target`.
        #[arg(long, value_name = "TARGET")]
        sip_target: Option<String>,
        /// Run only slice I of N of every fleet (users dealt to slices by adjacent pairs,
        /// open-model rates divided by N), for `impress merge` to add up.
        #[arg(long, value_name = "I/N")]
        shard: Option<crate::shard::Shard>,
        /// Begin the first step at TIME (after the target is up): RFC 3339, Unix seconds,
        /// or `+10s`, so that the N shards of a run start together.
        #[arg(long, value_name = "TIME", value_parser = start_at)]
        start_at: Option<std::time::SystemTime>,
    },
    /// Add the report directories of the shards of one run (`run --shard I/N`) into the
    /// report one generator would have written. Exits like a run: 0 passed, 1 failed,
    /// 3 invalid; 2 if the reports cannot be read or are not the shards of one run.
    Merge {
        /// The shards' report directories.
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Merged report directory.
        #[arg(long, default_value = "impress-report")]
        out: PathBuf,
        /// Do not print the summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Compare a run against a baseline: verdict and latency changes. Exits 1 on a
    /// regression, 2 if a report cannot be read.
    Compare {
        /// Baseline report directory.
        old: PathBuf,
        /// New report directory.
        new: PathBuf,
        /// p99 growth, in percent, that counts as a latency regression.
        #[arg(long, value_name = "PCT", default_value_t = crate::report::compare::DEFAULT_THRESHOLD_PCT, value_parser = percent)]
        threshold: f64,
    },
    /// Check a suite (and target) file without running it.
    Validate {
        /// Suite file.
        suite: PathBuf,
        /// Target, as for `run`.
        #[arg(long)]
        target: Option<String>,
    },
    /// Start a managed server on its own and keep it running until SIGINT/SIGTERM, so
    /// other load generators (Tsung, SIPp) and impress runs hit the same instance. Provisions
    /// `<PREFIX>1` … `<PREFIX>N` with a random password written to a 0600 file, and writes the
    /// info file (JSON) with, beside it, the password, CA and impress target files.
    Serve {
        /// `managed:prosody`, `managed:ejabberd`, `managed:kamailio`, or a target file with
        /// `[managed]`.
        #[arg(default_value = "managed:prosody")]
        target: String,
        /// Accounts to provision.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        accounts: usize,
        /// Account name prefix (lowercase `a-z 0-9 . _ -`).
        #[arg(long, default_value = "user")]
        prefix: String,
        /// Info file; the other files are named after its stem.
        #[arg(long, value_name = "FILE", default_value = "impress-serve.json")]
        info: PathBuf,
    },
    /// The catalogue of checks.
    Checks {
        /// What to show.
        #[command(subcommand)]
        command: ChecksCommand,
    },
    /// HA client re-login limits: lower = critical service down delay, upper = lower +
    /// N/R rounded half up (the formula behind the HA login-profile tables).
    HaProfile {
        /// Users that log in again: all users of the pair (active/standby) or the fuller
        /// node's (active/active).
        #[arg(long, value_name = "N")]
        users: u64,
        /// Logins per second the surviving node sustains (e.g. 15 or 1.5).
        #[arg(long, value_name = "R", required_unless_present = "profile")]
        rate: Option<crate::ha::profile::LoginRate>,
        /// Take R from a seed hardware profile: 500-aa, 500-as, 1000-aa … 25000-as.
        #[arg(long, value_name = "NAME", conflicts_with = "rate", value_parser = seed_profile)]
        profile: Option<&'static crate::ha::profile::SeedProfile>,
        /// Critical service down delay, the lower limit, in whole seconds ("90", "2m").
        /// Default 120, as every row of the seed's tables assumes (the product default
        /// is 90).
        #[arg(long, value_name = "S", default_value = "120", value_parser = whole_seconds)]
        service_down_delay: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `impress checks …`.
#[derive(Debug, Subcommand)]
pub enum ChecksCommand {
    /// List checks with level and quoted requirement.
    List {
        /// Only this specification (e.g. `RFC 6121`, `XEP-0199`).
        #[arg(long)]
        spec: Option<String>,
    },
}

/// A non-negative, finite percentage.
fn percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!("`{s}` is not a percentage (a number >= 0)")),
    }
}

/// `--start-at`, against the clock now.
fn start_at(s: &str) -> Result<std::time::SystemTime, String> {
    crate::shard::parse_start_at(s, crate::clock::wall())
}

/// A seed HA login profile by name.
fn seed_profile(s: &str) -> Result<&'static crate::ha::profile::SeedProfile, String> {
    crate::ha::profile::seed_profile(s).ok_or_else(|| {
        let names: Vec<&str> = crate::ha::profile::SEED_PROFILES
            .iter()
            .map(|p| p.name)
            .collect();
        format!("unknown profile `{s}`; one of {}", names.join(", "))
    })
}

/// A duration (`"90"`, `"90s"`, `"2m"`) that is a whole number of seconds.
fn whole_seconds(s: &str) -> Result<u64, String> {
    let d = crate::scenario::duration::parse(s)?;
    if d.subsec_nanos() != 0 {
        return Err(format!("`{s}` is not a whole number of seconds"));
    }
    Ok(d.as_secs())
}
