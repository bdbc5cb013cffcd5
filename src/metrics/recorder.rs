//! One operation's histograms: whole run plus closed intervals for the interval log.

use hdrhistogram::Histogram;
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
    closed: Vec<Interval>,
    errors: u64,
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
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
        }
    }

    /// Records a latency observed at `at` (relative to the run start).
    pub fn record(&mut self, at: Duration, latency: Duration) {
        self.roll_to(at);
        let us = (latency.as_micros() as u64).clamp(1, MAX_US);
        self.total.saturating_record(us);
        self.current.saturating_record(us);
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
        let full = std::mem::replace(&mut self.current, new_hist());
        if !full.is_empty() {
            self.closed.push(Interval {
                start: self.current_start,
                length: self.interval,
                hist: full,
            });
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
            let hist = std::mem::replace(&mut self.current, new_hist());
            self.closed.push(Interval {
                start: self.current_start,
                length,
                hist,
            });
        }
        std::mem::take(&mut self.closed)
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
}
