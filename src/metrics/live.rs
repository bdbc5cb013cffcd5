//! Live metrics: a snapshot of the run so far, published by the collector while the run is
//! in progress, and its rendering in the Prometheus text exposition format (version 0.0.4).

use super::OpSummary;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What the run has recorded so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Milliseconds since the run started.
    pub elapsed_ms: u64,
    /// Named counters (`messages_sent`, `errors`, ...).
    pub counters: BTreeMap<String, u64>,
    /// Gauges by name (`sessions_connected`).
    pub gauges: BTreeMap<&'static str, i64>,
    /// Response time per operation name.
    pub ops: BTreeMap<&'static str, OpSummary>,
    /// Checks per current (worst so far) verdict name.
    pub verdicts: BTreeMap<&'static str, u64>,
    /// 99th percentile response time (µs) per operation in its latest interval with data.
    pub recent_p99_us: BTreeMap<&'static str, u64>,
}

/// Renders a snapshot as Prometheus text: `impress_counter_total{name=…}`, one gauge
/// `impress_<gauge>` each, the `impress_op_latency_us` summary per operation (quantiles
/// 0.5, 0.9, 0.99, `_sum`, `_count`), `impress_op_errors_total{op=…}`,
/// `impress_checks{verdict=…}` and `impress_elapsed_seconds`.
pub fn render_prometheus(s: &Snapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "impress_elapsed_seconds",
        "gauge",
        "time since the run started",
    );
    let _ = writeln!(
        out,
        "impress_elapsed_seconds {}",
        s.elapsed_ms as f64 / 1000.0
    );
    family(
        &mut out,
        "impress_counter_total",
        "counter",
        "named counters of the run",
    );
    for (name, v) in &s.counters {
        let _ = writeln!(out, "impress_counter_total{{name=\"{}\"}} {v}", label(name));
    }
    for (name, v) in &s.gauges {
        let metric = format!("impress_{}", metric_name(name));
        family(&mut out, &metric, "gauge", "current value");
        let _ = writeln!(out, "{metric} {v}");
    }
    latency(&mut out, &s.ops);
    family(
        &mut out,
        "impress_checks",
        "gauge",
        "checks per worst verdict so far",
    );
    for (verdict, n) in &s.verdicts {
        let _ = writeln!(out, "impress_checks{{verdict=\"{}\"}} {n}", label(verdict));
    }
    out
}

fn latency(out: &mut String, ops: &BTreeMap<&'static str, OpSummary>) {
    let m = "impress_op_latency_us";
    family(
        out,
        m,
        "summary",
        "response time per operation, microseconds",
    );
    for (op, s) in ops {
        let op = label(op);
        for (q, v) in [("0.5", s.p50_us), ("0.9", s.p90_us), ("0.99", s.p99_us)] {
            let _ = writeln!(out, "{m}{{op=\"{op}\",quantile=\"{q}\"}} {v}");
        }
        // The histograms keep no exact sum; mean × count is within their precision.
        let _ = writeln!(out, "{m}_sum{{op=\"{op}\"}} {}", s.mean_us * s.count);
        let _ = writeln!(out, "{m}_count{{op=\"{op}\"}} {}", s.count);
    }
    let e = "impress_op_errors_total";
    family(out, e, "counter", "failed or timed-out operations");
    for (op, s) in ops {
        let _ = writeln!(out, "{e}{{op=\"{}\"}} {}", label(op), s.errors);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value as the exposition format requires.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Keeps only characters allowed in a metric name.
fn metric_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let mut s = Snapshot {
            elapsed_ms: 1500,
            ..Snapshot::default()
        };
        s.counters.insert("odd\"name\n".into(), 3);
        s.gauges.insert("sessions_connected", 8);
        s.ops.insert(
            "login",
            OpSummary {
                count: 8,
                p50_us: 100,
                p90_us: 200,
                p99_us: 300,
                mean_us: 120,
                ..OpSummary::default()
            },
        );
        s.verdicts.insert("pass", 5);
        let text = render_prometheus(&s);
        assert!(text.contains("impress_elapsed_seconds 1.5\n"));
        assert!(text.contains("impress_counter_total{name=\"odd\\\"name\\n\"} 3\n"));
        assert!(
            text.contains(
                "# TYPE impress_sessions_connected gauge\nimpress_sessions_connected 8\n"
            )
        );
        assert!(text.contains("impress_op_latency_us{op=\"login\",quantile=\"0.99\"} 300\n"));
        assert!(text.contains("impress_op_latency_us_count{op=\"login\"} 8\n"));
        assert!(text.contains("impress_op_latency_us_sum{op=\"login\"} 960\n"));
        assert!(text.contains("impress_checks{verdict=\"pass\"} 5\n"));
        assert!(text.lines().all(|l| !l.is_empty()));
    }
}
