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
        /// `managed:prosody` (default), `managed:ejabberd`, or a target file (TOML).
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
    /// The catalogue of checks.
    Checks {
        /// What to show.
        #[command(subcommand)]
        command: ChecksCommand,
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
