//! The generator watching itself for a whole fleet run: a ticker wakes every
//! [`TICK`] and records how late it woke (scheduler lag, corrected for coordinated
//! omission), samples this process's CPU once a second, and holds the [`LagMonitor`] the
//! load phases record their own lateness into. Every sample is reported as
//! `scheduler_lag`; those taken during load phases are judged. The fleet asks for the
//! verdict after every step; a generator that fell behind ends the run as INVALID.

use crate::clock;
use crate::events::Events;
use crate::metrics::Op;
use crate::metrics::lag::{self, LagMonitor};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Ticker period.
pub const TICK: Duration = Duration::from_millis(10);

/// How often CPU is sampled.
const CPU_EVERY: Duration = Duration::from_secs(1);

/// Counter: CPU time (user + system) impress used during the fleet run, in milliseconds.
pub const CPU_COUNTER: &str = "generator_cpu_ms";

/// Gauge: impress's CPU use over the last second, in percent of one core.
pub const CPU_GAUGE: &str = "generator_cpu_percent";

/// A running self-watch; dropping it stops the ticker and reports the CPU time used.
#[derive(Debug)]
pub struct Watch {
    monitor: Arc<LagMonitor>,
    events: Events,
    cpu_start: Option<Duration>,
    task: JoinHandle<()>,
}

impl Watch {
    /// Starts watching; lag is judged against `limit`.
    pub fn start(events: Events, limit: Duration) -> Self {
        let monitor = Arc::new(LagMonitor::new(limit));
        let task = tokio::spawn(ticker(monitor.clone(), events.clone()));
        Self {
            monitor,
            events,
            cpu_start: lag::process_cpu(),
            task,
        }
    }

    /// The monitor load phases record into.
    pub fn monitor(&self) -> &Arc<LagMonitor> {
        &self.monitor
    }

    /// `Some(reason)` once the generator has fallen behind.
    pub fn verdict(&self) -> Option<String> {
        self.monitor.verdict()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
        if let (Some(a), Some(b)) = (self.cpu_start, lag::process_cpu()) {
            let used = b.saturating_sub(a).as_millis() as u64;
            self.events.count(CPU_COUNTER, used);
        }
        let s = self.monitor.summary();
        tracing::info!(
            lag_p99_us = s.p99.as_micros() as u64,
            lag_max_us = s.max.as_micros() as u64,
            scheduled = s.scheduled,
            dropped = s.dropped,
            "generator self-watch"
        );
    }
}

/// Records one lag sample in the monitor and in the report (`scheduler_lag`): the action
/// meant for `intended` started at `actual`.
pub fn record(monitor: &LagMonitor, events: &Events, intended: Instant, actual: Instant) {
    monitor.record(actual.saturating_duration_since(intended));
    events.latency(Op::SchedulerLag, intended, intended, actual);
}

async fn ticker(monitor: Arc<LagMonitor>, events: Events) {
    let mut due = clock::now() + TICK;
    let mut cpu = CpuSampler::new();
    loop {
        tokio::time::sleep_until(due.into()).await;
        let now = clock::now();
        let late = now.saturating_duration_since(due);
        // The wake-ups a stall swallowed count too, each as late as it would have been.
        for (k, _) in lag::backfill(late, TICK).enumerate() {
            record(&monitor, &events, due + TICK * k as u32, now);
        }
        let missed = (late.as_nanos() / TICK.as_nanos()) as u32;
        due += TICK * (missed + 1);
        cpu.sample(now, &events);
    }
}

/// Turns CPU time readings into the percent gauge.
struct CpuSampler {
    last: Option<(Instant, Duration)>,
    shown: i64,
}

impl CpuSampler {
    fn new() -> Self {
        Self {
            last: lag::process_cpu().map(|c| (clock::now(), c)),
            shown: 0,
        }
    }

    fn sample(&mut self, now: Instant, events: &Events) {
        let Some((at, used)) = self.last else { return };
        let wall = now.saturating_duration_since(at);
        if wall < CPU_EVERY {
            return;
        }
        let Some(cpu) = lag::process_cpu() else {
            return;
        };
        let pct = (cpu.saturating_sub(used).as_secs_f64() / wall.as_secs_f64() * 100.0) as i64;
        // Gauges move by deltas: this makes the gauge read `pct`.
        events.gauge(CPU_GAUGE, pct - self.shown);
        self.shown = pct;
        self.last = Some((now, cpu));
    }
}
