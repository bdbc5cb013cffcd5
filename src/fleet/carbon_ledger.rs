//! The carbon ledger: XEP-0280 copies are reported here, apart from deliveries, so a copy
//! never counts as the delivery of the message it forwards. The reader hands every carbon
//! copy to the tracker's observer, which passes it on; a step that sends a tokened message
//! watches its token here (which sessions must get which copy), waits, and takes what
//! arrived. The ledger also remembers which sessions enabled or disabled carbons.

use super::tracker::wait_until;
use crate::checks::oracle_carbons::CopySeen;
use crate::events::Events;
use crate::proto::xmpp::Element;
use crate::proto::xmpp::carbons::Direction;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// A session's carbons state, as its last acknowledged request left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarbonState {
    /// `<enable/>` acknowledged.
    Enabled,
    /// `<disable/>` acknowledged.
    Disabled,
}

/// What one message's copies must be and what arrived.
#[derive(Debug)]
struct Watch {
    /// Sessions that must get a copy, and which kind.
    want: Vec<(String, Direction)>,
    /// Every copy that arrived, with its arrival time.
    seen: Vec<(CopySeen, Instant)>,
    /// Wakes the one task waiting for this token.
    waker: Arc<Notify>,
}

impl Watch {
    fn complete(&self) -> bool {
        self.want.iter().all(|(s, d)| {
            self.seen
                .iter()
                .any(|(c, _)| c.session == *s && c.direction == *d)
        })
    }
}

/// Copies of watched messages, and every session's carbons state.
#[derive(Debug)]
pub struct CarbonLedger {
    watches: Mutex<HashMap<String, Watch>>,
    states: Mutex<HashMap<String, CarbonState>>,
    events: Events,
}

impl CarbonLedger {
    /// An empty ledger counting unwatched copies on `events`.
    pub fn new(events: Events) -> Self {
        Self {
            watches: Mutex::new(HashMap::new()),
            states: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// Records that session `label`'s carbons request was acknowledged.
    pub fn set_state(&self, label: &str, state: CarbonState) {
        if let Ok(mut s) = self.states.lock() {
            s.insert(label.to_string(), state);
        }
    }

    /// Forgets session `label`'s state: a fresh login starts without carbons (a resumed
    /// XEP-0198 session keeps them, and is not a fresh login).
    pub fn forget(&self, label: &str) {
        if let Ok(mut s) = self.states.lock() {
            s.remove(label);
        }
    }

    /// Session `label`'s carbons state (`None`: never enabled or disabled).
    pub fn state(&self, label: &str) -> Option<CarbonState> {
        self.states.lock().ok()?.get(label).copied()
    }

    /// Watches the copies of message `token` before it is sent: `want` lists the sessions
    /// that must get a copy (empty when none may).
    pub fn watch(&self, token: &str, want: Vec<(String, Direction)>, waker: &Arc<Notify>) {
        let w = Watch {
            want,
            seen: Vec::new(),
            waker: waker.clone(),
        };
        if let Ok(mut ws) = self.watches.lock() {
            ws.insert(token.to_string(), w);
        }
    }

    /// Waits until every wanted copy of `tokens` (all watched with `waker`) arrived or
    /// `deadline` passes.
    pub async fn wait(&self, tokens: &[String], deadline: Instant, waker: &Notify) {
        wait_until(waker, deadline, || self.all_complete(tokens)).await;
    }

    fn all_complete(&self, tokens: &[String]) -> bool {
        let Ok(ws) = self.watches.lock() else {
            return true;
        };
        tokens.iter().all(|t| ws.get(t).is_none_or(Watch::complete))
    }

    /// Stops watching `token` and returns the copies that arrived, with arrival times.
    pub fn finish(&self, token: &str) -> Vec<(CopySeen, Instant)> {
        self.watches
            .lock()
            .ok()
            .and_then(|mut ws| ws.remove(token))
            .map(|w| w.seen)
            .unwrap_or_default()
    }

    /// A carbon copy arrived at session `to`. Returns true when it was an impress message's
    /// copy (watched or not: an unwatched one is only counted), false to leave it in the
    /// session's inbox.
    pub fn observe(&self, to: &str, outer: &Element, raw: &[u8], at: Instant) -> bool {
        let Some((token, copy)) = CopySeen::from_wire(to, outer, raw) else {
            return false;
        };
        if !super::tracker::is_token(&token) {
            return false;
        }
        let Ok(mut ws) = self.watches.lock() else {
            return true;
        };
        let Some(w) = ws.get_mut(&token) else {
            // A copy of a message no carbons step watches (e.g. an ordinary message step
            // after carbons were enabled), or one that came after its judgement.
            self.events.count("carbons_unwatched", 1);
            return true;
        };
        w.seen.push((copy, at));
        let waker = w.waker.clone();
        drop(ws);
        waker.notify_waiters();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::tracker::{Expect, Tracker};
    use crate::metrics::Op;
    use crate::proto::xmpp::element::parse;
    use crate::proto::xmpp::{Jid, NsContext};
    use crate::session::Observer;

    /// A `<received/>` copy of a tokened message reaches the ledger, never the delivery
    /// tracker: the message itself stays undelivered until the original arrives.
    #[test]
    fn a_carbon_copy_is_not_a_delivery() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let t = Tracker::new(Events::new(tx));
        let sender: Jid = "u2@example.test/desktop".parse().expect("jid");
        let waker = Arc::new(Notify::new());
        let token = t.token();
        let now = crate::clock::now();
        let addressee = Expect::All(vec!["u1/desktop".into()]);
        t.expect(&token, Op::Message, now, &sender, addressee, &waker);
        let want = vec![("u1/mobile".to_string(), Direction::Received)];
        t.carbons.watch(&token, want, &waker);
        let xml = format!(
            "<message from='u1@example.test' to='u1@example.test/mobile' type='chat'>\
             <received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message id='{token}' from='u2@example.test/desktop' \
             to='u1@example.test/desktop' type='chat'/></forwarded></received></message>"
        );
        let copy = parse(xml.as_bytes(), &NsContext::client()).expect("parses");
        assert!(t.carbon("u1/mobile", &copy, xml.as_bytes(), now));
        let d = t.finish(&token).expect("pending");
        assert!(d.got.is_empty(), "the copy is not a delivery: {:?}", d.got);
        let seen = t.carbons.finish(&token);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0.session, "u1/mobile");
        // A copy of a message nobody watches is consumed (counted), not left in an inbox;
        // a copy of a foreign (non-impress) message is left to the inbox.
        assert!(t.carbon("u1/mobile", &copy, xml.as_bytes(), now));
        let foreign = xml.replace(&token, "other-1");
        let el = parse(foreign.as_bytes(), &NsContext::client()).expect("parses");
        assert!(!t.carbon("u1/mobile", &el, foreign.as_bytes(), now));
    }
}
