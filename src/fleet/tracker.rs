//! Delivery tracking: every message and presence a step sends carries a unique token (the
//! message id, or the presence status). Readers report tokens as they come off the wire;
//! steps wait for their tokens and judge who received what.

use super::delivered::{AccountedTo, DeliveredLedger};
use crate::clock;
use crate::events::Events;
use crate::metrics::Op;
use crate::metrics::accounting::{AccountRow, Accounted};
use crate::proto::xmpp::{Element, Jid, ns};
use crate::session::Observer;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// Prefix of every token, so stray impress traffic is recognised.
const PREFIX: &str = "impress-";

/// Whether `id` is an impress token (a message or presence some step sent).
pub(crate) fn is_token(id: &str) -> bool {
    id.starts_with(PREFIX)
}

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
    /// The session of every copy beyond the first.
    pub duplicated_to: Vec<String>,
    /// Sessions that received it after a later message of the same sender.
    pub reordered_at: Vec<String>,
    /// A received copy whose `from` was wrong: (actual from, raw frame).
    pub bad_from: Option<(String, String)>,
    /// The body of the first copy, where the protocol carries the token in it (SIP).
    pub body: Option<Vec<u8>>,
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
    /// XEP-0280 carbon copies, kept apart from deliveries.
    pub carbons: super::carbon_ledger::CarbonLedger,
    /// Highest token number each (sender, receiving session) has seen, to spot reordering.
    highest: Mutex<HashMap<(String, String), u64>>,
    /// Token numbers of judged messages, per session that received them, so a copy that
    /// arrives after its message was judged is still accounted as a duplicate.
    judged: Mutex<DeliveredLedger>,
    seq: AtomicU64,
    events: Events,
}

impl Tracker {
    /// A tracker reporting stray copies to `events`.
    pub fn new(events: Events) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            carbons: super::carbon_ledger::CarbonLedger::new(events.clone()),
            highest: Mutex::new(HashMap::new()),
            judged: Mutex::new(DeliveredLedger::default()),
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
            duplicated_to: Vec::new(),
            reordered_at: Vec::new(),
            bad_from: None,
            body: None,
        };
        if let Ok(mut p) = self.pending.lock() {
            p.insert(token.to_string(), d);
        }
    }

    /// Names the sender the copies must come from, when it is not the sending session's
    /// JID (a SIP address-of-record).
    pub fn set_sender(&self, token: &str, sender: &str) {
        if let Ok(mut p) = self.pending.lock()
            && let Some(d) = p.get_mut(token)
        {
            d.sender = sender.to_string();
        }
    }

    fn keep_body(&self, token: &str, body: &[u8]) {
        if let Ok(mut p) = self.pending.lock()
            && let Some(d) = p.get_mut(token)
            && d.body.is_none()
        {
            d.body = Some(body.to_vec());
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
        wait_until(waker, deadline, || self.all_complete(tokens)).await;
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
        if !matches!(d.op, Op::Presence | Op::Subscribe) {
            self.account(token, &d);
            self.remember_judged(token, &d);
        }
        Some(d)
    }

    /// Whether `token` can no longer gain a receiver (every session that may receive it
    /// has it), so a step may judge it before its other messages; copies still to come are
    /// duplicates, which the tracker accounts after judgement too. True for a token no
    /// longer pending.
    pub fn settled(&self, token: &str) -> bool {
        let Ok(p) = self.pending.lock() else {
            return true;
        };
        let Some(d) = p.get(token) else {
            return true;
        };
        let has = |l: &String| d.got.iter().any(|(g, _)| g == l);
        match &d.expect {
            Expect::All(ls) | Expect::Any(ls) => ls.iter().all(has),
        }
    }

    /// Keeps the token number of a judged message per session that received it.
    fn remember_judged(&self, token: &str, d: &Delivery) {
        let Some(n) = token_number(token) else {
            return;
        };
        let to = match d.expect {
            Expect::All(_) => AccountedTo::Session,
            Expect::Any(_) => AccountedTo::Account,
        };
        if let Ok(mut j) = self.judged.lock() {
            for (label, _) in &d.got {
                j.record(label, n, to);
            }
        }
    }

    /// Accounts a copy of an already judged message at session `to` as a duplicate when
    /// that session had received it before the judgement.
    fn late_copy(&self, token: &str, to: &str) {
        let Some(n) = token_number(token) else {
            return;
        };
        let recipient = self.judged.lock().ok().and_then(|j| j.duplicate_for(to, n));
        if let Some(recipient) = recipient {
            let row = AccountRow {
                duplicated: 1,
                ..AccountRow::default()
            };
            self.events.accounted(Accounted {
                recipient,
                row,
                lost_id: None,
            });
        }
    }

    /// Reports, per recipient, what happened to one judged message. A message to a bare
    /// JID (`Expect::Any`) is accounted to the account it was addressed to.
    fn account(&self, token: &str, d: &Delivery) {
        let count = |v: &[String], l: &str| v.iter().filter(|x| *x == l).count() as u64;
        let report = |recipient: String, got: bool, dup: u64, reordered: u64| {
            let row = AccountRow {
                sent: 1,
                delivered: u64::from(got),
                duplicated: dup,
                lost: u64::from(!got),
                reordered,
            };
            let lost_id = (!got).then(|| token.to_string());
            self.events.accounted(Accounted {
                recipient,
                row,
                lost_id,
            });
        };
        match &d.expect {
            Expect::All(ls) => {
                for l in ls {
                    let got = d.got.iter().any(|(g, _)| g == l);
                    report(
                        l.clone(),
                        got,
                        count(&d.duplicated_to, l),
                        count(&d.reordered_at, l),
                    );
                }
            }
            Expect::Any(ls) => {
                let account = ls
                    .first()
                    .map(|l| l.split('/').next().unwrap_or(l).to_string())
                    .unwrap_or_else(|| "(no available resource)".into());
                let reordered = d.got.iter().any(|(g, _)| d.reordered_at.contains(g));
                report(
                    account,
                    !d.got.is_empty(),
                    d.duplicates,
                    u64::from(reordered),
                );
            }
        }
    }

    /// Whether a copy of message number `n` from `sender` at session `to` overtook it:
    /// true when that session already saw a later message of the same sender.
    fn overtaken(&self, sender: &str, to: &str, n: u64) -> bool {
        let Ok(mut h) = self.highest.lock() else {
            return false;
        };
        let top = h.entry((sender.to_string(), to.to_string())).or_insert(0);
        let late = n < *top;
        *top = (*top).max(n);
        late
    }

    fn observe(&self, token: &str, to: &str, el: &Element, raw: &[u8], at: Instant) -> bool {
        let from = el.attr("from").unwrap_or("");
        let bounce = el.attr("type") == Some("error");
        self.delivered(token, to, from, bounce, raw, at)
    }

    /// Records that session `to` received a copy of `token` from `from` (a bounce when
    /// `bounce`), whatever the protocol.
    fn delivered(
        &self,
        token: &str,
        to: &str,
        from: &str,
        bounce: bool,
        raw: &[u8],
        at: Instant,
    ) -> bool {
        if !token.starts_with(PREFIX) {
            return false;
        }
        if bounce {
            // A bounce (RFC 6120 §8.3) carries the original id back to the sender: it is
            // evidence of non-delivery, never a delivery.
            self.events.count("bounced", 1);
            return true;
        }
        let Ok(mut p) = self.pending.lock() else {
            return true;
        };
        let Some(d) = p.get_mut(token) else {
            // It was already judged (and accounted lost if no copy had come): a late copy,
            // a duplicate if this session had received it.
            drop(p);
            self.events.count("copies_late", 1);
            self.late_copy(token, to);
            return true;
        };
        if d.got.iter().any(|(l, _)| l == to) {
            d.duplicates += 1;
            d.duplicated_to.push(to.to_string());
        } else {
            d.got.push((to.to_string(), at));
            let n = token_number(token).unwrap_or(0);
            if self.overtaken(&d.sender, to, n) {
                d.reordered_at.push(to.to_string());
            }
        }
        if from != d.sender && d.bad_from.is_none() {
            d.bad_from = Some((from.to_string(), String::from_utf8_lossy(raw).into_owned()));
        }
        let waker = d.waker.clone();
        drop(p);
        waker.notify_waiters();
        true
    }
}

/// Waits until `done()` holds or `deadline` passes, re-checking whenever `waker` is
/// notified (the notification is armed before each check, so none is missed).
pub(crate) async fn wait_until(waker: &Notify, deadline: Instant, done: impl Fn() -> bool) {
    loop {
        let notified = waker.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if done() || clock::now() >= deadline {
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

/// The number of an `impress-<n>` token.
fn token_number(token: &str) -> Option<u64> {
    token.strip_prefix(PREFIX)?.parse().ok()
}

/// The first `impress-<n>` token in `text`.
fn token_in(text: &str) -> Option<&str> {
    let i = text.find(PREFIX)?;
    let rest = &text[i..];
    let end = rest[PREFIX.len()..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(rest.len(), |e| e + PREFIX.len());
    Some(&rest[..end])
}

impl crate::session::sip::SipObserver for Tracker {
    /// A MESSAGE carries its token in the body, a NOTIFY in the PIDF note of the
    /// published state; the sender is the From address-of-record.
    fn request(&self, to: &str, msg: &crate::proto::sip::Message, at: Instant) {
        let body = String::from_utf8_lossy(msg.body());
        let Some(token) = token_in(&body) else {
            return;
        };
        let from = msg.from().map(|f| f.uri).unwrap_or_default();
        if msg.method() == Some(&crate::proto::sip::Method::Message) {
            self.keep_body(token, msg.body());
        }
        self.delivered(token, to, &from, false, msg.raw(), at);
    }
}

impl Observer for Tracker {
    fn carbon(&self, to: &str, el: &Element, raw: &[u8], at: Instant) -> bool {
        self.carbons.observe(to, el, raw, at)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::proto::xmpp::stanza;

    fn accounted(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Vec<Accounted> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let Event::Accounted(a) = e {
                out.push(*a);
            }
        }
        out
    }

    /// Two messages to one session arrive in the wrong order, one twice; a third never
    /// arrives: the accounting says so per recipient, with the lost id.
    #[test]
    fn accounts_reordered_duplicated_and_lost_messages() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let t = Tracker::new(Events::new(tx));
        let sender = Jid::new(Some("a"), "example.test", Some("x")).expect("jid");
        let waker = Arc::new(Notify::new());
        let now = clock::now();
        let tokens: Vec<String> = (0..3).map(|_| t.token()).collect();
        for tok in &tokens {
            let e = Expect::All(vec!["b/y".into()]);
            t.expect(tok, Op::Message, now, &sender, e, &waker);
        }
        let copy = |tok: &str| {
            let mut m = stanza::message("chat", tok, "b@example.test/y", "hi");
            m.set_attr("from", "a@example.test/x");
            m
        };
        for tok in [&tokens[1], &tokens[0], &tokens[0]] {
            t.message("b/y", &copy(tok), b"<message/>", now);
        }
        for tok in &tokens {
            t.finish(tok).expect("pending");
        }
        let rows = accounted(&mut rx);
        assert_eq!(rows.len(), 3);
        let mut total = AccountRow::default();
        rows.iter().for_each(|a| total.add(&a.row));
        assert_eq!(
            total,
            AccountRow {
                sent: 3,
                delivered: 2,
                duplicated: 1,
                lost: 1,
                reordered: 1
            }
        );
        let lost: Vec<_> = rows.iter().filter_map(|a| a.lost_id.clone()).collect();
        assert_eq!(lost, vec![tokens[2].clone()]);
        assert!(rows.iter().all(|a| a.recipient == "b/y"));
    }

    /// A message judged as soon as it settled still has its later copies accounted as
    /// duplicates, to the session (full JID) or the account (bare JID) it was for; a copy
    /// at a session that never had it is only a late copy.
    #[test]
    fn copies_after_judgement_are_accounted_as_duplicates() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let t = Tracker::new(Events::new(tx));
        let sender = Jid::new(Some("a"), "example.test", Some("x")).expect("jid");
        let waker = Arc::new(Notify::new());
        let now = clock::now();
        let (full, bare) = (t.token(), t.token());
        let e = Expect::All(vec!["b/y".into()]);
        t.expect(&full, Op::Message, now, &sender, e, &waker);
        let e = Expect::Any(vec!["c/z".into()]);
        t.expect(&bare, Op::Message, now, &sender, e, &waker);
        let copy = |tok: &str| {
            let mut m = stanza::message("chat", tok, "b@example.test/y", "hi");
            m.set_attr("from", "a@example.test/x");
            m
        };
        assert!(!t.settled(&full));
        t.message("b/y", &copy(&full), b"<message/>", now);
        t.message("c/z", &copy(&bare), b"<message/>", now);
        assert!(t.settled(&full) && t.settled(&bare));
        t.finish(&full).expect("pending");
        t.finish(&bare).expect("pending");
        for (to, tok) in [
            ("b/y", &full),
            ("c/z", &bare),
            ("c/z", &bare),
            ("d/w", &full),
        ] {
            t.message(to, &copy(tok), b"<message/>", now);
        }
        let rows = accounted(&mut rx);
        let dup = |r: &str| {
            rows.iter()
                .filter(|a| a.recipient == r)
                .map(|a| a.row.duplicated)
                .sum::<u64>()
        };
        assert_eq!((dup("b/y"), dup("c"), dup("d/w")), (1, 2, 0));
        let delivered: u64 = rows.iter().map(|a| a.row.delivered).sum();
        assert_eq!(delivered, 2, "a late copy is no second delivery");
    }
}
