//! Failover recovery in the terminal summary and the HTML report: one block per
//! `chat-through` step with its verdict, the times (detection, outage, time until 100 %
//! are back, presence re-convergence), re-login rates, resumptions, where users ended up
//! and the messages sent during the outage; across deployments, what the failed users'
//! remote watchers saw.

use super::html::escape;
use super::terminal::clean;
use crate::metrics::recovery::{MsStats, RecoveryReport, RecoveryVerdict};
use std::fmt::Write as _;

fn stats(s: &MsStats) -> String {
    if s.count == 0 {
        return "none".into();
    }
    format!(
        "n {}  min {}  p50 {}  p95 {}  max {} ms",
        s.count, s.min_ms, s.p50_ms, s.p95_ms, s.max_ms
    )
}

fn rate(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}/s"))
}

/// The lines of one step, as (label, value) pairs shared by both renderings.
fn lines(r: &RecoveryReport) -> Vec<(&'static str, String)> {
    let detect = format!(
        "{}  (bound {} ms = ping_interval + ping_timeout: {})",
        stats(&r.detection),
        r.detection_bound_ms,
        if r.detected_within_bound {
            "within"
        } else {
            "EXCEEDED"
        }
    );
    let users = format!(
        "{} in the step, {} lost their connection, {} back ({} by resumption)",
        r.users, r.disconnected, r.recovered, r.resumed
    );
    let all_back = r
        .time_to_all_back_ms
        .map_or("never".into(), |t| format!("{t} ms after the fault"));
    let mut out = vec![
        (
            "fault",
            r.fault.clone().unwrap_or_else(|| "none seen".into()),
        ),
        ("users", users),
        ("detection", detect),
        ("outage", stats(&r.outage)),
        ("all back", all_back),
        ("bound", r.bound_formula.clone()),
        ("re-login", relogin(r)),
        (
            "resumption",
            format!(
                "{} of {} attempts succeeded",
                r.resume_successes, r.resume_attempts
            ),
        ),
        (
            "presence",
            format!(
                "{} of {} users that logged in again seen available by their partner; {}",
                r.presence_converged,
                r.recovered - r.resumed,
                stats(&r.presence)
            ),
        ),
        ("messages", messages(r)),
        ("nodes after", format!("{:?} users per node", r.nodes_after)),
    ];
    if let Some(w) = &r.remote {
        out.extend(remote(w));
    }
    out
}

/// The remote-watcher lines (intercluster): presence seen from the other deployment and
/// the messages that crossed deployments during the outage.
fn remote(w: &crate::metrics::remote_watch::RemoteWatch) -> [(&'static str, String); 3] {
    let (m, t) = (&w.messages_during_outage, &w.messages_total);
    [
        (
            "remote view",
            format!(
                "{} watched users lost their connection; remote watchers saw {} unavailable \
                 (flap {}) and {} available again",
                w.watched_disconnected,
                w.seen_unavailable,
                stats(&w.flap),
                w.seen_available_again
            ),
        ),
        (
            "remote avail",
            format!(
                "fault -> remote watcher sees the user available: {}",
                stats(&w.presence_outage)
            ),
        ),
        (
            "remote msgs",
            format!(
                "across deployments during the outage: sent {} delivered {} duplicated {} \
                 lost {}; whole step: sent {} delivered {} lost {}",
                m.sent, m.delivered, m.duplicated, m.lost, t.sent, t.delivered, t.lost
            ),
        ),
    ]
}

fn relogin(r: &RecoveryReport) -> String {
    format!(
        "wait Uniform[{}, {}] ms ({}); {} of {} attempts succeeded; arrival rate {} observed vs {} expected",
        r.lower_ms,
        r.upper_ms,
        r.backoff,
        r.relogins,
        r.relogin_attempts,
        rate(r.observed_rate_per_s),
        rate(r.expected_rate_per_s)
    )
}

fn messages(r: &RecoveryReport) -> String {
    let (m, t) = (&r.messages_during_outage, &r.messages_total);
    format!(
        "during the outage: sent {} delivered {} duplicated {} lost {}; whole step: sent {} delivered {} lost {}",
        m.sent, m.delivered, m.duplicated, m.lost, t.sent, t.delivered, t.lost
    )
}

fn verdict(r: &RecoveryReport) -> &'static str {
    match r.verdict {
        RecoveryVerdict::Pass => "PASS",
        RecoveryVerdict::Fail => "FAIL",
    }
}

/// The terminal lines (nothing without failover steps).
pub(super) fn terminal(out: &mut String, all: &[RecoveryReport]) {
    for r in all {
        let _ = writeln!(
            out,
            "\nrecovery (step {}): {} — {}",
            clean(&r.step),
            verdict(r),
            clean(&r.reason)
        );
        for (k, v) in lines(r) {
            let _ = writeln!(out, "  {k:<12} {}", clean(&v));
        }
        if !r.lost_ids.is_empty() {
            let ids: Vec<String> = r.lost_ids.iter().take(10).map(|i| clean(i)).collect();
            let _ = writeln!(out, "  {:<12} {}", "lost ids", ids.join(", "));
        }
    }
}

/// The HTML section (only with failover steps).
pub(super) fn html(h: &mut String, all: &[RecoveryReport]) {
    if all.is_empty() {
        return;
    }
    h.push_str("<section id=\"recovery\"><h2>Failover recovery</h2>");
    for r in all {
        let class = match r.verdict {
            RecoveryVerdict::Pass => "pass",
            RecoveryVerdict::Fail => "fail",
        };
        let _ = write!(
            h,
            "<h3>Step {} <span class=\"{class}\">{}</span></h3><p>{}</p><table><tbody>",
            escape(&r.step),
            verdict(r),
            escape(&r.reason)
        );
        for (k, v) in lines(r) {
            let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
        }
        h.push_str("</tbody></table>");
        if !r.lost_ids.is_empty() {
            let ids: Vec<String> = r.lost_ids.iter().map(|i| escape(i)).collect();
            let _ = write!(
                h,
                "<p>lost during the outage: <code>{}</code></p>",
                ids.join(" ")
            );
        }
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recovery::{StepFacts, UserRecovery, summarize};
    use std::time::{Duration, Instant};

    fn report() -> RecoveryReport {
        let now = Instant::now();
        let facts = StepFacts {
            step: "4 chat-through<script>".into(),
            fault: Some(("kill node0".into(), now)),
            detection_bound: Duration::from_secs(3),
            resume_budget: Duration::ZERO,
            lower: Duration::from_secs(1),
            upper: Duration::from_secs(3),
            backoff: "suite".into(),
            slack: Duration::from_secs(2),
            nodes: 2,
        };
        let user = UserRecovery {
            label: "user1/\u{1b}[31m".into(),
            lost_at: Some(now + Duration::from_millis(5)),
            node_after: 1,
            ..UserRecovery::default()
        };
        summarize(&facts, &[user], &[])
    }

    #[test]
    fn terminal_says_fail_and_never() {
        let mut out = String::new();
        terminal(&mut out, &[report()]);
        assert!(out.contains("FAIL — 1 of 1 users"), "{out}");
        assert!(out.contains("all back     never"), "{out}");
        assert!(out.contains("nodes after  [0, 1] users per node"), "{out}");
        assert!(!out.contains("remote"), "{out}");
        let mut r = report();
        r.remote = Some(Default::default());
        let mut out = String::new();
        terminal(&mut out, &[r]);
        assert!(out.contains("remote avail"), "{out}");
    }

    #[test]
    fn html_escapes_and_is_absent_without_steps() {
        let mut h = String::new();
        html(&mut h, &[report()]);
        assert!(
            h.contains("Failover recovery") && !h.contains("<script>"),
            "{h}"
        );
        let mut none = String::new();
        html(&mut none, &[]);
        assert!(none.is_empty());
    }
}
