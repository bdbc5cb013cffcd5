//! The one seam between workers and results: sessions and steps send [`Event`]s, the
//! collector owns what they mean.

use crate::checks::Outcome;
use crate::clock;
use crate::metrics::Op;
use crate::metrics::accounting::Accounted;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// Something a worker observed.
#[derive(Debug)]
pub enum Event {
    /// An operation completed.
    Latency {
        /// Which operation.
        op: Op,
        /// When the schedule intended it to start (response time is measured from here).
        intended: Instant,
        /// When the first byte was actually sent (service time is measured from here).
        sent: Instant,
        /// When it completed.
        done: Instant,
    },
    /// An operation failed or timed out.
    OpFailed {
        /// Which operation.
        op: Op,
        /// When it was given up (places the error in its interval).
        at: Instant,
    },
    /// A check was judged once.
    Outcome(Box<Outcome>),
    /// A named counter moved.
    Count {
        /// Counter name, e.g. `messages_sent`.
        name: &'static str,
        /// Increment.
        delta: u64,
    },
    /// A gauge moved, e.g. `sessions_connected` up on login and down on close.
    Gauge {
        /// Gauge name.
        name: &'static str,
        /// Change (negative to go down).
        delta: i64,
        /// When it moved (places the value on the timeline).
        at: Instant,
    },
    /// Something worth marking on the report's timeline (a step starts, a fault is
    /// injected).
    Mark {
        /// What happened, shown on the plots.
        label: String,
        /// When.
        at: Instant,
    },
    /// One recipient's account of one judged message (sent, delivered, lost, ...).
    Accounted(Box<Accounted>),
    /// The recovery of one failover step, summarised by the step.
    Recovery(Box<crate::metrics::recovery::RecoveryReport>),
    /// The login-rate calibration of one `calibrate-login` step, summarised by the step.
    Calibration(Box<crate::report::model::CalibrationReport>),
    /// A harness or network error worth listing in the report.
    Error {
        /// Who hit it.
        subject: String,
        /// What happened.
        message: String,
    },
}

/// A cheap, cloneable handle to send events to the collector. Sending never blocks and
/// never fails the sender: once the collector is gone, events are dropped.
#[derive(Debug, Clone)]
pub struct Events(UnboundedSender<Event>);

impl Events {
    /// Wraps a channel sender.
    pub fn new(tx: UnboundedSender<Event>) -> Self {
        Self(tx)
    }

    /// Sends an event.
    pub fn send(&self, e: Event) {
        let _ = self.0.send(e);
    }

    /// Records a completed operation.
    pub fn latency(&self, op: Op, intended: Instant, sent: Instant, done: Instant) {
        self.send(Event::Latency {
            op,
            intended,
            sent,
            done,
        });
    }

    /// Records a judgement.
    pub fn outcome(&self, o: Outcome) {
        self.send(Event::Outcome(Box::new(o)));
    }

    /// Moves a counter.
    pub fn count(&self, name: &'static str, delta: u64) {
        self.send(Event::Count { name, delta });
    }

    /// Records a failed operation together with the error that caused it.
    pub fn op_failed(&self, op: Op, subject: &str, message: impl Into<String>) {
        self.op_failed_quietly(op);
        self.error(subject, message);
    }

    /// Records a failed operation that is not worth an error entry (the verdict it causes
    /// already explains it).
    pub fn op_failed_quietly(&self, op: Op) {
        self.send(Event::OpFailed {
            op,
            at: clock::now(),
        });
    }

    /// Moves a gauge now.
    pub fn gauge(&self, name: &'static str, delta: i64) {
        self.send(Event::Gauge {
            name,
            delta,
            at: clock::now(),
        });
    }

    /// Marks the timeline now.
    pub fn mark(&self, label: impl Into<String>) {
        self.send(Event::Mark {
            label: label.into(),
            at: clock::now(),
        });
    }

    /// Records one recipient's account of one judged message.
    pub fn accounted(&self, a: Accounted) {
        self.send(Event::Accounted(Box::new(a)));
    }

    /// Records an error.
    pub fn error(&self, subject: &str, message: impl Into<String>) {
        self.send(Event::Error {
            subject: subject.to_string(),
            message: message.into(),
        });
    }
}
