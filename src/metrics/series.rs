//! Per-interval series besides latency, for the report's time-series plots: failed
//! operations per interval and gauges (e.g. connected sessions) at their peak per interval.

use std::collections::BTreeMap;
use std::time::Duration;

/// Intervals kept at most (a day of 1-second intervals); later events land in the last one,
/// so a runaway clock cannot make the collector allocate without bound.
const MAX_INTERVALS: usize = 86_400;

/// Closed per-interval series: index `i` covers `[i × interval, (i + 1) × interval)` after
/// the run start.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Length of each interval.
    pub interval: Duration,
    /// Failed or timed-out operations per interval (all operations together).
    pub errors: Vec<u64>,
    /// Peak value of each gauge per interval, by gauge name.
    pub gauges: BTreeMap<&'static str, Vec<i64>>,
}

#[derive(Debug, Default)]
struct Gauge {
    current: i64,
    peaks: Vec<i64>,
}

impl Gauge {
    /// Fills the intervals up to `idx` with the value the gauge held when they started.
    fn extend_to(&mut self, idx: usize) {
        while self.peaks.len() <= idx {
            self.peaks.push(self.current);
        }
    }
}

/// Folds failures and gauge moves into per-interval series.
#[derive(Debug)]
pub struct SeriesRecorder {
    interval: Duration,
    errors: Vec<u64>,
    gauges: BTreeMap<&'static str, Gauge>,
}

impl SeriesRecorder {
    /// A recorder whose intervals are `interval` long (at least 1 ms).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: interval.max(Duration::from_millis(1)),
            errors: Vec::new(),
            gauges: BTreeMap::new(),
        }
    }

    fn index(&self, at: Duration) -> usize {
        let i = at.as_nanos() / self.interval.as_nanos();
        usize::try_from(i)
            .unwrap_or(usize::MAX)
            .min(MAX_INTERVALS - 1)
    }

    /// Counts a failed operation at `at` (relative to the run start).
    pub fn error(&mut self, at: Duration) {
        let idx = self.index(at);
        if self.errors.len() <= idx {
            self.errors.resize(idx + 1, 0);
        }
        self.errors[idx] += 1;
    }

    /// Moves gauge `name` by `delta` at `at`.
    pub fn gauge(&mut self, name: &'static str, delta: i64, at: Duration) {
        let idx = self.index(at);
        let g = self.gauges.entry(name).or_default();
        g.extend_to(idx);
        g.current = g.current.saturating_add(delta);
        // Events from concurrent tasks may arrive slightly out of order: a late one counts
        // in the latest interval already open rather than rewriting the past.
        let last = g.peaks.len() - 1;
        g.peaks[last] = g.peaks[last].max(g.current);
    }

    /// The current value of gauge `name` (0 if it never moved).
    pub fn current(&self, name: &str) -> i64 {
        self.gauges.get(name).map_or(0, |g| g.current)
    }

    /// Every gauge's current value.
    pub fn currents(&self) -> BTreeMap<&'static str, i64> {
        self.gauges.iter().map(|(n, g)| (*n, g.current)).collect()
    }

    /// Closes the series at `end`: every series covers every interval up to it.
    pub fn finish(mut self, end: Duration) -> Series {
        let last = self.index(end);
        if self.errors.len() <= last {
            self.errors.resize(last + 1, 0);
        }
        for g in self.gauges.values_mut() {
            g.extend_to(last);
        }
        Series {
            interval: self.interval,
            errors: self.errors,
            gauges: self.gauges.into_iter().map(|(n, g)| (n, g.peaks)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn gauges_keep_the_peak_and_carry_forward() {
        let mut r = SeriesRecorder::new(ms(1000));
        r.gauge("s", 1, ms(100));
        r.gauge("s", 1, ms(200));
        r.gauge("s", -2, ms(2500));
        r.error(ms(1500));
        r.error(ms(1600));
        assert_eq!(r.current("s"), 0);
        let s = r.finish(ms(3100));
        assert_eq!(s.gauges["s"], vec![2, 2, 2, 0]);
        assert_eq!(s.errors, vec![0, 2, 0, 0]);
    }

    #[test]
    fn far_future_events_are_bounded() {
        let mut r = SeriesRecorder::new(ms(1));
        r.error(Duration::from_secs(1_000_000));
        let s = r.finish(Duration::from_secs(1_000_000));
        assert_eq!(s.errors.len(), MAX_INTERVALS);
    }
}
