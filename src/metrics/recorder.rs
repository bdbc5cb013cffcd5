//! One operation's histograms: whole run plus closed intervals for the interval log.
//!
//! A histogram of this range and precision is a dense ~190 KB array whatever it holds, and
//! every operation closes one per interval: kept as such, a 1 s interval costs ~1 MB/s for a
//! handful of operations (gigabytes over a soak run). Closed intervals are therefore kept
//! in the compact V2 encoding (a few hundred bytes for a sparse interval) and decoded only
//! by [`OpRecorder::finish_intervals`].
//!
//! The histograms also grow with the largest value recorded (HdrHistogram's auto-resize)
//! instead of spanning 1 µs..1 h from the start: the bucket layout, hence every percentile,
//! depends only on the lowest value (1 µs) and the precision (3 significant figures), not
//! on the upper bound, so reported figures are the same while an operation whose latencies
//! stay below 100 ms holds ~57 KB per histogram instead of ~190 KB. Service time is kept
//! whole-run only ([`OpRecorder::whole_run`]): no report reads its intervals.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Highest latency recorded: one hour, in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// A closed interval of one operation's histogram.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Start of the interval, relative to the run start.
    pub start: Duration,
    /// Length of the interval.
    pub length: Duration,
    /// Latencies recorded in the interval (µs).
    pub hist: Histogram<u64>,
}

/// Percentile summary of one operation for reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OpSummary {
    /// Successful completions recorded.
    pub count: u64,
    /// Failed or timed-out attempts.
    pub errors: u64,
    /// Median (µs).
    pub p50_us: u64,
    /// 90th percentile (µs).
    pub p90_us: u64,
    /// 99th percentile (µs).
    pub p99_us: u64,
    /// Maximum (µs).
    pub max_us: u64,
    /// Mean (µs).
    pub mean_us: u64,
}

/// Whole-run and interval histograms of one operation.
#[derive(Debug)]
pub struct OpRecorder {
    total: Histogram<u64>,
    current: Histogram<u64>,
    current_start: Duration,
    interval: Duration,
    /// Closed intervals: start, length and the V2-encoded histogram.
    closed: Vec<(Duration, Duration, Vec<u8>)>,
    errors: u64,
    /// Whether intervals are kept at all.
    intervals: bool,
}

/// An empty histogram: 1 µs resolution, 3 significant figures, growing up to the largest
/// value recorded (at most [`MAX_US`], the clamp in [`OpRecorder::record`]).
fn new_hist() -> Histogram<u64> {
    Histogram::new(3).expect("static histogram precision is valid")
}

/// Records `us` (at most [`MAX_US`]), growing the histogram to it: `saturating_record`
/// would clamp to the current upper bound instead of growing.
fn put(h: &mut Histogram<u64>, us: u64) {
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// V2 encoding of a histogram (into a `Vec`, which cannot fail for a valid histogram).
fn encode(h: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if V2Serializer::new().serialize(h, &mut bytes).is_err() {
        bytes.clear();
    }
    bytes
}

/// The histogram [`encode`] wrote; an empty one if the bytes do not decode.
fn decode(bytes: &[u8]) -> Histogram<u64> {
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .unwrap_or_else(|_| new_hist())
}

impl OpRecorder {
    /// A recorder whose intervals are `interval` long.
    pub fn new(interval: Duration) -> Self {
        Self {
            total: new_hist(),
            current: new_hist(),
            current_start: Duration::ZERO,
            interval,
            closed: Vec::new(),
            errors: 0,
            intervals: true,
        }
    }

    /// A recorder of the whole-run histogram only: [`OpRecorder::finish_intervals`] and
    /// [`OpRecorder::recent_p99`] have nothing to show.
    pub fn whole_run(interval: Duration) -> Self {
        Self {
            intervals: false,
            ..Self::new(interval)
        }
    }

    /// Records a latency observed at `at` (relative to the run start).
    pub fn record(&mut self, at: Duration, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, MAX_US);
        put(&mut self.total, us);
        if self.intervals {
            self.roll_to(at);
            put(&mut self.current, us);
        }
    }

    /// Counts a failed attempt.
    pub fn error(&mut self) {
        self.errors += 1;
    }

    fn roll_to(&mut self, at: Duration) {
        while at >= self.current_start + self.interval {
            self.close_current();
        }
    }

    fn close_current(&mut self) {
        if !self.current.is_empty() {
            let bytes = encode(&self.current);
            self.closed.push((self.current_start, self.interval, bytes));
            self.current.reset();
        }
        self.current_start += self.interval;
    }

    /// Closes the open interval at `end` and returns every interval recorded.
    pub fn finish_intervals(&mut self, end: Duration) -> Vec<Interval> {
        self.roll_to(end);
        if !self.current.is_empty() {
            let length = end
                .saturating_sub(self.current_start)
                .max(Duration::from_millis(1));
            let bytes = encode(&self.current);
            self.closed.push((self.current_start, length, bytes));
            self.current.reset();
        }
        std::mem::take(&mut self.closed)
            .into_iter()
            .map(|(start, length, bytes)| Interval {
                start,
                length,
                hist: decode(&bytes),
            })
            .collect()
    }

    /// 99th percentile (µs) at `now` (relative to the run start) over the interval in
    /// progress, or the one just before it when the current one has no data yet; 0 when
    /// neither has any (an operation that stopped no longer shows). For the progress line.
    pub fn recent_p99(&self, now: Duration) -> u64 {
        let p99 = |h: &Histogram<u64>| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(0.99)
            }
        };
        // `current` only rolls over on a record, so it may already be in the past.
        if now < self.current_start + self.interval {
            if !self.current.is_empty() {
                return p99(&self.current);
            }
            let previous = self.current_start.saturating_sub(self.interval);
            return self
                .closed
                .last()
                .filter(|(start, _, _)| *start == previous && !self.current_start.is_zero())
                .map_or(0, |(_, _, bytes)| p99(&decode(bytes)));
        }
        if now < self.current_start + self.interval * 2 {
            return p99(&self.current);
        }
        0
    }

    /// The whole-run histogram.
    pub fn total(&self) -> &Histogram<u64> {
        &self.total
    }

    /// Percentiles of the whole run.
    pub fn summary(&self) -> OpSummary {
        let h = &self.total;
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        OpSummary {
            count: h.len(),
            errors: self.errors,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            max_us: if h.is_empty() { 0 } else { h.max() },
            mean_us: if h.is_empty() { 0 } else { h.mean() as u64 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_split_by_time_and_summary_counts_all() {
        let mut r = OpRecorder::new(Duration::from_secs(1));
        r.record(Duration::from_millis(100), Duration::from_millis(5));
        r.record(Duration::from_millis(2500), Duration::from_millis(7));
        r.error();
        let s = r.summary();
        assert_eq!((s.count, s.errors), (2, 1));
        let iv = r.finish_intervals(Duration::from_millis(2700));
        assert_eq!(iv.len(), 2);
        assert_eq!(iv[1].start, Duration::from_secs(2));
    }

    #[test]
    fn recent_p99_follows_the_latest_interval_and_forgets_stopped_operations() {
        let mut r = OpRecorder::new(Duration::from_secs(1));
        assert_eq!(r.recent_p99(Duration::from_millis(10)), 0);
        r.record(Duration::from_millis(100), Duration::from_micros(700));
        assert_eq!(r.recent_p99(Duration::from_millis(900)), 700);
        // Next interval, nothing recorded in it yet: the previous one still shows.
        assert_eq!(r.recent_p99(Duration::from_millis(1500)), 700);
        r.record(Duration::from_millis(1200), Duration::from_micros(90));
        assert_eq!(r.recent_p99(Duration::from_millis(1500)), 90);
        r.record(Duration::from_millis(2100), Duration::from_micros(5));
        assert_eq!(r.recent_p99(Duration::from_millis(2200)), 5);
        assert_eq!(r.recent_p99(Duration::from_millis(4500)), 0);
    }

    /// Growing histograms report what the 1 µs..1 h histograms reported, and merge into
    /// them (as `impress merge` does) without loss.
    #[test]
    fn growing_histograms_report_the_same_percentiles() {
        let mut r = OpRecorder::new(Duration::from_secs(1));
        let mut dense = Histogram::<u64>::new_with_bounds(1, MAX_US, 3).expect("bounds");
        for (i, us) in [3, 90, 1_234, 56_789, 250_000, 7_000_000, MAX_US]
            .into_iter()
            .enumerate()
        {
            r.record(
                Duration::from_millis(i as u64 * 300),
                Duration::from_micros(us),
            );
            dense.record(us).expect("in range");
        }
        let total = r.total();
        for q in [0.5, 0.9, 0.99, 1.0] {
            assert_eq!(total.value_at_quantile(q), dense.value_at_quantile(q));
        }
        assert_eq!((total.max(), total.mean()), (dense.max(), dense.mean()));
        let mut merged = Histogram::<u64>::new_with_bounds(1, MAX_US, 3).expect("bounds");
        merged.add(total).expect("fits");
        assert_eq!(merged, dense);
        let back = decode(&encode(total));
        assert_eq!(back.value_at_quantile(0.99), dense.value_at_quantile(0.99));
    }

    #[test]
    fn whole_run_recorders_keep_no_intervals() {
        let mut r = OpRecorder::whole_run(Duration::from_secs(1));
        r.record(Duration::from_millis(100), Duration::from_millis(5));
        r.record(Duration::from_millis(2500), Duration::from_millis(7));
        assert_eq!(r.summary().count, 2);
        assert_eq!(r.recent_p99(Duration::from_millis(2600)), 0);
        assert!(r.finish_intervals(Duration::from_secs(3)).is_empty());
    }

    #[test]
    fn closed_intervals_round_trip_through_their_compact_encoding() {
        let mut r = OpRecorder::new(Duration::from_secs(1));
        for (at_ms, us) in [(10, 1), (20, 250), (30, 3_600_000_000), (1500, 42)] {
            r.record(Duration::from_millis(at_ms), Duration::from_micros(us));
        }
        let iv = r.finish_intervals(Duration::from_millis(1600));
        assert_eq!(iv.len(), 2);
        let mut expected = new_hist();
        for us in [1, 250, 3_600_000_000] {
            expected.record(us).unwrap();
        }
        assert_eq!(iv[0].hist, expected);
        assert_eq!((iv[1].hist.len(), iv[1].hist.max()), (1, 42));
        assert_eq!(iv[1].length, Duration::from_millis(600));
    }
}
