//! Top-level error type and the exit codes impress promises (README "Exit codes").

use std::path::PathBuf;

/// Every check passed (or failed as expected).
pub const EXIT_OK: i32 = 0;
/// At least one check failed.
pub const EXIT_CHECKS_FAILED: i32 = 1;
/// Usage error, or a suite/target file is wrong.
pub const EXIT_USAGE: i32 = 2;
/// The run is invalid: target unreachable, generator saturated, or interrupted.
pub const EXIT_INVALID: i32 = 3;
/// A second Ctrl-C or SIGTERM aborted the graceful end of a run: no report (128 + SIGINT,
/// as shells report a process killed by Ctrl-C).
pub const EXIT_ABORTED: i32 = 130;

/// Errors that stop impress before or outside a run's verdicts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A suite or target file is unreadable or invalid (the user's fault: exit 2).
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and field where known.
        message: String,
    },
    /// A command-line value is invalid (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The target could not be started or reached (exit 3).
    #[error("target unavailable: {0}")]
    Target(String),
    /// The report could not be written (exit 3), or one to compare could not be read
    /// (exit 2).
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config { .. }
            | Self::Usage(_)
            | Self::Report(crate::report::ReportError::Read { .. }) => EXIT_USAGE,
            Self::Target(_) | Self::Report(_) => EXIT_INVALID,
        }
    }
}
