//! What a report directory keeps besides `report.json` so that `impress merge` can add
//! reports without loss: `service.hlog`, the whole-run service-time histogram of every
//! operation (one tagged line each, tag = operation name), and `series.json`, the failed
//! operations and gauge peaks per interval. The response-time histograms are already in
//! the per-operation interval logs (`<op>.hlog`), whose sum is the whole-run histogram.

use super::{ReportError, RunOutput, write_atomic};
use crate::metrics::{Interval, Op, Series};
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// Whole-run service-time histograms, one tagged line per operation.
pub(crate) const SERVICE_LOG: &str = "service.hlog";

/// Per-interval failures and gauges.
pub(crate) const SERIES: &str = "series.json";

/// `series.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct SeriesFile {
    /// Interval length, ms.
    pub interval_ms: u64,
    /// Failed operations per interval.
    pub errors: Vec<u64>,
    /// Peak per interval, by gauge name.
    pub gauges: BTreeMap<String, Vec<i64>>,
}

impl SeriesFile {
    fn of(s: &Series) -> Self {
        Self {
            interval_ms: s.interval.as_millis() as u64,
            errors: s.errors.clone(),
            gauges: s
                .gauges
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        }
    }
}

/// One interval-log line read back.
#[derive(Debug)]
pub(crate) struct LogLine {
    pub tag: Option<String>,
    pub start: Duration,
    pub length: Duration,
    pub hist: Histogram<u64>,
}

/// Writes `service.hlog` and `series.json` into `dir`.
pub(crate) fn write(dir: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    let run = &out.report.run;
    let length = Duration::from_millis(run.duration_ms.max(1));
    let service = render_tagged(run.started_unix_ms, length, &out.service_totals);
    let series = serde_json::to_vec_pretty(&SeriesFile::of(&out.series)).unwrap_or_default();
    Ok(vec![
        write_atomic(&dir.join(SERVICE_LOG), &service)?,
        write_atomic(&dir.join(SERIES), &series)?,
    ])
}

/// An interval log with one whole-run histogram per operation, tagged with its name.
fn render_tagged(
    start_unix_ms: u64,
    length: Duration,
    hists: &BTreeMap<Op, Histogram<u64>>,
) -> Vec<u8> {
    let start = UNIX_EPOCH + Duration::from_millis(start_unix_ms);
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment("[impress whole-run service time per operation; tag = operation]")
        .add_comment("[Values in microseconds; Interval_Max in milliseconds]")
        .with_max_value_divisor(1000.0)
        .with_start_time(start)
        .with_base_time(start);
    let Ok(mut w) = builder.begin_log_with(&mut out, &mut serializer) else {
        return Vec::new();
    };
    for (op, h) in hists {
        // A histogram that cannot be serialized is noted rather than failing the report;
        // merging that report will then refuse it as incomplete.
        if w.write_histogram(h, Duration::ZERO, length, Tag::new(op.name()))
            .is_err()
        {
            let _ = w.write_comment(&format!("{} dropped: serialization failed", op.name()));
        }
    }
    out
}

/// Parses an interval log (`.hlog`) into its histograms.
pub(crate) fn parse_log(bytes: &[u8]) -> Result<Vec<LogLine>, String> {
    let mut lines = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        let LogEntry::Interval(ilh) = entry.map_err(|e| format!("bad line: {e:?}"))? else {
            continue;
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(ilh.encoded_histogram())
            .map_err(|e| format!("bad base64: {e}"))?;
        let hist: Histogram<u64> = Deserializer::new()
            .deserialize(&mut raw.as_slice())
            .map_err(|e| format!("bad histogram: {e:?}"))?;
        lines.push(LogLine {
            tag: ilh.tag().map(|t| t.as_str().to_string()),
            start: ilh.start_timestamp(),
            length: ilh.duration(),
            hist,
        });
    }
    Ok(lines)
}

/// The operation named `name` in reports and file names.
pub(crate) fn op_named(name: &str) -> Option<Op> {
    Op::ALL.into_iter().find(|o| o.name() == name)
}

/// What `impress merge` reads from one report directory besides `report.json`.
#[derive(Debug)]
pub(crate) struct Histograms {
    /// Response-time intervals per operation (from `<op>.hlog`).
    pub response: BTreeMap<Op, Vec<Interval>>,
    /// Whole-run service-time histogram per operation (from `service.hlog`).
    pub service: BTreeMap<Op, Histogram<u64>>,
    /// `series.json`.
    pub series: SeriesFile,
}

/// Reads the histogram logs and series of a report directory.
pub(crate) fn read(dir: &Path) -> Result<Histograms, ReportError> {
    let load = |name: &str| {
        let path = dir.join(name);
        let bytes = std::fs::read(&path);
        let fail = move |message: String| ReportError::Read {
            path: path.clone(),
            message,
        };
        let bytes = bytes.map_err(|e| {
            fail(format!(
                "{e} (reports written before `impress merge` existed cannot be merged)"
            ))
        })?;
        Ok::<_, ReportError>((bytes, fail))
    };
    let mut response = BTreeMap::new();
    for op in Op::ALL {
        if !dir.join(format!("{}.hlog", op.name())).is_file() {
            continue;
        }
        let (bytes, fail) = load(&format!("{}.hlog", op.name()))?;
        let lines = parse_log(&bytes).map_err(fail)?;
        let intervals = lines
            .into_iter()
            .map(|l| Interval {
                start: l.start,
                length: l.length,
                hist: l.hist,
            })
            .collect();
        response.insert(op, intervals);
    }
    let (bytes, fail) = load(SERVICE_LOG)?;
    let mut service = BTreeMap::new();
    for l in parse_log(&bytes).map_err(&fail)? {
        let op = l
            .tag
            .as_deref()
            .and_then(op_named)
            .ok_or_else(|| fail(format!("histogram tagged {:?} is no operation", l.tag)))?;
        service.insert(op, l.hist);
    }
    let (bytes, fail) = load(SERIES)?;
    let series = serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
    Ok(Histograms {
        response,
        service,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for &v in values {
            h.saturating_record(v);
        }
        h
    }

    #[test]
    fn tagged_service_log_reads_back_per_operation() {
        let hists: BTreeMap<Op, Histogram<u64>> = [
            (Op::Login, hist(&[1000, 2000, 3000])),
            (Op::Message, hist(&[5; 100])),
        ]
        .into();
        let log = render_tagged(1_700_000_000_000, Duration::from_secs(7), &hists);
        let lines = parse_log(&log).expect("parses");
        assert_eq!(lines.len(), 2);
        for l in &lines {
            let op = op_named(l.tag.as_deref().expect("tag")).expect("op");
            assert_eq!(l.hist, hists[&op]);
            assert_eq!(l.length, Duration::from_secs(7));
        }
    }
}
