//! Stanzas a session received and no one has consumed yet, with an awaitable search.
//! Bounded: past the cap the oldest stanza is dropped and counted.

use crate::proto::xmpp::Element;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::Notify;

/// A received stanza and when it was read off the wire.
#[derive(Debug, Clone)]
pub struct Received {
    /// Arrival time.
    pub at: Instant,
    /// The stanza.
    pub el: Element,
}

/// The inbox of one session.
#[derive(Debug)]
pub struct Inbox {
    q: Mutex<State>,
    notify: Notify,
    cap: usize,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Received>,
    dropped: u64,
    closed: Option<String>,
}

impl Inbox {
    /// An inbox holding at most `cap` stanzas.
    pub fn new(cap: usize) -> Self {
        Self {
            q: Mutex::new(State::default()),
            notify: Notify::new(),
            cap,
        }
    }

    /// Adds a stanza (called by the reader).
    pub fn push(&self, r: Received) {
        if let Ok(mut s) = self.q.lock() {
            if s.items.len() == self.cap {
                s.items.pop_front();
                s.dropped += 1;
            }
            s.items.push_back(r);
        }
        self.notify.notify_waiters();
    }

    /// Marks the stream as ended; waiters stop waiting.
    pub fn close(&self, reason: String) {
        if let Ok(mut s) = self.q.lock() {
            s.closed.get_or_insert(reason);
        }
        self.notify.notify_waiters();
    }

    /// Why the stream ended, if it did.
    pub fn closed(&self) -> Option<String> {
        self.q.lock().ok().and_then(|s| s.closed.clone())
    }

    /// Removes and returns the first stanza matching `pred`, waiting until `deadline`.
    /// Returns `None` on timeout or when the stream ends without a match.
    pub async fn take(
        &self,
        pred: impl Fn(&Element) -> bool,
        deadline: Instant,
    ) -> Option<Received> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.q.lock().ok()?;
                if let Some(i) = s.items.iter().position(|r| pred(&r.el)) {
                    return s.items.remove(i);
                }
                if s.closed.is_some() {
                    return None;
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}
