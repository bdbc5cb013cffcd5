//! Live progress on the terminal while a run goes on (indicatif): elapsed time, connected
//! sessions, actions per second, errors, the slowest operation's p99 in the latest interval
//! and the checks so far. Drawn on stderr only when stderr is a terminal and the run is not
//! `--quiet`, so CI logs and pipes stay clean; the line is cleared when the run ends, before
//! the summary is printed.

use crate::metrics::Snapshot;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the line is redrawn (and the window actions/s is computed over).
const REFRESH: Duration = Duration::from_secs(1);

/// The running progress line; [`finish`](Self::finish) clears it.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts drawing from the collector's live snapshots when stderr is a terminal and
    /// `quiet` is off; `None` otherwise.
    pub fn start(live: watch::Receiver<Arc<Snapshot>>, quiet: bool) -> Option<Self> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(ProgressStyle::with_template("{spinner} {wide_msg}").ok()?);
        let task = tokio::spawn(draw(bar.clone(), live));
        Some(Self { bar, task })
    }

    /// Stops drawing and clears the line.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

async fn draw(bar: ProgressBar, live: watch::Receiver<Arc<Snapshot>>) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut before: Option<Arc<Snapshot>> = None;
    loop {
        tick.tick().await;
        let now = live.borrow().clone();
        bar.set_message(line(before.as_deref(), &now));
        bar.tick();
        before = Some(now);
    }
}

/// Completed plus failed operations so far.
fn actions(s: &Snapshot) -> u64 {
    s.ops.values().map(|o| o.count + o.errors).sum()
}

/// The progress text for `now`, with rates over the time since `before`.
pub fn line(before: Option<&Snapshot>, now: &Snapshot) -> String {
    let rate = before
        .filter(|b| now.elapsed_ms > b.elapsed_ms)
        .map_or(0.0, |b| {
            let done = actions(now).saturating_sub(actions(b)) as f64;
            done * 1000.0 / (now.elapsed_ms - b.elapsed_ms) as f64
        });
    let connected = now.gauges.get("sessions_connected").copied().unwrap_or(0);
    let errors = now.counters.get("errors").copied().unwrap_or(0);
    let slowest = now
        .recent_p99_us
        .iter()
        .max_by_key(|(_, us)| **us)
        .filter(|(_, us)| **us > 0)
        .map_or_else(
            || "p99 -".to_string(),
            |(op, us)| format!("p99 {:.1} ms ({op})", *us as f64 / 1000.0),
        );
    let checks = now
        .verdicts
        .iter()
        .map(|(v, n)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let checks = if checks.is_empty() {
        "-".to_string()
    } else {
        checks
    };
    format!(
        "{:>6.1}s | {connected} connected | {rate:.0} actions/s | {errors} errors | checks: {checks} | {slowest}",
        now.elapsed_ms as f64 / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::OpSummary;

    fn snap(ms: u64, done: u64) -> Snapshot {
        let mut s = Snapshot {
            elapsed_ms: ms,
            ..Snapshot::default()
        };
        s.ops.insert(
            "chat",
            OpSummary {
                count: done,
                ..OpSummary::default()
            },
        );
        s
    }

    #[test]
    fn line_shows_rate_connections_errors_and_slowest_recent_p99() {
        let before = snap(1000, 100);
        let mut now = snap(3000, 500);
        now.gauges.insert("sessions_connected", 42);
        now.counters.insert("errors".into(), 3);
        now.recent_p99_us.insert("chat", 12_300);
        now.recent_p99_us.insert("login", 250_000);
        now.verdicts.insert("pass", 4);
        let text = line(Some(&before), &now);
        for part in [
            "3.0s",
            "42 connected",
            "200 actions/s",
            "3 errors",
            "p99 250.0 ms (login)",
            "checks: 4 pass",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
    }

    #[test]
    fn first_line_has_no_rate_and_no_latency_yet() {
        let text = line(None, &Snapshot::default());
        assert!(
            text.contains("0 actions/s") && text.contains("p99 -"),
            "{text}"
        );
    }

    #[test]
    fn not_drawn_when_quiet() {
        let (_tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        assert!(Progress::start(rx, true).is_none());
    }
}
