//! The report model: what `report.json` holds (versioned schema, see README.md) and what
//! every other writer reads.

use crate::checks::{Level, Transcript, Verdict};
use crate::metrics::accounting::Accounting;
use crate::metrics::{Interval, Op, OpSummary, Series};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the `report.json` schema. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Overall result of a run, mapped to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Every check passed (or failed as expected).
    Passed,
    /// At least one check failed.
    Failed,
    /// The run cannot be trusted: target unreachable, generator saturated, interrupted.
    Invalid,
}

/// Run metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunMeta {
    /// Suite name (from the suite file).
    pub suite: String,
    /// Suite file path as given.
    pub suite_path: String,
    /// Target as given (`managed:prosody`, a file path, ...).
    pub target: String,
    /// XMPP domain served by the target.
    pub domain: String,
    /// Whether the TLS certificate of the target was verified.
    pub tls_verified: bool,
    /// Seed of every user's PRNG.
    pub seed: u64,
    /// Start of the run, Unix milliseconds.
    pub started_unix_ms: u64,
    /// Length of the run in milliseconds.
    pub duration_ms: u64,
    /// Virtual users.
    pub users: usize,
    /// Client sessions (users × resources).
    pub sessions: usize,
    /// The machine impress ran on (absent in reports written before it was added).
    #[serde(default)]
    pub machine: Machine,
    /// Software and version of a managed target (e.g. `prosody 0.12.3-1+deb12u1`); absent
    /// for external targets, whose version impress does not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    /// The slice of a sharded run (`--shard I/N`); absent for unsharded and merged runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardMeta>,
    /// `--start-at` (Unix ms): the agreed instant the run's first step began, and its time
    /// origin (`started_unix_ms` equals it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_unix_ms: Option<u64>,
    /// Length of the per-interval histograms in ms (0 in older reports: 1 s).
    #[serde(default)]
    pub interval_ms: u64,
    /// A report written by `impress merge`: the shards it adds up, in shard order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<ShardMeta>,
}

/// One slice of a sharded run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// Which slice, 1-based.
    pub index: usize,
    /// How many slices the run was cut into.
    pub count: usize,
}

/// The machine that generated the load, so results are compared like for like.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// Host name (empty if unknown).
    #[serde(default)]
    pub hostname: String,
    /// Operating system and kernel release, e.g. `linux 6.1.0`.
    #[serde(default)]
    pub os: String,
    /// CPU architecture, e.g. `x86_64`.
    #[serde(default)]
    pub arch: String,
    /// Logical CPUs available to impress.
    #[serde(default)]
    pub cpus: usize,
}

/// A moment worth marking on the report's time axis: a step starting, a fault injected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Milliseconds after the run started.
    pub at_ms: u64,
    /// What happened, e.g. `3 presence`.
    pub label: String,
}

/// One check's aggregated verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// Check id, e.g. `xmpp/rfc6120/7.6.1-bind-full-jid`.
    pub id: String,
    /// Specification, e.g. `RFC 6120`.
    pub spec: String,
    /// Section, e.g. `7.6.1`.
    pub section: String,
    /// Requirement level.
    pub level: Level,
    /// Aggregated verdict (the worst instance wins).
    pub verdict: Verdict,
    /// One line for humans.
    pub message: String,
    /// The requirement, quoted.
    pub quote: String,
    /// What was expected in the worst instance.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected: Option<String>,
    /// What was observed in the worst instance.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub actual: Option<String>,
    /// Who the worst instance was judged on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    /// Instances per verdict, e.g. `{"pass": 199, "fail": 1}`.
    pub tally: BTreeMap<Verdict, u64>,
    /// Reason from the target's expectation file when this failure is expected.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected_failure: Option<String>,
    /// Wire transcript proving the worst instance.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transcript: Option<Transcript>,
}

/// A harness or network error worth showing (bounded list).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// Who hit it (`user3/desktop`, `target`, ...).
    pub subject: String,
    /// What happened.
    pub message: String,
}

/// Everything `report.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// impress version.
    pub impress_version: String,
    /// Overall status.
    pub status: RunStatus,
    /// Why the run is invalid or interrupted, if it is.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status_reason: Option<String>,
    /// Metadata.
    pub run: RunMeta,
    /// One entry per check in the catalogue that the suite selected.
    pub verdicts: Vec<VerdictRecord>,
    /// Response time (from the intended start) per operation name.
    pub ops: BTreeMap<String, OpSummary>,
    /// Service time (from the actual send) per operation name.
    pub service_ops: BTreeMap<String, OpSummary>,
    /// Named counters (messages sent, delivered, lost, ...).
    pub counters: BTreeMap<String, u64>,
    /// The first errors seen (bounded).
    pub errors: Vec<ErrorRecord>,
    /// Marked moments (step starts, faults), in time order.
    #[serde(default)]
    pub timeline: Vec<TimelineEvent>,
    /// Per-recipient message accounting: sent, delivered, duplicated, lost, reordered.
    #[serde(default)]
    pub accounting: Accounting,
    /// Recovery of each failover (`chat-through`) step, with its verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery: Vec<crate::metrics::recovery::RecoveryReport>,
    /// Login-rate calibration of each `calibrate-login` step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibration: Vec<CalibrationReport>,
}

/// The collector's final model: the report plus the histograms behind it.
#[derive(Debug)]
pub struct RunOutput {
    /// What `report.json` holds.
    pub report: RunReport,
    /// Per-operation interval histograms (response time) for the HdrHistogram logs.
    pub intervals: BTreeMap<Op, Vec<Interval>>,
    /// Whole-run response-time histogram per operation (percentile distributions).
    pub totals: BTreeMap<Op, Histogram<u64>>,
    /// Whole-run service-time histogram per operation.
    pub service_totals: BTreeMap<Op, Histogram<u64>>,
    /// Failed operations and gauges per interval.
    pub series: Series,
}

/// One stage of a `calibrate-login` step: logins offered at a constant rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationStage {
    /// Offered login rate, per second.
    pub offered_per_s: f64,
    /// Successful logins per second, over the stage or until its last login completed
    /// (whichever is longer).
    pub achieved_per_s: f64,
    /// Arrivals scheduled in the stage.
    pub arrivals: u64,
    /// Of those, logins that succeeded.
    pub logins: u64,
    /// Logins that failed or timed out.
    pub failures: u64,
    /// Arrivals whose user was still busy with an earlier login (never started).
    pub dropped: u64,
    /// Login time from the intended start, median, ms.
    pub login_p50_ms: f64,
    /// Login time from the intended start, 99th percentile, ms.
    pub login_p99_ms: f64,
    /// Whether the stage met the knee rule.
    pub passed: bool,
}

/// The HA re-login profile a calibration suggests (`impress ha-profile` arithmetic).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuggestedProfile {
    /// Users planned for (N).
    pub users: u64,
    /// The knee rate (R), logins per second.
    pub rate_per_second: f64,
    /// Client Re-Login Lower Limit, seconds (= the Critical Service Down Delay).
    pub lower_secs: u64,
    /// Client Re-Login Upper Limit, seconds: `lower + N/R` rounded half up.
    pub upper_secs: u64,
    /// `upper - lower`.
    pub spread_secs: u64,
}

/// What one `calibrate-login` step measured and suggests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// The step, e.g. `1 calibrate-login`.
    pub step: String,
    /// Length of each stage, ms.
    pub stage_ms: u64,
    /// The knee rule, in words.
    pub rule: String,
    /// One row per offered rate, in order.
    pub stages: Vec<CalibrationStage>,
    /// The highest offered rate before the first stage that broke the rule.
    pub knee_rate_per_s: Option<f64>,
    /// The profile for that rate (`None`: no stage passed).
    pub suggestion: Option<SuggestedProfile>,
    /// Why there is (or is not) a suggestion.
    pub reason: String,
}
