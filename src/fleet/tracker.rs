//! Delivery tracking: every message and presence a step sends carries a unique token (the
//! message id, or the presence status). Readers report tokens as they come off the wire;
//! steps wait for their tokens and judge who received what.

use crate::clock;
use crate::events::Events;
use crate::metrics::Op;
use crate::proto::xmpp::{Element, Jid, ns};
use crate::session::Observer;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// Prefix of every token, so stray impress traffic is recognised.
const PREFIX: &str = "impress-";

/// Who must receive a tokened stanza.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Every one of these sessions.
    All(Vec<String>),
    /// At least one of these sessions.
    Any(Vec<String>),
}

/// What happened to one tokened stanza.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Operation measured.
    pub op: Op,
    /// When the schedule intended the send.
    pub intended: Instant,
    /// When it was written.
    pub sent: Instant,
    /// The sender's full JID, which the server must stamp as `from`.
    pub sender: String,
    /// Who had to receive it.
    pub expect: Expect,
    /// Sessions that received it, with arrival times (first copy each).
    pub got: Vec<(String, Instant)>,
    /// Copies beyond the first per session.
    pub duplicates: u64,
    /// A received copy whose `from` was wrong: (actual from, raw frame).
    pub bad_from: Option<(String, String)>,
    /// Wakes the one task waiting for this token (not every waiter in the fleet).
    waker: Arc<Notify>,
}

impl Delivery {
    /// Whether every required recipient has it.
    pub fn complete(&self) -> bool {
        let has = |l: &String| self.got.iter().any(|(g, _)| g == l);
        match &self.expect {
            Expect::All(ls) => ls.iter().all(has),
            Expect::Any(ls) => ls.iter().any(has),
        }
    }

    /// Labels of the sessions that received it.
    pub fn receivers(&self) -> Vec<String> {
        self.got.iter().map(|(l, _)| l.clone()).collect()
    }
}

/// The fleet-wide tracker.
#[derive(Debug)]
pub struct Tracker {
    pending: Mutex<HashMap<String, Delivery>>,
    seq: AtomicU64,
    events: Events,
}

impl Tracker {
    /// A tracker reporting stray copies to `events`.
    pub fn new(events: Events) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(1),
            events,
        }
    }

    /// A fresh token.
    pub fn token(&self) -> String {
        format!("{PREFIX}{}", self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Registers a token before its stanza is sent; deliveries of it wake `waker`, which
    /// the step then passes to [`Tracker::wait`].
    pub fn expect(
        &self,
        token: &str,
        op: Op,
        intended: Instant,
        sender: &Jid,
        expect: Expect,
        waker: &Arc<Notify>,
    ) {
        let d = Delivery {
            waker: waker.clone(),
            op,
            intended,
            sent: intended,
            sender: sender.to_string(),
            expect,
            got: Vec::new(),
            duplicates: 0,
            bad_from: None,
        };
        if let Ok(mut p) = self.pending.lock() {
            p.insert(token.to_string(), d);
        }
    }

    /// Records when the stanza was written.
    pub fn sent(&self, token: &str, at: Instant) {
        if let Some(d) = self
            .pending
            .lock()
            .ok()
            .as_mut()
            .and_then(|p| p.get_mut(token))
        {
            d.sent = at;
        }
    }

    /// Pending tokens that session `label` must (or may) receive, e.g. messages sent to a
    /// session while its connection is cut.
    pub fn addressed_to(&self, label: &str) -> Vec<String> {
        let Ok(p) = self.pending.lock() else {
            return Vec::new();
        };
        p.iter()
            .filter(|(_, d)| match &d.expect {
                Expect::All(ls) | Expect::Any(ls) => ls.iter().any(|l| l == label),
            })
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Makes deliveries of `tokens` wake `waker` instead, so another task can wait for them.
    pub fn rewake(&self, tokens: &[String], waker: &Arc<Notify>) {
        if let Ok(mut p) = self.pending.lock() {
            for t in tokens {
                if let Some(d) = p.get_mut(t) {
                    d.waker = waker.clone();
                }
            }
        }
    }

    /// Waits until every token (all registered with `waker`) is complete or `deadline`
    /// passes.
    pub async fn wait(&self, tokens: &[String], deadline: Instant, waker: &Notify) {
        loop {
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.all_complete(tokens) || clock::now() >= deadline {
                return;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return;
            }
        }
    }

    fn all_complete(&self, tokens: &[String]) -> bool {
        let Ok(p) = self.pending.lock() else {
            return true;
        };
        tokens
            .iter()
            .all(|t| p.get(t).is_none_or(Delivery::complete))
    }

    /// Removes a token and returns what happened to it, recording latencies of the copies
    /// that were required.
    pub fn finish(&self, token: &str) -> Option<Delivery> {
        let d = self.pending.lock().ok()?.remove(token)?;
        let required = match &d.expect {
            Expect::All(ls) => ls.clone(),
            Expect::Any(_) => d
                .got
                .first()
                .map(|(l, _)| vec![l.clone()])
                .unwrap_or_default(),
        };
        for (label, at) in &d.got {
            if required.contains(label) {
                self.events.latency(d.op, d.intended, d.sent, *at);
            }
        }
        if !d.complete() {
            self.events.op_failed_quietly(d.op);
        }
        Some(d)
    }

    fn observe(&self, token: &str, to: &str, el: &Element, raw: &[u8], at: Instant) -> bool {
        if !token.starts_with(PREFIX) {
            return false;
        }
        if el.attr("type") == Some("error") {
            // A bounce (RFC 6120 §8.3) carries the original id back to the sender: it is
            // evidence of non-delivery, never a delivery.
            self.events.count("bounced", 1);
            return true;
        }
        let Ok(mut p) = self.pending.lock() else {
            return true;
        };
        let Some(d) = p.get_mut(token) else {
            self.events.count("copies_after_judgement", 1);
            return true;
        };
        if d.got.iter().any(|(l, _)| l == to) {
            d.duplicates += 1;
        } else {
            d.got.push((to.to_string(), at));
        }
        let from = el.attr("from").unwrap_or("");
        if from != d.sender && d.bad_from.is_none() {
            d.bad_from = Some((from.to_string(), String::from_utf8_lossy(raw).into_owned()));
        }
        let waker = d.waker.clone();
        drop(p);
        waker.notify_waiters();
        true
    }
}

impl Observer for Tracker {
    fn message(&self, to: &str, el: &Element, raw: &[u8], at: Instant) -> bool {
        let token = el.attr("id").unwrap_or("");
        self.observe(token, to, el, raw, at)
    }

    fn presence(&self, to: &str, el: &Element, raw: &[u8], at: Instant) -> bool {
        let token = el
            .child("status", ns::CLIENT)
            .map(|s| s.text())
            .unwrap_or_default();
        self.observe(token.trim(), to, el, raw, at)
    }
}
