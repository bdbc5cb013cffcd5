//! The charts of `report.html`, built from the collector's histograms and series: the
//! latency percentile distribution per operation (HdrHistogram style, percentile axis
//! log-scaled as 1/(1-p)) and time series per interval (throughput, p50/p99, failed
//! operations, connected sessions) with the timeline's marks.

use super::RunOutput;
use super::svg::{Axis, Chart, Line, Scale};
use crate::metrics::{Interval, Op};
use hdrhistogram::Histogram;
use std::time::Duration;

/// One colour per operation, in [`Op::ALL`] order, readable on white.
const PALETTE: [&str; 9] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f",
];

/// Points per decade of the percentile axis.
const STEPS_PER_DECADE: u32 = 10;

/// The percentile axis ends at 99.999% (x = 10^5).
const DECADES: u32 = 5;

/// The colour of an operation's lines.
pub(super) fn color(op: Op) -> &'static str {
    let i = Op::ALL.iter().position(|o| *o == op).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

/// Latency (ms) at percentiles from 0 to 99.999%, as (1/(1-p), ms) points.
pub(super) fn distribution(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=STEPS_PER_DECADE * DECADES)
        .map(|k| {
            let x = 10f64.powf(f64::from(k) / f64::from(STEPS_PER_DECADE));
            let q = (1.0 - 1.0 / x).clamp(0.0, 1.0);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// The percentile distribution of one operation: response time, and service time dashed.
pub(super) fn percentile_chart(op: Op, out: &RunOutput) -> Chart {
    let ticks = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(k, l)| (10f64.powi(k as i32), (*l).to_string()))
        .collect();
    let mut lines = Vec::new();
    for (name, hists, dashed) in [
        ("response time", &out.totals, false),
        ("service time", &out.service_totals, true),
    ] {
        if let Some(h) = hists.get(&op) {
            lines.push(Line {
                name: name.to_string(),
                color: color(op),
                dashed,
                points: distribution(h),
            });
        }
    }
    Chart {
        title: format!("{}: latency by percentile", op.name()),
        x: Axis {
            label: "percentile (log scale of 1/(1-p))".to_string(),
            scale: Scale::Log10,
            range: Some((1.0, 10f64.powi(DECADES as i32))),
            ticks: Some(ticks),
        },
        y: Axis::linear("latency (ms)"),
        lines,
        marks: Vec::new(),
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn time_axis(out: &RunOutput) -> Axis {
    let end = (out.report.run.duration_ms as f64 / 1000.0).max(0.001);
    Axis {
        label: "time since start (s)".to_string(),
        scale: Scale::Linear,
        range: Some((0.0, end)),
        ticks: None,
    }
}

fn marks(out: &RunOutput) -> Vec<(f64, String)> {
    out.report
        .timeline
        .iter()
        .map(|e| (e.at_ms as f64 / 1000.0, e.label.clone()))
        .collect()
}

fn mid(i: &Interval) -> f64 {
    secs(i.start) + secs(i.length) / 2.0
}

/// Middle of slot `k` of length `step`, the last slot ending at the run's end.
fn slot_mid(out: &RunOutput, k: usize) -> f64 {
    let step = secs(out.series.interval);
    let end = (out.report.run.duration_ms as f64 / 1000.0).max(0.0);
    let start = step * k as f64;
    (start + (start + step).min(end).max(start)) / 2.0
}

/// p50 and p99 per interval of one operation.
pub(super) fn latency_over_time(op: Op, out: &RunOutput) -> Chart {
    let empty = Vec::new();
    let intervals = out.intervals.get(&op).unwrap_or(&empty);
    let at = |q: f64| {
        intervals
            .iter()
            .map(|i| (mid(i), i.hist.value_at_quantile(q) as f64 / 1000.0))
            .collect()
    };
    Chart {
        title: format!("{}: latency per interval", op.name()),
        x: time_axis(out),
        y: Axis::linear("latency (ms)"),
        lines: vec![
            Line {
                name: "p50".to_string(),
                color: color(op),
                dashed: true,
                points: at(0.5),
            },
            Line {
                name: "p99".to_string(),
                color: color(op),
                dashed: false,
                points: at(0.99),
            },
        ],
        marks: marks(out),
    }
}

/// Completions per second of every operation, one point per interval (0 where an
/// interval completed nothing).
pub(super) fn throughput_chart(out: &RunOutput) -> Chart {
    let step = out.series.interval.max(Duration::from_millis(1));
    let end = Duration::from_millis(out.report.run.duration_ms);
    let slots = end.as_nanos().div_ceil(step.as_nanos()).max(1) as usize;
    let lines = out
        .intervals
        .iter()
        .map(|(op, intervals)| {
            let mut points: Vec<(f64, f64)> = (0..slots).map(|k| (slot_mid(out, k), 0.0)).collect();
            for i in intervals {
                let k = (i.start.as_nanos() / step.as_nanos()) as usize;
                if let Some(p) = points.get_mut(k) {
                    *p = (mid(i), i.hist.len() as f64 / secs(i.length).max(0.001));
                }
            }
            Line {
                name: op.name().to_string(),
                color: color(*op),
                dashed: false,
                points,
            }
        })
        .collect();
    Chart {
        title: "throughput".to_string(),
        x: time_axis(out),
        y: Axis::linear("completed per second"),
        lines,
        marks: marks(out),
    }
}

fn per_interval(out: &RunOutput, values: &[f64]) -> Vec<(f64, f64)> {
    values
        .iter()
        .enumerate()
        .map(|(k, v)| (slot_mid(out, k), *v))
        .collect()
}

/// Failed or timed-out operations per interval.
pub(super) fn errors_chart(out: &RunOutput) -> Chart {
    let values: Vec<f64> = out.series.errors.iter().map(|v| *v as f64).collect();
    Chart {
        title: "failed operations".to_string(),
        x: time_axis(out),
        y: Axis::linear(format!(
            "per interval ({} s)",
            out.series.interval.as_secs_f64()
        )),
        lines: vec![Line {
            name: "failed or timed out".to_string(),
            color: "#d62728",
            dashed: false,
            points: per_interval(out, &values),
        }],
        marks: marks(out),
    }
}

/// Peak connected sessions per interval.
pub(super) fn sessions_chart(out: &RunOutput) -> Chart {
    let values: Vec<f64> = out
        .series
        .gauges
        .get("sessions_connected")
        .map(|v| v.iter().map(|n| *n as f64).collect())
        .unwrap_or_default();
    Chart {
        title: "connected sessions".to_string(),
        x: time_axis(out),
        y: Axis::linear("sessions (peak per interval)"),
        lines: vec![Line {
            name: "connected".to_string(),
            color: "#2ca02c",
            dashed: false,
            points: per_interval(out, &values),
        }],
        marks: marks(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_is_monotonic_and_ends_at_the_max() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for v in 1..=1000u64 {
            h.record(v * 100).expect("in range");
        }
        let d = distribution(&h);
        assert_eq!(d.len(), 51);
        assert!(d.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0));
        assert!((d[0].0 - 1.0).abs() < 1e-9);
        assert!((d[50].1 - h.max() as f64 / 1000.0).abs() < 0.1);
        assert!(distribution(&Histogram::<u64>::new(3).expect("hist")).is_empty());
    }
}
