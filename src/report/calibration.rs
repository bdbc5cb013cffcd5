//! Login-rate calibration in the terminal summary and the HTML report: per
//! `calibrate-login` step, one row per offered rate (achieved rate, login p50/p99,
//! failures, dropped arrivals, pass), the knee rate and the suggested HA re-login profile.

use super::html::escape;
use super::model::{CalibrationReport, CalibrationStage};
use super::terminal::clean;
use std::fmt::Write as _;

const HEAD: [&str; 8] = [
    "offered/s",
    "achieved/s",
    "arrivals",
    "p50 ms",
    "p99 ms",
    "failed",
    "dropped",
    "pass",
];

fn cells(s: &CalibrationStage) -> [String; 8] {
    [
        format!("{}", s.offered_per_s),
        format!("{:.2}", s.achieved_per_s),
        s.arrivals.to_string(),
        format!("{:.1}", s.login_p50_ms),
        format!("{:.1}", s.login_p99_ms),
        s.failures.to_string(),
        s.dropped.to_string(),
        if s.passed { "yes" } else { "NO" }.into(),
    ]
}

/// The suggestion line shared by both renderings.
fn suggestion(c: &CalibrationReport) -> String {
    match &c.suggestion {
        Some(p) => format!(
            "knee {}/s → N = {}: lower {} s, upper {} s (upper = lower + N/R rounded half up = {} + {})",
            p.rate_per_second, p.users, p.lower_secs, p.upper_secs, p.lower_secs, p.spread_secs
        ),
        None => "no profile suggested (no stage passed)".into(),
    }
}

/// The terminal lines (nothing without calibration steps).
pub(super) fn terminal(out: &mut String, all: &[CalibrationReport]) {
    for c in all {
        let _ = writeln!(out, "\nlogin calibration (step {}):", clean(&c.step));
        let rows: Vec<[String; 8]> = c.stages.iter().map(cells).collect();
        let width = |i: usize| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([HEAD[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..HEAD.len()).map(width).collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            format!("  {}", padded.join("  "))
        };
        let _ = writeln!(out, "{}", line(HEAD.to_vec()));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
        }
        let _ = writeln!(out, "  {}", clean(&suggestion(c)));
        let _ = writeln!(out, "  {}", clean(&c.reason));
    }
}

/// The HTML section (only with calibration steps).
pub(super) fn html(h: &mut String, all: &[CalibrationReport]) {
    if all.is_empty() {
        return;
    }
    h.push_str("<section id=\"calibration\"><h2>Login calibration</h2>");
    for c in all {
        let _ = write!(
            h,
            "<h3>Step {}</h3><p>{} ms per stage; {}</p><table><thead><tr>",
            escape(&c.step),
            c.stage_ms,
            escape(&c.rule)
        );
        for name in HEAD {
            let _ = write!(h, "<th>{name}</th>");
        }
        h.push_str("</tr></thead><tbody>");
        for s in &c.stages {
            let class = if s.passed { "pass" } else { "fail" };
            let _ = write!(h, "<tr class=\"{class}\">");
            for v in cells(s) {
                let _ = write!(h, "<td>{}</td>", escape(&v));
            }
            h.push_str("</tr>");
        }
        let _ = write!(
            h,
            "</tbody></table><p><strong>{}</strong></p><p>{}</p>",
            escape(&suggestion(c)),
            escape(&c.reason)
        );
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::SuggestedProfile;

    fn report(suggested: bool) -> CalibrationReport {
        let stage = |offered: f64, passed: bool| CalibrationStage {
            offered_per_s: offered,
            achieved_per_s: offered,
            arrivals: 20,
            logins: 20,
            login_p50_ms: 4.0,
            login_p99_ms: 9.5,
            passed,
            ..CalibrationStage::default()
        };
        CalibrationReport {
            step: "1 calibrate-login <x>".into(),
            stage_ms: 4000,
            rule: "rule".into(),
            stages: vec![stage(5.0, true), stage(10.0, suggested)],
            knee_rate_per_s: suggested.then_some(10.0),
            suggestion: suggested.then_some(SuggestedProfile {
                users: 40,
                rate_per_second: 10.0,
                lower_secs: 120,
                upper_secs: 124,
                spread_secs: 4,
            }),
            reason: "why".into(),
        }
    }

    #[test]
    fn both_renderings_show_rows_and_the_profile() {
        let mut t = String::new();
        terminal(&mut t, &[report(true)]);
        assert!(t.contains("offered/s") && t.contains("9.5"), "{t}");
        assert!(t.contains("lower 120 s, upper 124 s"), "{t}");
        let mut h = String::new();
        html(&mut h, &[report(true)]);
        assert!(h.contains("<td>10</td>") && h.contains("&lt;x&gt;"), "{h}");
        assert!(h.contains("upper 124 s"), "{h}");
    }

    #[test]
    fn no_suggestion_is_said() {
        let mut t = String::new();
        terminal(&mut t, &[report(false)]);
        assert!(t.contains("no profile suggested"), "{t}");
        let mut h = String::new();
        html(&mut h, &[]);
        assert!(h.is_empty());
    }
}
