//! The reader task of a negotiated session: frames and parses everything the server sends,
//! answers what a client must answer (roster pushes, pings, unknown IQs, subscription
//! requests when auto-approving), resolves pending requests, and hands the rest to the
//! delivery observer or the inbox.

use super::Observer;
use super::inbox::{Inbox, Received};
use super::transcript::Recorder;
use crate::checks::Direction;
use crate::clock;
use crate::proto::xmpp::stanza::{self, StreamError};
use crate::proto::xmpp::{Element, Frame, Framer, Jid, NsContext, ns};
use crate::transport::Stream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::oneshot;

/// State shared by a session handle and its reader task.
#[derive(Debug)]
pub(super) struct Shared {
    pub label: String,
    pub jid: Jid,
    pub inbox: Inbox,
    pub pending: Mutex<HashMap<String, oneshot::Sender<Received>>>,
    pub rec: Recorder,
    pub observer: Arc<dyn Observer>,
    pub auto_approve: AtomicBool,
    pub writer: tokio::sync::Mutex<WriteHalf<Stream>>,
    pub close_seen: Mutex<Option<Instant>>,
    /// XEP-0198 counters (idle until stream management is enabled).
    pub sm: super::sm::SmSlot,
}

impl Shared {
    /// Writes bytes and records them (as `shown`, when secrets must not be recorded).
    pub async fn send(&self, bytes: &[u8]) -> std::io::Result<Instant> {
        let mut w = self.writer.lock().await;
        let at = clock::now();
        self.sm.wrote(bytes);
        self.rec.record(at, Direction::Out, bytes);
        w.write_all(bytes).await?;
        w.flush().await?;
        Ok(at)
    }
}

/// First size of a session's read buffer (most stanzas are far smaller).
const READ_BUF_MIN: usize = 1024;
/// Largest size it grows to while the server sends faster than the session reads.
const READ_BUF_MAX: usize = 16 * 1024;

/// Reads until the stream ends, then closes the inbox with the reason.
pub(super) async fn run(
    mut rd: ReadHalf<Stream>,
    mut framer: Framer,
    ctx: NsContext,
    sh: Arc<Shared>,
) {
    let reason = pump(&mut rd, &mut framer, &ctx, &sh).await;
    sh.rec.note(clock::now(), &reason);
    sh.inbox.close(reason);
    for (_, tx) in sh
        .pending
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
    {
        drop(tx);
    }
}

async fn pump(
    rd: &mut ReadHalf<Stream>,
    framer: &mut Framer,
    ctx: &NsContext,
    sh: &Shared,
) -> String {
    // Idle sessions dominate memory at scale (50k sessions × 16 KiB would be 800 MB of
    // empty buffers): start small and double only while reads fill the buffer.
    let mut buf = vec![0u8; READ_BUF_MIN];
    loop {
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => {
                    if let Some(end) = handle(sh, ctx, f).await {
                        return end;
                    }
                }
                Ok(None) => break,
                Err(e) => return format!("server sent an unacceptable stream: {e}"),
            }
        }
        match rd.read(&mut buf).await {
            Ok(0) => return "connection closed by the server".into(),
            Ok(n) => {
                if let Err(e) = framer.feed(&buf[..n]) {
                    return format!("server sent an unacceptable stream: {e}");
                }
                if n == buf.len() && buf.len() < READ_BUF_MAX {
                    buf.resize(buf.len() * 2, 0);
                }
            }
            Err(e) => return format!("read failed: {e}"),
        }
    }
}

/// Handles one frame; `Some(reason)` ends the stream.
async fn handle(sh: &Shared, ctx: &NsContext, f: Frame) -> Option<String> {
    let at = clock::now();
    sh.rec.record(at, Direction::In, f.raw());
    let raw = match f {
        Frame::Close { .. } => {
            if let Ok(mut c) = sh.close_seen.lock() {
                *c = Some(at);
            }
            return Some("server closed the stream".into());
        }
        Frame::Open { .. } => return Some("server restarted the stream unexpectedly".into()),
        Frame::Element { raw } => raw,
    };
    let el = match crate::proto::xmpp::element::parse(&raw, ctx) {
        Ok(el) => el,
        Err(e) => return Some(format!("server sent an unparsable stanza: {e}")),
    };
    if el.is("error", ns::STREAM) {
        let e = StreamError::parse(&el);
        let cond = e
            .map(|e| e.condition)
            .unwrap_or_else(|| "undefined-condition".into());
        return Some(format!("server sent stream error <{cond}/>"));
    }
    if super::sm::intercept(sh, &el).await {
        return None;
    }
    dispatch(sh, el, &raw, at).await;
    None
}

async fn dispatch(sh: &Shared, el: Element, raw: &[u8], at: Instant) {
    match el.name.as_str() {
        "iq" => iq(sh, el, at).await,
        "message" => {
            // XEP-0280: a carbon copy is reported as such, never as the delivery of the
            // message it forwards (whatever the wrapper's id).
            let consumed = if crate::proto::xmpp::carbons::parse(&el).is_some() {
                sh.observer.carbon(&sh.label, &el, raw, at)
            } else {
                sh.observer.message(&sh.label, &el, raw, at)
            };
            if !consumed {
                sh.inbox.push(Received { at, el });
            }
        }
        "presence" => {
            let approve =
                el.attr("type") == Some("subscribe") && sh.auto_approve.load(Ordering::Relaxed);
            if let Some(from) = el
                .attr("from")
                .and_then(|f| f.parse::<Jid>().ok())
                .filter(|_| approve)
            {
                let ok = stanza::presence(Some("subscribed"), Some(&from.bare().to_string()));
                let _ = sh.send(ok.to_xml().as_bytes()).await;
            }
            if !sh.observer.presence(&sh.label, &el, raw, at) {
                sh.inbox.push(Received { at, el });
            }
        }
        _ => sh.inbox.push(Received { at, el }),
    }
}

async fn iq(sh: &Shared, el: Element, at: Instant) {
    let kind = el.attr("type").unwrap_or("");
    if matches!(kind, "result" | "error") {
        let id = el.attr("id").unwrap_or("").to_string();
        let waiter = sh.pending.lock().ok().and_then(|mut p| p.remove(&id));
        match waiter {
            Some(tx) => {
                let _ = tx.send(Received { at, el });
            }
            None => sh.inbox.push(Received { at, el }),
        }
        return;
    }
    let reply = answer(sh, &el);
    let _ = sh.send(reply.to_xml().as_bytes()).await;
    sh.inbox.push(Received { at, el });
}

/// The reply a client owes to a server's IQ get/set (RFC 6120 §8.2.3).
fn answer(sh: &Shared, req: &Element) -> Element {
    let id = req.attr("id").unwrap_or("");
    let to = req.attr("from");
    let own = req
        .attr("from")
        .is_none_or(|f| f == sh.jid.bare().to_string() || f == sh.jid.domain());
    let known =
        (own && req.child("query", ns::ROSTER).is_some()) || req.child("ping", ns::PING).is_some();
    if known {
        return stanza::iq("result", id, to, None);
    }
    let cond = Element::new("service-unavailable", ns::STANZAS);
    let err = Element::new("error", ns::CLIENT)
        .with_attr("type", "cancel")
        .with_child(cond);
    let mut reply = stanza::iq("error", id, to, None);
    reply.push_child(err);
    reply
}
