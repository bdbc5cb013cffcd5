//! Terminal summary: a plain-text digest of the run (status, latency table, verdict counts,
//! the checks that did not pass, counters, errors). No colour codes, and every control
//! character from server-provided text is shown escaped, so a hostile server cannot drive
//! the operator's terminal.

use super::model::{ErrorRecord, VerdictRecord};
use super::{RunReport, RunStatus};
use crate::checks::Verdict;
use crate::metrics::{Op, OpSummary};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Longest message shown per check; the full text is in `report.json`.
const MAX_MESSAGE_CHARS: usize = 200;

/// Errors listed before the rest are only counted.
const MAX_ERRORS_SHOWN: usize = 10;

/// Verdicts in the order the count line lists them.
const COUNT_ORDER: [Verdict; 7] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::Warn,
    Verdict::Error,
    Verdict::NotApplicable,
    Verdict::Impossible,
    Verdict::Inconclusive,
];

/// Renders the summary printed at the end of a run.
pub fn summary(r: &RunReport) -> String {
    let mut out = header(r);
    out.push('\n');
    ops_table(&mut out, &r.ops);
    verdict_counts(&mut out, &r.verdicts);
    non_passing(&mut out, &r.verdicts);
    super::accounting::terminal(&mut out, &r.accounting);
    super::recovery::terminal(&mut out, &r.recovery);
    super::calibration::terminal(&mut out, &r.calibration);
    counters(&mut out, &r.counters);
    errors(&mut out, &r.errors);
    out
}

fn header(r: &RunReport) -> String {
    let status = match r.status {
        RunStatus::Passed => "PASSED",
        RunStatus::Failed => "FAILED",
        RunStatus::Invalid => "INVALID",
    };
    let reason = r
        .status_reason
        .as_deref()
        .map(|s| format!(" ({})", clean(s)))
        .unwrap_or_default();
    let ms = r.run.duration_ms;
    format!(
        "impress: suite {} against {}: {status}{reason} - {} users, {} sessions, {}.{:03} s",
        clean(&r.run.suite),
        clean(&r.run.target),
        r.run.users,
        r.run.sessions,
        ms / 1000,
        ms % 1000
    )
}

/// Microseconds as milliseconds with 3 decimals below 10 ms, 2 below 100 ms, else 1:
/// about three significant figures, the precision the histograms keep.
pub(super) fn ms(us: u64) -> String {
    let decimals = match us {
        0..10_000 => 3,
        10_000..100_000 => 2,
        _ => 1,
    };
    format!("{:.*}", decimals, us as f64 / 1000.0)
}

/// Operations in report order ([`Op::ALL`]); names impress does not know sort last.
pub(super) fn op_rank(name: &str) -> usize {
    Op::ALL
        .iter()
        .position(|op| op.name() == name)
        .unwrap_or(Op::ALL.len())
}

fn ops_table(out: &mut String, ops: &BTreeMap<String, OpSummary>) {
    if ops.is_empty() {
        out.push_str("ops: none recorded\n\n");
        return;
    }
    let mut sorted: Vec<(&String, &OpSummary)> = ops.iter().collect();
    sorted.sort_by_key(|(name, _)| op_rank(name));
    let mut rows = vec![
        [
            "op", "count", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms",
        ]
        .map(String::from),
    ];
    for (name, s) in sorted {
        rows.push([
            clean(name),
            s.count.to_string(),
            s.errors.to_string(),
            ms(s.p50_us),
            ms(s.p90_us),
            ms(s.p99_us),
            ms(s.max_us),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        // The name column is left-aligned, numbers right-aligned so decimals line up.
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for (cell, w) in row.iter().zip(widths).skip(1) {
            let _ = write!(line, "  {cell:>w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
}

/// Whether a violation or error is listed in the target's expectation file; mirrors the
/// run status rule, so an expected failure never reads as a surprise.
fn is_expected(v: &VerdictRecord) -> bool {
    v.expected_failure.is_some()
        && matches!(v.verdict, Verdict::Fail | Verdict::Warn | Verdict::Error)
}

fn verdict_counts(out: &mut String, verdicts: &[VerdictRecord]) {
    let parts: Vec<String> = COUNT_ORDER
        .iter()
        .map(|&verdict| {
            let of_kind = verdicts.iter().filter(|v| v.verdict == verdict);
            let expected = of_kind.clone().filter(|v| is_expected(v)).count();
            let n = of_kind.count();
            match expected {
                0 => format!("{n} {}", verdict.as_str()),
                x => format!("{n} {} ({x} expected)", verdict.as_str()),
            }
        })
        .collect();
    let _ = writeln!(out, "checks: {}", parts.join(", "));
}

/// Listing order: actionable problems first, then expected failures, then checks that
/// could not be judged. `None` for checks not listed (pass, not-applicable).
fn listing_rank(v: &VerdictRecord) -> Option<u8> {
    if is_expected(v) {
        return Some(3);
    }
    match v.verdict {
        Verdict::Fail => Some(0),
        Verdict::Warn => Some(1),
        Verdict::Error => Some(2),
        Verdict::Impossible => Some(4),
        Verdict::Inconclusive => Some(5),
        Verdict::Pass | Verdict::NotApplicable => None,
    }
}

fn non_passing(out: &mut String, verdicts: &[VerdictRecord]) {
    let mut listed: Vec<(u8, &VerdictRecord)> = verdicts
        .iter()
        .filter_map(|v| listing_rank(v).map(|rank| (rank, v)))
        .collect();
    // Stable: catalogue order within a rank.
    listed.sort_by_key(|(rank, _)| *rank);
    let rows: Vec<[String; 4]> = listed
        .iter()
        .map(|(_, v)| {
            let label = if is_expected(v) {
                "XFAIL".to_string()
            } else {
                v.verdict.as_str().to_ascii_uppercase()
            };
            let mut message = clean(&truncate(&v.message));
            if let Some(reason) = v.expected_failure.as_deref().filter(|_| is_expected(v)) {
                let _ = write!(message, " (expected: {})", clean(&truncate(reason)));
            }
            [label, clean(&v.id), v.level.as_str().to_string(), message]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [label, id, level, message] in &rows {
        let _ = writeln!(out, "{label:<w0$}  {id:<w1$}  {level:<w2$}  {message}");
    }
}

fn counters(out: &mut String, counters: &BTreeMap<String, u64>) {
    if counters.is_empty() {
        return;
    }
    out.push_str("\ncounters:\n");
    let names: Vec<String> = counters.keys().map(|k| clean(k)).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for (name, value) in names.iter().zip(counters.values()) {
        let _ = writeln!(out, "  {name:<width$}  {value}");
    }
}

fn errors(out: &mut String, errors: &[ErrorRecord]) {
    if errors.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nerrors ({}):", errors.len());
    for e in errors.iter().take(MAX_ERRORS_SHOWN) {
        let _ = writeln!(
            out,
            "  {}: {}",
            clean(&e.subject),
            clean(&truncate(&e.message))
        );
    }
    if errors.len() > MAX_ERRORS_SHOWN {
        let more = errors.len() - MAX_ERRORS_SHOWN;
        let _ = writeln!(out, "  ... and {more} more in report.json");
    }
}

/// Cuts long server-provided text to [`MAX_MESSAGE_CHARS`] characters.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

/// Characters a terminal would act on rather than print: C0/C1 controls and DEL (escape
/// sequences, including the single-byte CSI U+009B), and bidirectional overrides, which can
/// make text display in a different order from the bytes.
fn dangerous(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Escapes dangerous characters as `\u{..}` so they are visible and inert.
pub(super) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if dangerous(c) {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::json::fixture;
    use super::*;

    #[test]
    fn contains_every_op_and_failing_id_and_no_escape_byte() {
        let r = fixture::report();
        let s = summary(&r);
        for op in r.ops.keys() {
            assert!(s.lines().any(|l| l.starts_with(op.as_str())), "{op}");
        }
        for v in r.verdicts.iter().filter(|v| v.verdict != Verdict::Pass) {
            if v.verdict != Verdict::NotApplicable {
                assert!(s.contains(&v.id), "{}", v.id);
            }
        }
        assert!(!s.contains('\u{1b}'));
        assert!(!s.chars().any(|c| c.is_control() && c != '\n'));
        assert!(s.contains("\\u{1b}[31mred"));
    }

    #[test]
    fn header_and_counts() {
        let s = summary(&fixture::report());
        let first = s.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "impress: suite smoke against managed:prosody: FAILED - 100 users, 200 sessions, 61.234 s"
        );
        assert!(s.contains(
            "checks: 1 pass, 2 fail (1 expected), 1 warn, 1 error, 1 not-applicable, 0 impossible, 0 inconclusive"
        ));
        assert!(s.contains("counters:\n  messages_lost  2\n  messages_sent  10000\n"));
        assert!(s.contains("errors (1):\n  user7/phone: connection reset"));
    }

    #[test]
    fn invalid_status_shows_its_reason() {
        let mut r = fixture::report();
        r.status = RunStatus::Invalid;
        r.status_reason = Some("target unreachable\u{1b}]0;pwned\u{7}".to_string());
        let first = summary(&r).lines().next().unwrap_or_default().to_string();
        assert!(first.contains(": INVALID (target unreachable\\u{1b}]0;pwned\\u{7}) - "));
    }

    #[test]
    fn ops_table_is_aligned_in_report_order() {
        let s = summary(&fixture::report());
        let table: Vec<&str> = s.lines().skip(1).take(4).collect();
        assert_eq!(
            table,
            [
                "op       count  errors  p50 ms  p90 ms  p99 ms   max ms",
                "login      200       3   12.35   24.69   61.73    246.9",
                "message  10000       0   0.850   1.700   4.250    17.00",
                "ping       400       1  1234.6  2469.1  6172.8  24691.3",
            ]
        );
    }

    #[test]
    fn non_passing_listing_order_and_xfail_marker() {
        let s = summary(&fixture::report());
        let labels: Vec<&str> = s
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| ["FAIL", "WARN", "ERROR", "XFAIL"].contains(w))
            .collect();
        assert_eq!(labels, ["FAIL", "WARN", "ERROR", "XFAIL"]);
        let xfail = s
            .lines()
            .find(|l| l.starts_with("XFAIL"))
            .unwrap_or_default();
        assert!(xfail.contains("xmpp/rfc6120/4.9-stream-error"));
        assert!(xfail.contains("(expected: prosody#1234 <known> ]]>)"));
        let fail = s
            .lines()
            .find(|l| l.starts_with("FAIL "))
            .unwrap_or_default();
        assert!(fail.starts_with("FAIL   xmpp/rfc6120/8.2.3-iq-id"));
    }

    #[test]
    fn helpers() {
        assert_eq!(ms(0), "0.000");
        assert_eq!(ms(9_999), "9.999");
        assert_eq!(ms(12_345), "12.35");
        assert_eq!(ms(123_456), "123.5");
        assert_eq!(clean("a\u{9b}b\u{202e}c\td"), "a\\u{9b}b\\u{202e}c\\u{9}d");
        assert_eq!(
            truncate(&"é".repeat(300)).chars().count(),
            MAX_MESSAGE_CHARS + 3
        );
    }

    #[test]
    fn empty_report_does_not_panic() {
        let mut r = fixture::report();
        r.ops.clear();
        r.verdicts.clear();
        r.counters.clear();
        r.errors.clear();
        let s = summary(&r);
        assert!(s.contains("ops: none recorded"));
        assert!(s.contains("checks: 0 pass, 0 fail"));
    }
}
