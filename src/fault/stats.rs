//! The proxy's counters and drop log, shared by its connection tasks, and the
//! [`ProxyStats`] snapshot a caller reads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::mode::{DropRule, MessageView, Mode, ModeChange};
use crate::proto::xmpp::Element;

/// A direction of traffic through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

/// One message the stanza filter dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// When it was dropped.
    pub at: Instant,
    /// Its `id` attribute.
    pub id: Option<String>,
    /// Its `to` attribute (the recipient that will miss it).
    pub to: Option<String>,
    /// Its size on the wire.
    pub bytes: usize,
}

/// A snapshot of the proxy's counters; see [`Proxy::stats`](super::Proxy::stats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyStats {
    /// The mode now.
    pub mode: Mode,
    /// Connections accepted from clients.
    pub accepted: u64,
    /// Connections open now.
    pub active: u64,
    /// Connections whose upstream could not be reached (the client was reset).
    pub upstream_failures: u64,
    /// Connections reset by [`Mode::Cut`] or by an error on either side.
    pub resets: u64,
    /// Bytes forwarded client → upstream.
    pub bytes_up: u64,
    /// Bytes forwarded upstream → client.
    pub bytes_down: u64,
    /// Top-level messages the stanza filter saw upstream → client.
    pub messages_seen: u64,
    /// Messages it dropped (exact, even when `dropped` is truncated).
    pub messages_dropped: u64,
    /// Connections on which the filter stopped following the stream (TLS, compression or
    /// an unframeable stream) and forwarded the rest unchanged.
    pub filter_bypassed: u64,
    /// The dropped messages, oldest first, at most `ProxyConfig::max_recorded_drops`.
    pub dropped: Vec<Dropped>,
    /// Every mode change, oldest first.
    pub timeline: Vec<ModeChange>,
}

impl ProxyStats {
    /// The ids of the dropped messages (`""` for one without an id), oldest first.
    pub fn dropped_ids(&self) -> Vec<&str> {
        self.dropped
            .iter()
            .map(|d| d.id.as_deref().unwrap_or(""))
            .collect()
    }
}

/// Live counters, updated by every connection.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub accepted: AtomicU64,
    pub active: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub resets: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    pub filter_bypassed: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn forwarded(&self, dir: Direction, n: usize) {
        let c = match dir {
            Direction::Up => &self.bytes_up,
            Direction::Down => &self.bytes_down,
        };
        c.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The drop rule in force and what it dropped.
#[derive(Debug, Default)]
pub(super) struct DropLog {
    rule: Option<DropRule>,
    /// Messages with a body seen since the rule was set (`MessageView::seq`).
    bodied: u64,
    seen: u64,
    dropped: u64,
    recorded: Vec<Dropped>,
    max_recorded: usize,
}

impl DropLog {
    pub fn new(rule: Option<DropRule>, max_recorded: usize) -> Self {
        Self {
            rule,
            max_recorded,
            ..Self::default()
        }
    }

    pub fn set_rule(&mut self, rule: Option<DropRule>) {
        self.rule = rule;
        self.bodied = 0;
    }

    /// Decides one message, records it when dropped; true drops it.
    pub fn judge(&mut self, el: &Element, raw: &[u8], at: Instant) -> bool {
        self.seen += 1;
        let body = el.child("body", &el.ns).map(Element::text);
        if body.is_some() {
            self.bodied += 1;
        }
        let Some(rule) = &self.rule else {
            return false;
        };
        let view = MessageView {
            element: el,
            raw,
            id: el.attr("id"),
            body: body.as_deref(),
            seq: if body.is_some() { self.bodied } else { 0 },
        };
        if !rule.matches(&view) {
            return false;
        }
        self.dropped += 1;
        if self.recorded.len() < self.max_recorded {
            self.recorded.push(Dropped {
                at,
                id: el.attr("id").map(str::to_owned),
                to: el.attr("to").map(str::to_owned),
                bytes: raw.len(),
            });
        }
        true
    }
}

/// Fills a snapshot from the live state.
pub(super) fn snapshot(
    mode: Mode,
    c: &Counters,
    log: &Mutex<DropLog>,
    timeline: &Mutex<Vec<ModeChange>>,
) -> ProxyStats {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let log = log.lock().unwrap_or_else(|p| p.into_inner());
    ProxyStats {
        mode,
        accepted: get(&c.accepted),
        active: get(&c.active),
        upstream_failures: get(&c.upstream_failures),
        resets: get(&c.resets),
        bytes_up: get(&c.bytes_up),
        bytes_down: get(&c.bytes_down),
        messages_seen: log.seen,
        messages_dropped: log.dropped,
        filter_bypassed: get(&c.filter_bypassed),
        dropped: log.recorded.clone(),
        timeline: timeline.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::xmpp::ns;

    fn msg(id: &str, body: Option<&str>) -> Element {
        let mut m = Element::new("message", ns::CLIENT).with_attr("id", id);
        if let Some(b) = body {
            m.push_child(Element::new("body", ns::CLIENT).with_text(b));
        }
        m
    }

    #[test]
    fn every_nth_counts_only_messages_with_a_body() {
        let now = crate::clock::now();
        let mut log = DropLog::new(Some(DropRule::EveryNth(3)), 10);
        let ids = ["a", "b", "chat-state", "c", "d", "e", "f"];
        let dropped: Vec<&str> = ids
            .iter()
            .filter(|id| {
                let body = (**id != "chat-state").then_some("hi");
                log.judge(&msg(id, body), b"", now)
            })
            .copied()
            .collect();
        assert_eq!(dropped, ["c", "f"]);
        assert_eq!((log.seen, log.dropped), (7, 2));
    }

    #[test]
    fn marker_matches_id_or_body_and_recording_is_capped() {
        let now = crate::clock::now();
        let mut log = DropLog::new(Some(DropRule::Marker("LOSE".into())), 1);
        assert!(log.judge(&msg("x-LOSE-1", Some("a")), b"", now));
        assert!(log.judge(&msg("y", Some("please LOSE me")), b"", now));
        assert!(!log.judge(&msg("z", Some("keep")), b"", now));
        assert!(!log.judge(&msg("LOS", None), b"", now));
        assert_eq!(log.dropped, 2, "the count stays exact");
        assert_eq!(log.recorded.len(), 1, "the id list is capped");
    }
}
