//! The single owner of results: folds [`Event`]s into per-operation histograms, counters,
//! gauges, errors, timeline marks and one aggregated verdict per check, publishes live
//! [`Snapshot`]s while the run goes on, then builds the [`RunOutput`].

use crate::checks::expect::Expectations;
use crate::checks::{CheckDef, Outcome, Verdict};
use crate::clock;
use crate::events::{Event, Events};
use crate::metrics::accounting::Accounting;
use crate::metrics::{Op, OpRecorder, SeriesRecorder, Snapshot};
use crate::report::model::{ErrorRecord, RunMeta, TimelineEvent};
use crate::report::{RunOutput, RunReport, RunStatus, SCHEMA_VERSION, VerdictRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Errors listed in the report at most; the rest are only counted.
const MAX_ERRORS: usize = 100;

/// Timeline marks kept at most (a suite has a handful of steps; faults are few).
const MAX_MARKS: usize = 1000;

/// How often the running collector publishes a live snapshot.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);

struct Aggregate {
    tally: BTreeMap<Verdict, u64>,
    worst: Outcome,
}

/// A collector running on its own task.
pub struct Running {
    stop: oneshot::Sender<()>,
    join: JoinHandle<Collector>,
    live: watch::Receiver<Arc<Snapshot>>,
}

impl Running {
    /// Live snapshots of the run so far, refreshed every 250 ms while events arrive.
    pub fn live(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.live.clone()
    }

    /// Stops the task after folding every event already sent, and returns the collector.
    pub async fn finish(self) -> Collector {
        let _ = self.stop.send(());
        match self.join.await {
            Ok(c) => c,
            // The task only folds data; a panic there is a bug worth surfacing loudly.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// Folds events into results.
pub struct Collector {
    start: Instant,
    interval: Duration,
    response: BTreeMap<Op, OpRecorder>,
    service: BTreeMap<Op, OpRecorder>,
    verdicts: BTreeMap<&'static str, Aggregate>,
    counters: BTreeMap<String, u64>,
    errors: Vec<ErrorRecord>,
    series: SeriesRecorder,
    timeline: Vec<TimelineEvent>,
    accounting: Accounting,
    recovery: Vec<crate::metrics::recovery::RecoveryReport>,
    calibration: Vec<crate::report::model::CalibrationReport>,
}

impl Collector {
    /// A collector for a run that started at `start`, with histogram intervals of `interval`.
    pub fn new(start: Instant, interval: Duration) -> Self {
        Self {
            start,
            interval,
            response: BTreeMap::new(),
            service: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            counters: BTreeMap::new(),
            errors: Vec::new(),
            series: SeriesRecorder::new(interval),
            timeline: Vec::new(),
            accounting: Accounting::default(),
            recovery: Vec::new(),
            calibration: Vec::new(),
        }
    }

    /// Runs a collector on its own task until [`Running::finish`] is called.
    pub fn spawn(start: Instant, interval: Duration) -> (Events, Running) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let (live_tx, live) = watch::channel(Arc::new(Snapshot::default()));
        let join = tokio::spawn(async move {
            let mut c = Self::new(start, interval);
            let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    e = rx.recv() => match e {
                        Some(e) => c.apply(e),
                        None => break,
                    },
                    _ = tick.tick() => {
                        live_tx.send_replace(Arc::new(c.snapshot(clock::now())));
                    }
                    _ = &mut stop_rx => {
                        while let Ok(e) = rx.try_recv() {
                            c.apply(e);
                        }
                        break;
                    }
                }
            }
            c
        });
        let running = Running {
            stop: stop_tx,
            join,
            live,
        };
        (Events::new(tx), running)
    }

    /// What the run has recorded so far, as of `now`.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let since_start = now.saturating_duration_since(self.start);
        let mut verdicts = BTreeMap::new();
        for agg in self.verdicts.values() {
            *verdicts.entry(agg.worst.verdict.as_str()).or_default() += 1;
        }
        Snapshot {
            elapsed_ms: now.saturating_duration_since(self.start).as_millis() as u64,
            counters: self.counters.clone(),
            gauges: self.series.currents(),
            ops: self
                .response
                .iter()
                .map(|(op, r)| (op.name(), r.summary()))
                .collect(),
            verdicts,
            recent_p99_us: self
                .response
                .iter()
                .map(|(op, r)| (op.name(), r.recent_p99(since_start)))
                .collect(),
        }
    }

    /// Folds one event.
    pub fn apply(&mut self, e: Event) {
        match e {
            Event::Latency {
                op,
                intended,
                sent,
                done,
            } => {
                let at = done.saturating_duration_since(self.start);
                let interval = self.interval;
                self.response
                    .entry(op)
                    .or_insert_with(|| OpRecorder::new(interval))
                    .record(at, done.saturating_duration_since(intended));
                self.service
                    .entry(op)
                    .or_insert_with(|| OpRecorder::whole_run(interval))
                    .record(at, done.saturating_duration_since(sent));
            }
            Event::OpFailed { op, at } => {
                self.series.error(at.saturating_duration_since(self.start));
                let interval = self.interval;
                self.response
                    .entry(op)
                    .or_insert_with(|| OpRecorder::new(interval))
                    .error();
                self.service
                    .entry(op)
                    .or_insert_with(|| OpRecorder::whole_run(interval))
                    .error();
            }
            Event::Outcome(o) => self.judge(*o),
            Event::Count { name, delta } => {
                *self.counters.entry(name.to_string()).or_default() += delta
            }
            Event::Gauge { name, delta, at } => {
                let at = at.saturating_duration_since(self.start);
                self.series.gauge(name, delta, at);
            }
            Event::Mark { label, at } => {
                if self.timeline.len() < MAX_MARKS {
                    let at_ms = at.saturating_duration_since(self.start).as_millis() as u64;
                    self.timeline.push(TimelineEvent { at_ms, label });
                }
            }
            Event::Accounted(a) => self.accounting.record(*a),
            Event::Recovery(r) => self.recovery.push(*r),
            Event::Calibration(c) => self.calibration.push(*c),
            Event::Error { subject, message } => {
                *self.counters.entry("errors".to_string()).or_default() += 1;
                if self.errors.len() < MAX_ERRORS {
                    self.errors.push(ErrorRecord { subject, message });
                }
            }
        }
    }

    fn judge(&mut self, o: Outcome) {
        let verdict = o.verdict;
        match self.verdicts.get_mut(o.check.id) {
            None => {
                let mut tally = BTreeMap::new();
                tally.insert(verdict, 1);
                self.verdicts
                    .insert(o.check.id, Aggregate { tally, worst: o });
            }
            Some(agg) => {
                *agg.tally.entry(verdict).or_default() += 1;
                if verdict.severity() > agg.worst.verdict.severity() {
                    agg.worst = o;
                }
            }
        }
    }

    /// The verdict so far of one check (for tests and live progress).
    pub fn verdict(&self, id: &str) -> Option<Verdict> {
        self.verdicts.get(id).map(|a| a.worst.verdict)
    }

    /// Builds the final model. `selected` are the checks the suite asked for: those never
    /// judged are `not-applicable`. `invalid` marks the run invalid with a reason. A run
    /// with a failed check, or with failed operations, is failed.
    pub fn finish(
        mut self,
        mut meta: RunMeta,
        selected: &[&'static CheckDef],
        expect: &Expectations,
        invalid: Option<String>,
    ) -> RunOutput {
        let end = self.start.elapsed();
        meta.duration_ms = end.as_millis() as u64;
        let verdicts: Vec<VerdictRecord> = selected
            .iter()
            .map(|c| self.record_for(c, expect))
            .collect();
        let (status, reason) = self.status(&verdicts, invalid);
        let summaries = |m: &BTreeMap<Op, OpRecorder>| {
            m.iter()
                .map(|(op, r)| (op.name().to_string(), r.summary()))
                .collect::<BTreeMap<_, _>>()
        };
        let ops = summaries(&self.response);
        let service_ops = summaries(&self.service);
        let totals = |m: &BTreeMap<Op, OpRecorder>| {
            m.iter()
                .map(|(op, r)| (*op, r.total().clone()))
                .collect::<BTreeMap<_, _>>()
        };
        let (totals, service_totals) = (totals(&self.response), totals(&self.service));
        let intervals = self
            .response
            .iter_mut()
            .map(|(op, r)| (*op, r.finish_intervals(end)))
            .collect();
        self.timeline.sort_by_key(|e| e.at_ms);
        let report = RunReport {
            schema_version: SCHEMA_VERSION,
            impress_version: env!("CARGO_PKG_VERSION").to_string(),
            status,
            status_reason: reason,
            run: meta,
            verdicts,
            ops,
            service_ops,
            counters: self.counters,
            errors: self.errors,
            timeline: self.timeline,
            accounting: self.accounting,
            recovery: self.recovery,
            calibration: self.calibration,
        };
        RunOutput {
            report,
            intervals,
            totals,
            service_totals,
            series: self.series.finish(end),
        }
    }

    /// The run's status and its reason (why invalid, or that operations failed).
    fn status(
        &self,
        verdicts: &[VerdictRecord],
        invalid: Option<String>,
    ) -> (RunStatus, Option<String>) {
        let failed = verdicts.iter().any(|v| {
            v.expected_failure.is_none() && matches!(v.verdict, Verdict::Fail | Verdict::Error)
        });
        let op_errors: u64 = self.response.values().map(|r| r.summary().errors).sum();
        // A failover run loses operations by design while nodes are down; its recovery
        // verdicts judge it instead of the failed-operation count.
        let unrecovered = self
            .recovery
            .iter()
            .find(|r| r.verdict == crate::metrics::recovery::RecoveryVerdict::Fail);
        // A calibration pushes logins past the knee on purpose: its table reports them.
        let op_errors = if self.recovery.is_empty() && self.calibration.is_empty() {
            op_errors
        } else {
            0
        };
        match (invalid, failed, op_errors) {
            (Some(why), _, _) => (RunStatus::Invalid, Some(why)),
            (None, true, _) => (RunStatus::Failed, None),
            (None, false, _) if unrecovered.is_some() => (
                RunStatus::Failed,
                unrecovered.map(|r| format!("recovery failed in step {}: {}", r.step, r.reason)),
            ),
            (None, false, n) if n > 0 => (
                RunStatus::Failed,
                Some(format!("{n} operations failed (see errors)")),
            ),
            (None, false, _) => (RunStatus::Passed, None),
        }
    }

    fn record_for(&self, c: &'static CheckDef, expect: &Expectations) -> VerdictRecord {
        let mut rec = VerdictRecord {
            id: c.id.to_string(),
            spec: c.spec.to_string(),
            section: c.section.to_string(),
            level: c.level,
            verdict: Verdict::NotApplicable,
            message: "not exercised by this suite".to_string(),
            quote: c.quote.to_string(),
            expected: None,
            actual: None,
            subject: None,
            tally: BTreeMap::new(),
            expected_failure: None,
            transcript: None,
        };
        if let Some(agg) = self.verdicts.get(c.id) {
            let w = &agg.worst;
            rec.verdict = w.verdict;
            rec.message = w.message.clone();
            rec.expected = w.expected.clone();
            rec.actual = w.actual.clone();
            rec.subject = Some(w.subject.clone());
            rec.tally = agg.tally.clone();
            if w.verdict != Verdict::Pass {
                rec.transcript = w.evidence.clone();
            }
        }
        expect.apply(&mut rec);
        rec
    }
}
