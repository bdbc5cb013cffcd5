//! Run comparison (`impress compare OLD NEW`): verdict changes and per-operation percentile
//! changes between two reports, and the regression gate CI baselines use. Pure: two
//! [`RunReport`]s in, a [`Comparison`] out, rendered as plain text.

use super::model::VerdictRecord;
use super::terminal::{clean, ms, op_rank};
use super::{RunReport, RunStatus};
use crate::checks::Verdict;
use crate::metrics::OpSummary;
use crate::metrics::accounting::AccountRow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Default `--threshold`: p99 growth (percent) that counts as a latency regression.
pub const DEFAULT_THRESHOLD_PCT: f64 = 10.0;

/// p99 growth below this many microseconds is never a regression: on sub-millisecond
/// operations a few hundred µs of jitter is a large percentage and means nothing.
pub const NOISE_FLOOR_US: u64 = 1_000;

/// One check whose outcome differs between the runs.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictChange {
    /// Check id.
    pub id: String,
    /// Outcome in the old run (`None`: not selected there).
    pub old: Option<Outcome>,
    /// Outcome in the new run (`None`: not selected there).
    pub new: Option<Outcome>,
    /// The new run fails this check and the old one did not.
    pub regression: bool,
}

/// A check's verdict and whether the target's expectation file excused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Aggregated verdict.
    pub verdict: Verdict,
    /// Listed as a known deviation.
    pub expected: bool,
}

impl Outcome {
    fn of(v: &VerdictRecord) -> Self {
        Self {
            verdict: v.verdict,
            expected: v.expected_failure.is_some(),
        }
    }

    /// Whether this outcome fails a run (a `fail` or `error` not excused).
    pub fn fails(self) -> bool {
        !self.expected && matches!(self.verdict, Verdict::Fail | Verdict::Error)
    }

    fn label(self) -> String {
        let x = if self.expected { " (expected)" } else { "" };
        format!("{}{x}", self.verdict.as_str())
    }
}

/// One operation present in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct OpChange {
    /// Operation name.
    pub op: String,
    /// Old response-time summary.
    pub old: OpSummary,
    /// New response-time summary.
    pub new: OpSummary,
    /// p99 grew by more than the threshold and the noise floor.
    pub regression: bool,
}

/// What changed between two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// p99 growth (percent) that counts as a regression.
    pub threshold_pct: f64,
    /// Old and new overall status.
    pub status: (RunStatus, RunStatus),
    /// Checks whose outcome changed, in the new run's order (then removed ones).
    pub verdicts: Vec<VerdictChange>,
    /// Operations recorded in both runs, in report order.
    pub ops: Vec<OpChange>,
    /// Message accounting of both runs, when both tracked messages.
    pub messages: Option<MessageChange>,
}

/// Message accounting totals of both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageChange {
    /// Old totals.
    pub old: AccountRow,
    /// New totals.
    pub new: AccountRow,
    /// The share of messages lost, duplicated or reordered grew.
    pub regression: bool,
}

impl MessageChange {
    fn of(old: &RunReport, new: &RunReport) -> Option<Self> {
        let (o, n) = (old.accounting.total, new.accounting.total);
        if o.sent == 0 || n.sent == 0 {
            return None;
        }
        // Rates, not counts: the two runs may have sent different numbers of messages.
        let rate = |x: u64, r: &AccountRow| x as f64 / r.sent as f64;
        let worse = |f: fn(&AccountRow) -> u64| rate(f(&n), &n) > rate(f(&o), &o);
        let regression = worse(|r| r.lost) || worse(|r| r.duplicated) || worse(|r| r.reordered);
        Some(Self {
            old: o,
            new: n,
            regression,
        })
    }
}

/// Compares `new` against the baseline `old`.
pub fn compare(old: &RunReport, new: &RunReport, threshold_pct: f64) -> Comparison {
    Comparison {
        threshold_pct,
        status: (old.status, new.status),
        verdicts: verdict_changes(old, new),
        ops: op_changes(&old.ops, &new.ops, threshold_pct),
        messages: MessageChange::of(old, new),
    }
}

fn verdict_changes(old: &RunReport, new: &RunReport) -> Vec<VerdictChange> {
    let before: BTreeMap<&str, Outcome> = old
        .verdicts
        .iter()
        .map(|v| (v.id.as_str(), Outcome::of(v)))
        .collect();
    let after: BTreeMap<&str, Outcome> = new
        .verdicts
        .iter()
        .map(|v| (v.id.as_str(), Outcome::of(v)))
        .collect();
    let ids = new
        .verdicts
        .iter()
        .chain(
            old.verdicts
                .iter()
                .filter(|v| !after.contains_key(v.id.as_str())),
        )
        .map(|v| v.id.as_str());
    ids.filter_map(|id| {
        let (o, n) = (before.get(id).copied(), after.get(id).copied());
        (o != n).then(|| VerdictChange {
            id: id.to_string(),
            old: o,
            new: n,
            regression: n.is_some_and(Outcome::fails) && !o.is_some_and(Outcome::fails),
        })
    })
    .collect()
}

fn op_changes(
    old: &BTreeMap<String, OpSummary>,
    new: &BTreeMap<String, OpSummary>,
    threshold_pct: f64,
) -> Vec<OpChange> {
    let mut out: Vec<OpChange> = new
        .iter()
        .filter_map(|(op, n)| {
            let o = old.get(op)?;
            let measured = o.count > 0 && n.count > 0;
            let limit = o.p99_us as f64 * (1.0 + threshold_pct / 100.0);
            let regression = measured
                && n.p99_us as f64 > limit
                && n.p99_us.saturating_sub(o.p99_us) > NOISE_FLOOR_US;
            Some(OpChange {
                op: op.clone(),
                old: o.clone(),
                new: n.clone(),
                regression,
            })
        })
        .collect();
    out.sort_by_key(|c| op_rank(&c.op));
    out
}

impl Comparison {
    /// Whether CI should fail: a check newly failing, an operation's p99 over the
    /// threshold, or a new run that cannot be trusted.
    pub fn regressed(&self) -> bool {
        self.new_run_invalid()
            || self.verdicts.iter().any(|v| v.regression)
            || self.ops.iter().any(|o| o.regression)
            || self.messages.as_ref().is_some_and(|m| m.regression)
    }

    fn new_run_invalid(&self) -> bool {
        self.status.1 == RunStatus::Invalid && self.status.0 != RunStatus::Invalid
    }

    /// Plain-text rendering; `old` and `new` label the two runs (e.g. their directories).
    pub fn render(&self, old: &str, new: &str) -> String {
        let mut out = format!(
            "impress compare: {} -> {}\nstatus: {} -> {}\n",
            clean(old),
            clean(new),
            status(self.status.0),
            status(self.status.1)
        );
        self.render_verdicts(&mut out);
        self.render_ops(&mut out);
        self.render_messages(&mut out);
        let checks = self.verdicts.iter().filter(|v| v.regression).count();
        let ops = self.ops.iter().filter(|o| o.regression).count();
        let invalid = if self.new_run_invalid() {
            ", new run invalid"
        } else {
            ""
        };
        let _ = match self.regressed() {
            true => {
                let msgs = match &self.messages {
                    Some(m) if m.regression => ", message losses",
                    _ => "",
                };
                writeln!(
                    out,
                    "\nresult: REGRESSED ({checks} checks, {ops} operations{msgs}{invalid})"
                )
            }
            false => writeln!(out, "\nresult: no regression"),
        };
        out
    }

    fn render_verdicts(&self, out: &mut String) {
        if self.verdicts.is_empty() {
            out.push_str("\nverdicts: unchanged\n");
            return;
        }
        let _ = writeln!(out, "\nverdict changes ({}):", self.verdicts.len());
        let width = self.verdicts.iter().map(|v| v.id.len()).max().unwrap_or(0);
        for v in &self.verdicts {
            let tag = match (v.regression, v.old.is_some_and(Outcome::fails)) {
                (true, _) => "REGRESSED",
                (false, true) if !v.new.is_some_and(Outcome::fails) => "FIXED",
                _ => "CHANGED",
            };
            let side = |o: Option<Outcome>| o.map_or("absent".to_string(), Outcome::label);
            let _ = writeln!(
                out,
                "  {tag:<9}  {:<width$}  {} -> {}",
                clean(&v.id),
                side(v.old),
                side(v.new)
            );
        }
    }

    fn render_ops(&self, out: &mut String) {
        if self.ops.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\nresponse time, ms (regression: p99 over +{}% and over +{} ms):",
            self.threshold_pct,
            ms(NOISE_FLOOR_US)
        );
        let _ = writeln!(
            out,
            "{:<10} {:>26} {:>26} {:>26}",
            "op", "p50 old -> new", "p90 old -> new", "p99 old -> new"
        );
        for c in &self.ops {
            let cell = |o: u64, n: u64| format!("{} -> {} ({})", ms(o), ms(n), pct(o, n));
            let mark = if c.regression { "  REGRESSED" } else { "" };
            let _ = writeln!(
                out,
                "{:<10} {:>26} {:>26} {:>26}{mark}",
                clean(&c.op),
                cell(c.old.p50_us, c.new.p50_us),
                cell(c.old.p90_us, c.new.p90_us),
                cell(c.old.p99_us, c.new.p99_us)
            );
        }
    }
}

impl Comparison {
    fn render_messages(&self, out: &mut String) {
        let Some(m) = &self.messages else {
            return;
        };
        let mark = if m.regression { "  REGRESSED" } else { "" };
        let row = |r: &AccountRow| {
            format!(
                "sent {} lost {} duplicated {} reordered {}",
                r.sent, r.lost, r.duplicated, r.reordered
            )
        };
        let _ = writeln!(out, "\nmessages: {} -> {}{mark}", row(&m.old), row(&m.new));
    }
}

fn status(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Passed => "passed",
        RunStatus::Failed => "failed",
        RunStatus::Invalid => "invalid",
    }
}

/// Relative change, e.g. `+12.5%`; `n/a` from zero.
fn pct(old: u64, new: u64) -> String {
    if old == 0 {
        return "n/a".to_string();
    }
    format!("{:+.1}%", (new as f64 - old as f64) / old as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::super::json::fixture;
    use super::*;

    fn with_p99(mut r: RunReport, op: &str, p99_us: u64) -> RunReport {
        if let Some(s) = r.ops.get_mut(op) {
            s.p99_us = p99_us;
        }
        r
    }

    #[test]
    fn identical_runs_do_not_regress() {
        let r = fixture::report();
        let c = compare(&r, &r, DEFAULT_THRESHOLD_PCT);
        assert!(c.verdicts.is_empty());
        assert_eq!(c.ops.len(), 3);
        assert!(!c.regressed());
        assert!(c.render("a", "b").contains("result: no regression"));
    }

    #[test]
    fn p99_over_threshold_regresses_and_under_does_not() {
        let base = with_p99(fixture::report(), "login", 100_000);
        let plus50 = with_p99(fixture::report(), "login", 150_000);
        let plus5 = with_p99(fixture::report(), "login", 105_000);
        let c = compare(&base, &plus50, 10.0);
        assert!(c.regressed());
        assert!(c.ops.iter().any(|o| o.op == "login" && o.regression));
        let text = c.render("old", "new");
        assert!(
            text.contains("+50.0%") && text.contains("REGRESSED"),
            "{text}"
        );
        assert!(!compare(&base, &plus5, 10.0).regressed());
        // A faster run is never a regression, and a looser threshold accepts +50%.
        assert!(!compare(&plus50, &base, 10.0).regressed());
        assert!(!compare(&base, &plus50, 60.0).regressed());
    }

    #[test]
    fn tiny_latencies_stay_under_the_noise_floor() {
        let base = with_p99(fixture::report(), "message", 200);
        let tripled = with_p99(fixture::report(), "message", 600);
        assert!(!compare(&base, &tripled, 10.0).regressed());
    }

    #[test]
    fn verdict_regressions_fixes_and_excused_failures() {
        let old = fixture::report();
        let mut new = fixture::report();
        // pass -> fail regresses; fail -> pass is a fix; an expected failure never regresses.
        new.verdicts[0].verdict = Verdict::Fail;
        new.verdicts[1].verdict = Verdict::Pass;
        new.verdicts[5].verdict = Verdict::Fail;
        new.verdicts[5].expected_failure = Some("known".into());
        let c = compare(&old, &new, 10.0);
        let by_id = |id: &str| c.verdicts.iter().find(|v| v.id == id).expect(id);
        assert!(by_id("xmpp/rfc6120/7.6.1-bind-full-jid").regression);
        assert!(!by_id("xmpp/rfc6120/8.2.3-iq-id").regression);
        assert!(!by_id("xmpp/xep0199/4.2-c2s-pong").regression);
        assert!(c.regressed());
        let text = c.render("old", "new");
        assert!(
            text.contains("REGRESSED  xmpp/rfc6120/7.6.1-bind-full-jid"),
            "{text}"
        );
        assert!(text.contains("FIXED"), "{text}");
        assert!(text.contains("fail (expected)"), "{text}");
    }

    #[test]
    fn an_invalid_new_run_regresses() {
        let old = fixture::report();
        let mut new = fixture::report();
        new.status = RunStatus::Invalid;
        assert!(compare(&old, &new, 10.0).regressed());
    }

    #[test]
    fn a_higher_loss_rate_regresses() {
        let base = fixture::report();
        let mut worse = fixture::report();
        worse.accounting.total.lost += 5;
        let c = compare(&base, &worse, DEFAULT_THRESHOLD_PCT);
        assert!(c.messages.as_ref().is_some_and(|m| m.regression));
        assert!(c.regressed());
        let text = c.render("old", "new");
        assert!(text.contains("message losses"), "{text}");
        let c = compare(&worse, &base, DEFAULT_THRESHOLD_PCT);
        assert!(!c.regressed(), "fewer losses are not a regression");
    }
}
