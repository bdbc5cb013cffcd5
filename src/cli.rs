//! Command-line arguments (clap derive). Only validates what the user typed; files are
//! read later, by [`crate::scenario`].

use clap::{Parser, Subcommand};
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
