//! The one seam between workers and results: sessions and steps send [`Event`]s, the
//! collector owns what they mean.

use crate::checks::Outcome;
use crate::metrics::Op;
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
        self.send(Event::OpFailed { op });
        self.error(subject, message);
    }

    /// Records an error.
    pub fn error(&self, subject: &str, message: impl Into<String>) {
        self.send(Event::Error {
            subject: subject.to_string(),
            message: message.into(),
        });
    }
}
