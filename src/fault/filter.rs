//! The proxy's XMPP stanza filter: frames one direction of a plaintext XMPP stream with the
//! project's sans-io [`Framer`] and removes the top-level `<message/>` stanzas a caller
//! selects, passing every other byte through unchanged (inter-frame whitespace included).
//!
//! Like `proto`, this file does no I/O and reads no clock: bytes in, bytes out, and a
//! decision callback per message. The framer discards whitespace between frames, so the
//! filter keeps its own copy of the bytes not yet emitted and cuts each frame out of that
//! copy; what it forwards is therefore the exact input minus the dropped stanzas.
//!
//! The filter gives up (and forwards everything from then on, unchanged) when it can no
//! longer follow the stream: after STARTTLS `<proceed/>` or XEP-0138 `<compressed/>` (the
//! bytes stop being XML), or when the framer rejects the stream. RFC 6120 §6.4.6: after SASL
//! `<success/>` the server opens a new stream, so the framer is restarted there.

use bytes::{Buf, BytesMut};

use crate::proto::xmpp::element::{self, Element, NsContext};
use crate::proto::xmpp::{Frame, Framer, FramerConfig, ns};

/// The namespace of server-to-server streams (RFC 6120 §4.8.3), whose `<message/>` is a
/// stanza too.
const SERVER_NS: &str = "jabber:server";
/// Stream compression (XEP-0138 §5): `<compressed/>` switches the stream to compressed bytes.
const COMPRESS_NS: &str = "http://jabber.org/protocol/compress";

/// Why the filter stopped following the stream and now forwards bytes unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// STARTTLS succeeded: TLS records follow, which the proxy cannot read.
    Tls,
    /// Stream compression started.
    Compression,
    /// The framer rejected the bytes (malformed stream, or a frame over its size limit).
    Unframeable(String),
}

/// Frames a byte stream and drops selected top-level messages; see the module docs.
#[derive(Debug)]
pub struct XmppFilter {
    framer: Framer,
    /// Bytes fed but not emitted yet: the incomplete frame at the end of the stream.
    pending: BytesMut,
    /// Namespace bindings of the current stream header, for parsing messages.
    ctx: NsContext,
    bypass: Option<Bypass>,
}

impl XmppFilter {
    /// A filter at the start of a stream. `cfg` bounds the incomplete frame it buffers; a
    /// larger frame makes it [`Bypass::Unframeable`] rather than grow.
    pub fn new(cfg: FramerConfig) -> Self {
        Self {
            framer: Framer::new(cfg),
            pending: BytesMut::new(),
            ctx: NsContext::client(),
            bypass: None,
        }
    }

    /// Why the filter forwards everything unchanged, if it does.
    pub fn bypassed(&self) -> Option<&Bypass> {
        self.bypass.as_ref()
    }

    /// Bytes held back because they end in an incomplete frame.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Consumes `input` and appends to `out` what may be forwarded now. `drop_it` is asked
    /// about every complete top-level `<message/>` (parsed element and exact bytes); when it
    /// returns true the stanza is left out. Returns how many stanzas were dropped.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        drop_it: &mut dyn FnMut(&Element, &[u8]) -> bool,
    ) -> usize {
        if self.bypass.is_some() {
            out.extend_from_slice(input);
            return 0;
        }
        self.pending.extend_from_slice(input);
        if let Err(e) = self.framer.feed(input) {
            self.give_up(Bypass::Unframeable(e.to_string()), out);
            return 0;
        }
        let mut dropped = 0;
        while self.bypass.is_none() {
            match self.framer.next_frame() {
                Ok(Some(frame)) => dropped += usize::from(self.emit(&frame, out, drop_it)),
                Ok(None) => break,
                Err(e) => self.give_up(Bypass::Unframeable(e.to_string()), out),
            }
        }
        if self.bypass.is_none() {
            // Whitespace after the last complete frame is a keepalive (RFC 6120 §4.6.1):
            // forward it now rather than with the next stanza.
            let ws = leading_whitespace(&self.pending);
            out.extend_from_slice(&self.pending[..ws]);
            self.pending.advance(ws);
        }
        dropped
    }

    /// Forwards (or drops) one frame and the whitespace before it; true when dropped.
    fn emit(
        &mut self,
        frame: &Frame,
        out: &mut BytesMut,
        drop_it: &mut dyn FnMut(&Element, &[u8]) -> bool,
    ) -> bool {
        let raw = frame.raw();
        let ws = leading_whitespace(&self.pending);
        if !self.pending[ws..].starts_with(raw) {
            // Only whitespace may sit between frames; anything else means the copy and the
            // framer disagree, and forwarding unchanged is the only safe course.
            self.give_up(Bypass::Unframeable("lost frame alignment".into()), out);
            return false;
        }
        let mut dropped = false;
        let mut after = None;
        match frame {
            Frame::Open { header, .. } => self.ctx = header.ns_context(),
            Frame::Element { .. } => match self.classify(raw) {
                Some(Kind::Message(el)) => dropped = drop_it(&el, raw),
                Some(other) => after = Some(other),
                None => {}
            },
            Frame::Close { .. } => {}
        }
        let keep = if dropped { ws } else { ws + raw.len() };
        out.extend_from_slice(&self.pending[..keep]);
        self.pending.advance(ws + raw.len());
        match after {
            Some(Kind::SaslSuccess) => self.framer.restart(),
            Some(Kind::TlsProceed) => self.give_up(Bypass::Tls, out),
            Some(Kind::Compressed) => self.give_up(Bypass::Compression, out),
            _ => {}
        }
        dropped
    }

    /// What a top-level element means to the filter; `None` for anything it passes blindly.
    fn classify(&self, raw: &[u8]) -> Option<Kind> {
        let name = local_name(raw)?;
        if !matches!(name, b"message" | b"success" | b"proceed" | b"compressed") {
            return None;
        }
        let el = element::parse(raw, &self.ctx).ok()?;
        let is_stanza_ns = el.ns == ns::CLIENT || el.ns == SERVER_NS;
        if el.name == "message" && is_stanza_ns {
            Some(Kind::Message(el))
        } else if el.is("success", ns::SASL) {
            Some(Kind::SaslSuccess)
        } else if el.is("proceed", ns::TLS) {
            Some(Kind::TlsProceed)
        } else if el.is("compressed", COMPRESS_NS) {
            Some(Kind::Compressed)
        } else {
            None
        }
    }

    /// Stops filtering: flushes what is held and forwards everything from now on.
    fn give_up(&mut self, why: Bypass, out: &mut BytesMut) {
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        self.bypass = Some(why);
    }
}

/// The top-level elements the filter acts on.
enum Kind {
    Message(Element),
    SaslSuccess,
    TlsProceed,
    Compressed,
}

/// Length of the XML whitespace (S production) at the start of `b`.
fn leading_whitespace(b: &[u8]) -> usize {
    b.iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .count()
}

/// The local name of the element starting `raw` (after any prefix), a cheap pre-check that
/// spares parsing the stanzas the filter never acts on.
fn local_name(raw: &[u8]) -> Option<&[u8]> {
    let rest = raw.strip_prefix(b"<")?;
    let end = rest
        .iter()
        .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>'))?;
    let qname = &rest[..end];
    Some(match qname.iter().rposition(|c| *c == b':') {
        Some(colon) => &qname[colon + 1..],
        None => qname,
    })
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
