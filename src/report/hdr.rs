//! HdrHistogram interval log (`.hlog`) writer: one log per operation, one line per closed
//! interval, each a V2 deflate-compressed, base64-encoded histogram of latencies in
//! microseconds. The format is the one HdrHistogram's `HistogramLogProcessor` and the
//! `hdrhistogram` crate's `IntervalLogIterator` read.

use crate::metrics::Interval;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, IntervalLogWriterError};
use std::time::{Duration, UNIX_EPOCH};

/// Header line naming the columns, as HdrHistogram's Java `HistogramLogWriter` writes it.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

/// Values are recorded in µs; dividing the max column by 1000 makes it read in ms, the unit
/// HdrHistogram's plotters assume by default.
const MAX_VALUE_DIVISOR: f64 = 1000.0;

/// Renders an interval log. `start_unix_ms` becomes both StartTime and BaseTime, so each
/// interval's timestamp is its offset (in seconds) from the start of the run.
///
/// An interval whose histogram cannot be serialized is replaced by a comment line saying
/// so rather than failing the whole log.
pub(crate) fn render_interval_log(start_unix_ms: u64, intervals: &[Interval]) -> Vec<u8> {
    let start = UNIX_EPOCH
        .checked_add(Duration::from_millis(start_unix_ms))
        .unwrap_or(UNIX_EPOCH);
    let mut out = Vec::new();
    // Header first, then the legend, then the histograms: the builder writes its headers
    // when the writer is created and offers no way to add a non-comment line, so the
    // legend goes between two writers over the same buffer.
    let headers = IntervalLogWriterBuilder::new()
        .add_comment(concat!(
            "[Logged with impress ",
            env!("CARGO_PKG_VERSION"),
            "]"
        ))
        .add_comment("[Histogram log format version 1.3]")
        .add_comment("[Values in microseconds; Interval_Max in milliseconds]")
        .with_start_time(start)
        .with_base_time(start)
        .begin_log_with(&mut out, &mut V2DeflateSerializer::new())
        .map(drop);
    if headers.is_err() {
        // Writing to a Vec cannot fail; an empty log is still a valid log.
        return Vec::new();
    }
    out.extend_from_slice(LEGEND.as_bytes());
    write_intervals(&mut out, intervals);
    out
}

fn write_intervals(out: &mut Vec<u8>, intervals: &[Interval]) {
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    let Ok(mut writer) = builder
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(out, &mut serializer)
    else {
        return;
    };
    for iv in intervals {
        match writer.write_histogram(&iv.hist, iv.start, iv.length, None) {
            Ok(()) => {}
            Err(IntervalLogWriterError::SerializeError(e)) => {
                let note = format!(
                    "interval at {:.3} s dropped: histogram serialization failed: {e}",
                    iv.start.as_secs_f64()
                );
                if writer.write_comment(&note).is_err() {
                    return;
                }
            }
            // A Vec sink does not fail; stop rather than write a torn line.
            Err(IntervalLogWriterError::IoError(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    const START_MS: u64 = 1_700_000_000_123;

    fn interval(start_s: u64, values_us: &[u64]) -> Interval {
        let mut hist = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for &v in values_us {
            hist.saturating_record(v);
        }
        Interval {
            start: Duration::from_secs(start_s),
            length: Duration::from_secs(1),
            hist,
        }
    }

    fn fixture() -> Vec<Interval> {
        vec![
            interval(0, &[850, 900, 12_345, 3_600_000_000]),
            interval(1, &[1; 1000]),
            interval(5, &[250_000, 1_234_567]),
        ]
    }

    #[test]
    fn parses_back_into_the_same_histograms() {
        let input = fixture();
        let log = render_interval_log(START_MS, &input);
        let mut decoded = Vec::new();
        let (mut start, mut base) = (None, None);
        for entry in IntervalLogIterator::new(&log) {
            match entry.expect("log parses") {
                LogEntry::StartTime(t) => start = Some(t),
                LogEntry::BaseTime(t) => base = Some(t),
                LogEntry::Interval(ilh) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(ilh.encoded_histogram())
                        .expect("base64");
                    let h: Histogram<u64> = Deserializer::new()
                        .deserialize(&mut bytes.as_slice())
                        .expect("V2 deflate histogram");
                    decoded.push((ilh.start_timestamp(), ilh.duration(), ilh.max(), h));
                }
            }
        }
        let expected_start = Some(Duration::from_millis(START_MS));
        assert_eq!(start, expected_start);
        assert_eq!(base, expected_start);
        assert_eq!(decoded.len(), input.len());
        for ((ts, len, max, h), iv) in decoded.iter().zip(&input) {
            assert_eq!(*ts, iv.start);
            assert_eq!(*len, iv.length);
            assert_eq!(h.len(), iv.hist.len());
            assert_eq!(h, &iv.hist);
            // The max column reads in milliseconds (to the log's 3 decimals).
            assert!((max - iv.hist.max() as f64 / 1000.0).abs() < 0.001);
        }
    }

    #[test]
    fn header_has_times_legend_and_deflate_payloads() {
        let log = String::from_utf8(render_interval_log(START_MS, &fixture())).expect("utf-8");
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines.contains(&"#[StartTime: 1700000000.123 (seconds since epoch)]"));
        assert!(lines.contains(&"#[BaseTime: 1700000000.123 (seconds since epoch)]"));
        assert!(lines.contains(&LEGEND.trim_end()));
        let data: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.starts_with(['#', '"']))
            .collect();
        assert_eq!(data.len(), 3);
        assert!(data[0].starts_with("0.000,1.000,"), "{}", data[0]);
        assert!(data[2].starts_with("5.000,1.000,"));
        // V2 compressed cookie 0x1c849304, base64-encoded: "HIST".
        assert!(
            data.iter()
                .all(|l| l.split(',').nth(3).is_some_and(|p| p.starts_with("HIST")))
        );
    }

    #[test]
    fn no_intervals_is_a_valid_empty_log() {
        let log = render_interval_log(0, &[]);
        let entries: Vec<_> = IntervalLogIterator::new(&log).collect();
        assert_eq!(entries.len(), 2, "StartTime and BaseTime only");
        assert!(entries.iter().all(Result::is_ok));
    }

    #[test]
    fn absurd_start_time_does_not_panic() {
        let log = render_interval_log(u64::MAX, &fixture());
        assert!(IntervalLogIterator::new(&log).all(|e| e.is_ok()));
    }
}
