//! Generator self-observation: how late the load generator starts what it scheduled
//! (scheduler lag), how many scheduled actions it dropped, and its own CPU time. A run
//! whose generator fell behind measured the generator, not the target, so the fleet ends it
//! as INVALID with the reason [`LagMonitor::verdict`] gives.
//!
//! Lag samples come from two places: every action of a load phase (actual start minus
//! intended start) and a ticker that wakes every few milliseconds for the whole run. The
//! ticker's samples are corrected for coordinated omission ([`backfill`]): a stall of
//! 2 s delays one wake-up, but 2 s worth of wake-ups should have happened.
//!
//! Every sample is reported; only those taken while a load phase runs ([`LagMonitor::arm`])
//! are judged. Outside load phases the generator does CPU-heavy work by design (TLS
//! handshakes, SCRAM's PBKDF2 during a login storm) and the checks judged there do not
//! depend on its timing.

use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Highest lag recorded: one hour, in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// Most back-filled samples per late tick (a stall of 100 s at a 10 ms tick).
pub const MAX_BACKFILL: usize = 10_000;

/// The quantile of the lag histogram judged against the limit.
pub const JUDGED_QUANTILE: f64 = 0.99;

/// The lateness of the wake-ups a late ticker missed: `lateness`, `lateness − period`,
/// `lateness − 2·period`, … while positive (what `record_correct` adds to a histogram),
/// at most [`MAX_BACKFILL`] of them. The first item is the late tick itself.
pub fn backfill(lateness: Duration, period: Duration) -> impl Iterator<Item = Duration> {
    let period = period.max(Duration::from_micros(1));
    let mut next = Some(lateness);
    std::iter::from_fn(move || {
        let cur = next?;
        next = cur.checked_sub(period).filter(|d| !d.is_zero());
        Some(cur)
    })
    .take(MAX_BACKFILL)
}

/// Lag and drop accounting shared by the ticker and every load-phase user.
#[derive(Debug)]
pub struct LagMonitor {
    hist: Mutex<Histogram<u64>>,
    armed: AtomicBool,
    scheduled: AtomicU64,
    dropped: AtomicU64,
    limit: Duration,
}

/// What the monitor saw, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagSummary {
    /// Lag samples judged (taken during load phases).
    pub samples: u64,
    /// Judged quantile of the judged samples.
    pub p99: Duration,
    /// Largest lag.
    pub max: Duration,
    /// Load-phase actions scheduled.
    pub scheduled: u64,
    /// Of those, dropped by the generator.
    pub dropped: u64,
}

impl LagMonitor {
    /// A monitor judging lag against `limit`.
    pub fn new(limit: Duration) -> Self {
        Self {
            hist: Mutex::new(
                Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds"),
            ),
            armed: AtomicBool::new(false),
            scheduled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            limit,
        }
    }

    /// The limit lag is judged against.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Starts (`true`) or stops judging the samples recorded from now on.
    pub fn arm(&self, on: bool) {
        self.armed.store(on, Ordering::Relaxed);
    }

    /// Records one lag sample (judged only while armed).
    pub fn record(&self, lag: Duration) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        let us = (lag.as_micros() as u64).clamp(1, MAX_US);
        if let Ok(mut h) = self.hist.lock() {
            h.saturating_record(us);
        }
    }

    /// Counts load-phase actions scheduled and, of those, dropped.
    pub fn count(&self, scheduled: u64, dropped: u64) {
        self.scheduled.fetch_add(scheduled, Ordering::Relaxed);
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
    }

    /// What was seen so far.
    pub fn summary(&self) -> LagSummary {
        let (samples, p99, max) = match self.hist.lock() {
            Ok(h) if !h.is_empty() => (h.len(), h.value_at_quantile(JUDGED_QUANTILE), h.max()),
            _ => (0, 0, 0),
        };
        LagSummary {
            samples,
            p99: Duration::from_micros(p99),
            max: Duration::from_micros(max),
            scheduled: self.scheduled.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// `Some(reason)` when the generator fell behind: its lag p99 exceeds the limit, or it
    /// dropped scheduled actions.
    pub fn verdict(&self) -> Option<String> {
        judge(&self.summary(), self.limit)
    }
}

/// The rule behind [`LagMonitor::verdict`].
pub fn judge(s: &LagSummary, limit: Duration) -> Option<String> {
    let mut why = Vec::new();
    if s.samples > 0 && s.p99 > limit {
        why.push(format!(
            "scheduler lag p99 {} > limit {} during load phases (max {}, {} samples)",
            show(s.p99),
            show(limit),
            show(s.max),
            s.samples
        ));
    }
    if s.dropped > 0 {
        why.push(format!(
            "{} of {} scheduled actions dropped (in-flight limit reached or not started before the phase ended)",
            s.dropped, s.scheduled
        ));
    }
    (!why.is_empty()).then(|| {
        format!(
            "generator fell behind: {}; the measurements describe the generator, not the target",
            why.join("; ")
        )
    })
}

/// A duration the way people read lag: `850µs`, `12.3ms`, `2.41s`.
fn show(d: Duration) -> String {
    let us = d.as_micros();
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// This process's CPU time (user + system) from `/proc/self/stat`; `None` where `/proc`
/// is missing.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = stat_cpu_ticks(&stat)?;
    let hz = clock_ticks_per_second().unwrap_or(100);
    Some(Duration::from_micros(
        ticks.saturating_mul(1_000_000) / hz.max(1),
    ))
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in clock ticks. The
/// command name (field 2) may hold spaces and parentheses, so fields are counted after the
/// last `)`.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// `AT_CLKTCK` from this process's auxiliary vector (what `sysconf(_SC_CLK_TCK)` returns),
/// read from `/proc/self/auxv` so no `unsafe` call is needed.
fn clock_ticks_per_second() -> Option<u64> {
    const AT_CLKTCK: u64 = 17;
    let bytes = std::fs::read("/proc/self/auxv").ok()?;
    auxv_value(&bytes, AT_CLKTCK)
}

/// The value of entry `key` in a native-endian auxiliary vector of word-sized pairs.
pub fn auxv_value(bytes: &[u8], key: u64) -> Option<u64> {
    const W: usize = size_of::<usize>();
    let word = |c: &[u8]| -> u64 {
        let mut b = [0u8; W];
        b.copy_from_slice(c);
        usize::from_ne_bytes(b) as u64
    };
    bytes
        .chunks_exact(2 * W)
        .map(|pair| (word(&pair[..W]), word(&pair[W..])))
        .take_while(|(k, _)| *k != 0)
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backfill_adds_the_missed_ticks() {
        let got: Vec<Duration> = backfill(ms(35), ms(10)).collect();
        assert_eq!(got, vec![ms(35), ms(25), ms(15), ms(5)]);
        assert_eq!(backfill(ms(3), ms(10)).count(), 1);
        assert_eq!(backfill(ms(20), ms(10)).count(), 2);
        assert_eq!(
            backfill(Duration::from_secs(3600), ms(1)).count(),
            MAX_BACKFILL
        );
    }

    #[test]
    fn the_verdict_names_lag_and_drops() {
        let m = LagMonitor::new(ms(100));
        m.record(Duration::from_secs(5));
        assert_eq!(m.verdict(), None, "not armed, not judged");
        m.arm(true);
        for _ in 0..1000 {
            m.record(ms(1));
        }
        m.count(1000, 0);
        assert_eq!(m.verdict(), None);
        for _ in 0..50 {
            m.record(Duration::from_secs(2));
        }
        let why = m.verdict().expect("invalid");
        assert!(
            why.starts_with("generator fell behind: scheduler lag p99 2."),
            "{why}"
        );
        assert!(why.contains("> limit 100.0ms"), "{why}");
        m.count(10, 7);
        let why = m.verdict().expect("invalid");
        assert!(why.contains("7 of 1010 scheduled actions dropped"), "{why}");
        let s = m.summary();
        assert_eq!((s.samples, s.scheduled, s.dropped), (1050, 1010, 7));
    }

    #[test]
    fn drops_alone_invalidate() {
        let s = LagSummary {
            samples: 10,
            p99: ms(1),
            max: ms(1),
            scheduled: 5,
            dropped: 1,
        };
        let why = judge(&s, ms(100)).expect("invalid");
        assert!(!why.contains("scheduler lag"), "{why}");
    }

    #[test]
    fn stat_fields_are_counted_after_the_command() {
        let line = "4242 (tricky ) name) S 1 2 3 4 5 6 7 8 9 10 250 70 0 0 20 0 8 0 100 0 0";
        assert_eq!(stat_cpu_ticks(line), Some(320));
        assert_eq!(stat_cpu_ticks("garbage"), None);
        assert_eq!(stat_cpu_ticks("1 (x) S 1"), None);
    }

    #[test]
    fn auxv_lookup_stops_at_the_end_marker() {
        let mut v = Vec::new();
        for (k, val) in [(6u64, 4096u64), (17, 100), (0, 0), (17, 7)] {
            v.extend_from_slice(&(k as usize).to_ne_bytes());
            v.extend_from_slice(&(val as usize).to_ne_bytes());
        }
        assert_eq!(auxv_value(&v, 17), Some(100));
        assert_eq!(auxv_value(&v, 33), None);
        assert_eq!(auxv_value(&v[..10], 17), None);
    }

    #[test]
    fn this_process_has_cpu_time() {
        // Linux-only: elsewhere there is no /proc and the monitor reports nothing.
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(process_cpu().is_some());
            assert!(clock_ticks_per_second().is_some_and(|hz| hz > 0));
        }
    }
}
