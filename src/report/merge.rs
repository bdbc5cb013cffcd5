//! `impress merge`: adds the report directories of the N shards of one run
//! (`impress run --shard I/N`) into the report one generator would have written.
//! Nothing is averaged: HDR histograms are added (whole-run and per interval, aligned by
//! their absolute start time), counters, operation errors and message accounting are
//! summed, and every check's verdict is the worst any shard saw (its transcript kept) with
//! the instance tallies summed. Time series of failures add up exactly; gauges (e.g.
//! connected sessions) add their per-interval peaks, an upper bound of the combined peak
//! that is exact when the shards peak in the same interval, as they do when started
//! together with `--start-at`.

use super::merge_io::{self, Histograms, SeriesFile};
use super::model::{ErrorRecord, RunMeta, ShardMeta, TimelineEvent};
use super::{RunOutput, RunReport, RunStatus, SCHEMA_VERSION, VerdictRecord, read_report};
use crate::checks::Verdict;
use crate::error::Error;
use crate::metrics::accounting::Accounting;
use crate::metrics::{Interval, Op, OpSummary, Series};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors listed in a merged report at most (as in a run's).
const MAX_ERRORS: usize = 100;

/// One shard's report directory, read back.
pub(crate) struct Part {
    /// Where it was read from (for error messages).
    pub dir: PathBuf,
    /// `report.json`.
    pub report: RunReport,
    /// Histogram logs and series.
    pub hists: Histograms,
}

/// Reads every directory and merges them. Unreadable reports are read errors; reports that
/// do not belong to one sharded run are usage errors naming the directory and the field.
pub fn merge_dirs(dirs: &[PathBuf]) -> Result<RunOutput, Error> {
    if dirs.is_empty() {
        return Err(Error::Usage(
            "merge needs at least one report directory".into(),
        ));
    }
    let mut parts = Vec::with_capacity(dirs.len());
    for dir in dirs {
        parts.push(Part {
            dir: dir.clone(),
            report: read_report(dir)?,
            hists: merge_io::read(dir)?,
        });
    }
    check(&parts).map_err(Error::Usage)?;
    parts.sort_by_key(|p| p.report.run.shard.map_or(0, |s| s.index));
    merge(&parts).map_err(Error::Usage)
}

/// Refuses reports that are not the shards of one run: each must be a shard of the same
/// count, suite, seed and interval, no shard twice, none missing.
pub(crate) fn check(parts: &[Part]) -> Result<(), String> {
    let first = &parts[0];
    let shard_of = |p: &Part| {
        p.report.run.shard.ok_or_else(|| {
            format!(
                "{}: not a shard (the run had no --shard I/N); only the shards of one run can be merged",
                p.dir.display()
            )
        })
    };
    let count = shard_of(first)?.count;
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    for p in parts {
        let (a, b) = (&first.report.run, &p.report.run);
        let differs = |field: &str, x: String, y: String| {
            format!(
                "{} and {} are not shards of one run: `{field}` is {x} in the first and {y} in the second",
                first.dir.display(),
                p.dir.display()
            )
        };
        let s = shard_of(p)?;
        if s.count != count {
            return Err(differs(
                "shard count",
                count.to_string(),
                s.count.to_string(),
            ));
        }
        if a.suite != b.suite {
            return Err(differs(
                "suite",
                format!("{:?}", a.suite),
                format!("{:?}", b.suite),
            ));
        }
        if a.seed != b.seed {
            return Err(differs("seed", a.seed.to_string(), b.seed.to_string()));
        }
        if a.interval_ms != b.interval_ms {
            return Err(differs(
                "interval_ms",
                a.interval_ms.to_string(),
                b.interval_ms.to_string(),
            ));
        }
        if let Some(other) = seen.insert(s.index, &p.dir) {
            return Err(format!(
                "shard {}/{count} given twice: {} and {}",
                s.index,
                other.display(),
                p.dir.display()
            ));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "shards missing: {} (a merged report must hold every shard of the run)",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// Adds checked parts (sorted by shard) into one run's output.
pub(crate) fn merge(parts: &[Part]) -> Result<RunOutput, String> {
    let origin = parts
        .iter()
        .map(|p| p.report.run.started_unix_ms)
        .min()
        .unwrap_or(0);
    let end = parts
        .iter()
        .map(|p| p.report.run.started_unix_ms + p.report.run.duration_ms)
        .max()
        .unwrap_or(origin);
    let interval = match parts[0].report.run.interval_ms {
        0 => Duration::from_secs(1),
        ms => Duration::from_millis(ms),
    };
    let (intervals, totals, service_totals) = add_histograms(parts, origin, interval)?;
    let reports: Vec<&RunReport> = parts.iter().map(|p| &p.report).collect();
    let ops = summaries(&totals, &reports, |r| &r.ops);
    let service_ops = summaries(&service_totals, &reports, |r| &r.service_ops);
    let verdicts = join_verdicts(&reports);
    let (status, status_reason) = status(parts, &verdicts, &ops);
    let mut run = meta(parts, origin, end - origin);
    run.interval_ms = interval.as_millis() as u64;
    let mut accounting = Accounting::default();
    for r in &reports {
        accounting.merge(&r.accounting);
    }
    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        impress_version: env!("CARGO_PKG_VERSION").to_string(),
        status,
        status_reason,
        run,
        verdicts,
        ops,
        service_ops,
        counters: sum_counters(&reports),
        errors: errors(&reports),
        timeline: timeline(parts, origin),
        accounting,
        recovery: reports.iter().flat_map(|r| r.recovery.clone()).collect(),
        calibration: reports.iter().flat_map(|r| r.calibration.clone()).collect(),
    };
    let series = series(parts, origin, end - origin, interval);
    Ok(RunOutput {
        report,
        intervals,
        totals,
        service_totals,
        series,
    })
}

/// Merged histograms per operation.
type Hists = BTreeMap<Op, Histogram<u64>>;

/// Merged interval histograms per operation.
type Intervals = BTreeMap<Op, Vec<Interval>>;

/// Response-time intervals aligned on the merged origin, their whole-run sums, and the
/// whole-run service-time histograms.
fn add_histograms(
    parts: &[Part],
    origin: u64,
    interval: Duration,
) -> Result<(Intervals, Hists, Hists), String> {
    let offset = |p: &Part| Duration::from_millis(p.report.run.started_unix_ms - origin);
    let mut intervals: BTreeMap<Op, BTreeMap<u64, Interval>> = BTreeMap::new();
    let mut service_totals: BTreeMap<Op, Histogram<u64>> = BTreeMap::new();
    for p in parts {
        for (op, ivs) in &p.hists.response {
            for iv in ivs {
                add_interval(intervals.entry(*op).or_default(), iv, offset(p), interval)?;
            }
        }
        for (op, h) in &p.hists.service {
            add_hist(service_totals.entry(*op).or_insert_with(new_hist), h)?;
        }
    }
    let intervals: BTreeMap<Op, Vec<Interval>> = intervals
        .into_iter()
        .map(|(op, m)| (op, m.into_values().collect()))
        .collect();
    let mut totals = BTreeMap::new();
    for (op, ivs) in &intervals {
        let total = totals.entry(*op).or_insert_with(new_hist);
        for iv in ivs {
            add_hist(total, &iv.hist)?;
        }
    }
    Ok((intervals, totals, service_totals))
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

fn add_hist(into: &mut Histogram<u64>, h: &Histogram<u64>) -> Result<(), String> {
    into.add(h)
        .map_err(|e| format!("histograms cannot be added: {e:?}"))
}

/// Adds one shard interval (starting `offset` after the merged origin) into the merged
/// interval of the same absolute time.
fn add_interval(
    into: &mut BTreeMap<u64, Interval>,
    iv: &Interval,
    offset: Duration,
    interval: Duration,
) -> Result<(), String> {
    let at = offset + iv.start;
    let slot = (at.as_nanos() / interval.as_nanos().max(1)) as u64;
    let start = Duration::from_nanos((interval.as_nanos() as u64).saturating_mul(slot));
    let merged = into.entry(slot).or_insert_with(|| Interval {
        start,
        length: Duration::ZERO,
        hist: new_hist(),
    });
    // The last interval of a run is shorter: the merged one lasts until the latest end.
    merged.length = merged.length.max((at + iv.length).saturating_sub(start));
    add_hist(&mut merged.hist, &iv.hist)
}

/// Percentile summaries of the merged histograms; errors are the shards' sum. An
/// operation only ever failed (no histogram) still gets its row.
fn summaries(
    hists: &BTreeMap<Op, Histogram<u64>>,
    reports: &[&RunReport],
    pick: impl Fn(&RunReport) -> &BTreeMap<String, OpSummary>,
) -> BTreeMap<String, OpSummary> {
    let mut out: BTreeMap<String, OpSummary> = BTreeMap::new();
    for r in reports {
        for (name, s) in pick(r) {
            out.entry(name.clone()).or_default().errors += s.errors;
        }
    }
    for (op, h) in hists {
        let s = out.entry(op.name().to_string()).or_default();
        if h.is_empty() {
            continue;
        }
        s.count = h.len();
        s.p50_us = h.value_at_quantile(0.50);
        s.p90_us = h.value_at_quantile(0.90);
        s.p99_us = h.value_at_quantile(0.99);
        s.max_us = h.max();
        s.mean_us = h.mean() as u64;
    }
    out
}

/// One record per check, in the first report's order: the worst verdict any shard judged
/// (with its message, evidence and transcript), tallies summed. A shard that never judged
/// the check (empty tally, e.g. it had no user for that step) does not count.
pub(crate) fn join_verdicts(reports: &[&RunReport]) -> Vec<VerdictRecord> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Vec<&VerdictRecord>> = HashMap::new();
    for r in reports {
        for v in &r.verdicts {
            let entry = by_id.entry(v.id.clone()).or_default();
            if entry.is_empty() {
                order.push(v.id.clone());
            }
            entry.push(v);
        }
    }
    order
        .iter()
        .map(|id| {
            let recs = &by_id[id];
            let judged = recs.iter().filter(|v| !v.tally.is_empty());
            // On a tie an expected failure wins: the clause did fail somewhere.
            let worst = judged
                .max_by_key(|v| (v.verdict.severity(), v.expected_failure.is_some()))
                .unwrap_or(&recs[0]);
            let mut rec = (*worst).clone();
            rec.tally.clear();
            for v in recs {
                for (verdict, n) in &v.tally {
                    *rec.tally.entry(*verdict).or_default() += n;
                }
            }
            rec
        })
        .collect()
}

/// As a run decides: invalid if any shard was (reasons named by shard), failed if a check
/// failed unexpectedly or operations failed, else passed.
fn status(
    parts: &[Part],
    verdicts: &[VerdictRecord],
    ops: &BTreeMap<String, OpSummary>,
) -> (RunStatus, Option<String>) {
    let invalid: Vec<String> = parts
        .iter()
        .filter(|p| p.report.status == RunStatus::Invalid)
        .map(|p| {
            let s = p.report.run.shard.unwrap_or_default();
            let why = p.report.status_reason.as_deref().unwrap_or("invalid");
            format!("shard {}/{}: {why}", s.index, s.count)
        })
        .collect();
    if !invalid.is_empty() {
        return (RunStatus::Invalid, Some(invalid.join("; ")));
    }
    let failed = verdicts.iter().any(|v| {
        v.expected_failure.is_none() && matches!(v.verdict, Verdict::Fail | Verdict::Error)
    });
    let op_errors: u64 = ops.values().map(|s| s.errors).sum();
    match (failed, op_errors) {
        (true, _) => (RunStatus::Failed, None),
        (false, n) if n > 0 => (
            RunStatus::Failed,
            Some(format!("{n} operations failed (see errors)")),
        ),
        _ => (RunStatus::Passed, None),
    }
}

/// The first shard's metadata with the run's extent and size: users and sessions summed,
/// the shards listed, and machines named when they differ.
fn meta(parts: &[Part], origin: u64, duration_ms: u64) -> RunMeta {
    let mut m = parts[0].report.run.clone();
    m.started_unix_ms = origin;
    m.duration_ms = duration_ms;
    m.users = parts.iter().map(|p| p.report.run.users).sum();
    m.sessions = parts.iter().map(|p| p.report.run.sessions).sum();
    m.tls_verified = parts.iter().all(|p| p.report.run.tls_verified);
    m.shard = None;
    m.merged_from = parts
        .iter()
        .map(|p| p.report.run.shard.unwrap_or_default())
        .collect::<Vec<ShardMeta>>();
    let same_start = parts
        .iter()
        .all(|p| p.report.run.start_at_unix_ms == m.start_at_unix_ms);
    if !same_start {
        m.start_at_unix_ms = None;
    }
    let mut hosts: Vec<&str> = parts
        .iter()
        .map(|p| p.report.run.machine.hostname.as_str())
        .collect();
    hosts.dedup();
    if hosts.len() > 1 {
        m.machine.hostname = hosts.join(", ");
        m.machine.cpus = parts.iter().map(|p| p.report.run.machine.cpus).sum();
    }
    m
}

fn sum_counters(reports: &[&RunReport]) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for r in reports {
        for (k, v) in &r.counters {
            *out.entry(k.clone()).or_default() += v;
        }
    }
    out
}

fn errors(reports: &[&RunReport]) -> Vec<ErrorRecord> {
    reports
        .iter()
        .flat_map(|r| r.errors.iter().cloned())
        .take(MAX_ERRORS)
        .collect()
}

/// Every shard marks the same steps: the n-th mark of a label is kept once, at the
/// earliest time any shard made it (a shard that reached a step later is a shard that
/// waited at the barrier longer).
fn timeline(parts: &[Part], origin: u64) -> Vec<TimelineEvent> {
    let mut first: BTreeMap<(String, usize), u64> = BTreeMap::new();
    for p in parts {
        let shift = p.report.run.started_unix_ms - origin;
        let mut nth: HashMap<&str, usize> = HashMap::new();
        for e in &p.report.timeline {
            let k = nth.entry(e.label.as_str()).or_default();
            let at = e.at_ms + shift;
            let slot = first.entry((e.label.clone(), *k)).or_insert(at);
            *slot = (*slot).min(at);
            *k += 1;
        }
    }
    let mut out: Vec<TimelineEvent> = first
        .into_iter()
        .map(|((label, _), at_ms)| TimelineEvent { at_ms, label })
        .collect();
    out.sort_by_key(|e| e.at_ms);
    out
}

/// Failures per interval added; gauge peaks added per interval (see the module docs).
fn series(parts: &[Part], origin: u64, duration_ms: u64, interval: Duration) -> Series {
    let step = interval.as_millis().max(1) as u64;
    let len = (duration_ms / step + 1) as usize;
    let mut errors = vec![0u64; len];
    let mut gauges: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for p in parts {
        let SeriesFile {
            errors: e,
            gauges: g,
            ..
        } = &p.hists.series;
        let shift = ((p.report.run.started_unix_ms - origin) / step) as usize;
        for (i, n) in e.iter().enumerate() {
            if let Some(slot) = errors.get_mut(i + shift) {
                *slot += n;
            }
        }
        for (name, peaks) in g {
            let merged = gauges.entry(name.clone()).or_insert_with(|| vec![0; len]);
            for (i, v) in peaks.iter().enumerate() {
                if let Some(slot) = merged.get_mut(i + shift) {
                    *slot += v;
                }
            }
        }
    }
    Series {
        interval,
        errors,
        // Gauge names are few and static in a run; a merge is a short-lived process, so
        // leaking the handful read back is the simplest way to get `&'static str` keys.
        gauges: gauges
            .into_iter()
            .map(|(n, v)| (&*Box::leak(n.into_boxed_str()), v))
            .collect(),
    }
}

/// `impress merge`: merges `dirs` into `out`, prints the summary unless `quiet`, and
/// returns the exit code a run with this status would have.
pub fn run(dirs: &[PathBuf], out: &Path, quiet: bool) -> Result<i32, Error> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if let Some(d) = dirs.iter().find(|d| same(d, out)) {
        return Err(Error::Usage(format!(
            "--out {} is one of the shards being merged; write the merged report elsewhere",
            d.display()
        )));
    }
    let merged = merge_dirs(dirs)?;
    super::write_all(out, &merged)?;
    if !quiet {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{}", super::terminal_summary(&merged.report));
        let _ = writeln!(stdout, "report: {}", out.display());
    }
    Ok(match merged.report.status {
        RunStatus::Passed => crate::error::EXIT_OK,
        RunStatus::Failed => crate::error::EXIT_CHECKS_FAILED,
        RunStatus::Invalid => crate::error::EXIT_INVALID,
    })
}
