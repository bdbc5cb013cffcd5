//! Unit tests of `impress merge` arithmetic: shards built in memory (and written to and
//! read back from disk), added, and compared with what one run would have recorded.

use super::json::fixture;
use super::merge::{Part, check, join_verdicts, merge, merge_dirs};
use super::merge_io::{Histograms, SeriesFile};
use super::model::ShardMeta;
use super::{RunOutput, RunReport, RunStatus, write_all};
use crate::checks::Verdict;
use crate::metrics::{Interval, Op, Series};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const START: u64 = 1_700_000_000_000;

fn hist(values: &[u64]) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
    for &v in values {
        h.saturating_record(v);
    }
    h
}

fn iv(start_s: u64, values: &[u64]) -> Interval {
    Interval {
        start: Duration::from_secs(start_s),
        length: Duration::from_secs(1),
        hist: hist(values),
    }
}

/// Shard `i` of `n`: messages of `base` µs in seconds 0 and 1, started `delay_ms` late.
fn part(i: usize, n: usize, base: u64, delay_ms: u64) -> Part {
    let mut report = fixture::report();
    report.run.shard = Some(ShardMeta { index: i, count: n });
    report.run.started_unix_ms = START + delay_ms;
    report.run.duration_ms = 2_000;
    report.run.interval_ms = 1_000;
    report.timeline = vec![
        super::model::TimelineEvent {
            at_ms: 10,
            label: "1 login".into(),
        },
        super::model::TimelineEvent {
            at_ms: 900,
            label: "2 message".into(),
        },
    ];
    let response = [(Op::Message, vec![iv(0, &[base; 10]), iv(1, &[base * 2; 5])])].into();
    let service = [(Op::Message, hist(&[base / 2; 15]))].into();
    let series = SeriesFile {
        interval_ms: 1_000,
        errors: vec![1, 0, 2],
        gauges: [("sessions".to_string(), vec![4, 4, 0])].into(),
    };
    Part {
        dir: PathBuf::from(format!("shard{i}")),
        report,
        hists: Histograms {
            response,
            service,
            series,
        },
    }
}

#[test]
fn check_refuses_what_is_not_one_sharded_run() {
    let err = |parts: &[Part]| check(parts).expect_err("refused");
    assert!(err(&[part(1, 2, 100, 0), part(1, 2, 100, 0)]).contains("shard 1/2 given twice"));
    assert!(err(&[part(1, 3, 100, 0), part(2, 3, 100, 0)]).contains("shards missing: 3/3"));
    assert!(err(&[part(1, 2, 100, 0), part(2, 3, 100, 0)]).contains("`shard count`"));
    let mut other_seed = part(2, 2, 100, 0);
    other_seed.report.run.seed = 7;
    assert!(err(&[part(1, 2, 100, 0), other_seed]).contains("`seed`"));
    let mut other_suite = part(2, 2, 100, 0);
    other_suite.report.run.suite = "other".into();
    assert!(err(&[part(1, 2, 100, 0), other_suite]).contains("`suite`"));
    let mut unsharded = part(2, 2, 100, 0);
    unsharded.report.run.shard = None;
    assert!(err(&[part(1, 2, 100, 0), unsharded]).contains("not a shard"));
    assert!(check(&[part(2, 2, 100, 0), part(1, 2, 100, 0)]).is_ok());
}

#[test]
fn histograms_counters_and_users_add_up() {
    let parts = [
        part(1, 3, 100, 0),
        part(2, 3, 1000, 0),
        part(3, 3, 10_000, 0),
    ];
    let out = merge(&parts).expect("merges");
    let r = &out.report;
    assert_eq!(r.run.users, 300);
    assert_eq!(r.run.sessions, 600);
    assert_eq!(r.run.shard, None);
    assert_eq!(r.run.merged_from.len(), 3);
    assert_eq!(r.counters["messages_sent"], 30_000);
    assert_eq!(r.counters["messages_lost"], 6);
    assert_eq!(r.accounting.total.sent, 3 * 10_000);
    // 15 recorded per shard; errors are the shards' sum.
    assert_eq!(r.ops["message"].count, 45);
    assert_eq!(r.ops["message"].errors, 0);
    assert_eq!(r.ops["login"].errors, 9);
    assert_eq!(r.service_ops["message"].count, 45);
    assert_eq!(out.totals[&Op::Message].len(), 45);
    // The whole-run histogram is exactly the union of the shards' values.
    let mut want = hist(&[]);
    for p in &parts {
        for i in &p.hists.response[&Op::Message] {
            want.add(&i.hist).expect("add");
        }
    }
    assert_eq!(out.totals[&Op::Message], want);
    assert_eq!(r.ops["message"].max_us, want.max());
    let ivs = &out.intervals[&Op::Message];
    assert_eq!(ivs.len(), 2);
    assert_eq!((ivs[0].hist.len(), ivs[1].hist.len()), (30, 15));
    assert_eq!(out.series.errors, vec![3, 0, 6]);
    assert_eq!(out.series.gauges["sessions"], vec![12, 12, 0]);
    // Each step is marked once, not once per shard.
    let labels: Vec<&str> = r.timeline.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(labels, ["1 login", "2 message"]);
}

#[test]
fn intervals_align_by_absolute_time() {
    // Shard 2 started one interval later: its first interval is the merged second one.
    let out = merge(&[part(1, 2, 100, 0), part(2, 2, 100, 1_000)]).expect("merges");
    let ivs = &out.intervals[&Op::Message];
    let counts: Vec<u64> = ivs.iter().map(|i| i.hist.len()).collect();
    assert_eq!(counts, vec![10, 15, 5]);
    assert_eq!(ivs[2].start, Duration::from_secs(2));
    assert_eq!(out.report.run.duration_ms, 3_000);
    assert_eq!(out.series.errors, vec![1, 1, 2, 2]);
    let t: Vec<u64> = out.report.timeline.iter().map(|e| e.at_ms).collect();
    assert_eq!(t, vec![10, 900]);
}

fn verdicts_of(r: &RunReport) -> BTreeMap<String, Verdict> {
    r.verdicts
        .iter()
        .map(|v| (v.id.clone(), v.verdict))
        .collect()
}

#[test]
fn verdicts_join_worst_wins_tallies_add_unjudged_ignored() {
    let a = fixture::report();
    let mut b = fixture::report();
    // In b, the failing check passed, and a passing one failed with its own transcript.
    b.verdicts[1].verdict = Verdict::Pass;
    b.verdicts[1].tally = [(Verdict::Pass, 5)].into();
    b.verdicts[1].transcript = None;
    b.verdicts[0].verdict = Verdict::Fail;
    b.verdicts[0].message = "b saw it fail".into();
    b.verdicts[0].tally = [(Verdict::Pass, 1), (Verdict::Fail, 2)].into();
    // b never judged the warned check: a's warn stands.
    b.verdicts[2].verdict = Verdict::NotApplicable;
    b.verdicts[2].tally.clear();
    let joined = join_verdicts(&[&a, &b]);
    assert_eq!(joined.len(), a.verdicts.len());
    assert_eq!(joined[0].verdict, Verdict::Fail);
    assert_eq!(joined[0].message, "b saw it fail");
    assert_eq!(joined[0].tally[&Verdict::Pass], 42);
    assert_eq!(joined[0].tally[&Verdict::Fail], 2);
    assert_eq!(joined[1].verdict, Verdict::Fail);
    assert!(
        joined[1].transcript.is_some(),
        "the failing shard's transcript is kept"
    );
    assert_eq!(joined[1].tally[&Verdict::Pass], 46);
    assert_eq!(joined[2].verdict, Verdict::Warn);
    // Not applicable everywhere stays not applicable.
    assert_eq!(joined[5].verdict, Verdict::NotApplicable);
}

#[test]
fn status_is_recomputed() {
    let mut p = [part(1, 2, 100, 0), part(2, 2, 100, 0)];
    for x in &mut p {
        x.report.verdicts.retain(|v| v.verdict == Verdict::Pass);
        x.report.ops.get_mut("login").expect("login").errors = 0;
        x.report.ops.get_mut("ping").expect("ping").errors = 0;
    }
    assert_eq!(merge(&p).expect("merges").report.status, RunStatus::Passed);
    p[1].report.ops.get_mut("ping").expect("ping").errors = 2;
    let r = merge(&p).expect("merges").report;
    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        r.status_reason
            .expect("reason")
            .contains("2 operations failed")
    );
    p[0].report.status = RunStatus::Invalid;
    p[0].report.status_reason = Some("generator fell behind".into());
    let r = merge(&p).expect("merges").report;
    assert_eq!(r.status, RunStatus::Invalid);
    assert_eq!(
        r.status_reason.as_deref(),
        Some("shard 1/2: generator fell behind")
    );
}

/// A run's output as the collector would give it, for one shard.
fn output(i: usize, base: u64) -> RunOutput {
    let p = part(i, 2, base, 0);
    let totals = [(Op::Message, {
        let mut h = hist(&[]);
        for iv in &p.hists.response[&Op::Message] {
            h.add(&iv.hist).expect("add");
        }
        h
    })]
    .into();
    RunOutput {
        report: p.report,
        intervals: p.hists.response,
        totals,
        service_totals: p.hists.service,
        series: Series {
            interval: Duration::from_secs(1),
            errors: p.hists.series.errors,
            gauges: [("sessions", vec![4, 4, 0])].into(),
        },
    }
}

#[test]
fn written_reports_merge_back_from_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<PathBuf> = (1..=2).map(|i| tmp.path().join(format!("s{i}"))).collect();
    for (i, d) in dirs.iter().enumerate() {
        write_all(d, &output(i + 1, 100 * (i as u64 + 1))).expect("written");
    }
    let out = merge_dirs(&dirs).expect("merged");
    assert_eq!(out.report.ops["message"].count, 30);
    assert_eq!(out.service_totals[&Op::Message].len(), 30);
    assert_eq!(out.series.gauges["sessions"], vec![8, 8, 0]);
    assert_eq!(
        verdicts_of(&out.report).len(),
        fixture::report().verdicts.len()
    );
    // The merged report is itself a complete report directory.
    let merged = tmp.path().join("merged");
    write_all(&merged, &out).expect("written");
    for f in [
        "report.json",
        "junit.xml",
        "report.html",
        "message.hlog",
        "service.hlog",
    ] {
        assert!(merged.join(f).is_file(), "{f}");
    }
    let back = super::read_report(&merged).expect("reads");
    assert_eq!(back.run.merged_from.len(), 2);
    // A directory without the merge files is refused with a read error naming it.
    std::fs::remove_file(dirs[0].join("series.json")).expect("rm");
    let e = merge_dirs(&dirs).expect_err("incomplete").to_string();
    assert!(e.contains("series.json"), "{e}");
}
