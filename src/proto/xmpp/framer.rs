//! Cuts an XMPP byte stream into frames: the stream header, each top-level element, and the
//! stream close tag (RFC 6120 §4.2, §4.4, §4.7).
//!
//! The scanner (`scanner.rs`) is a byte-level state machine that keeps its position and
//! lexical state between calls, so each byte is scanned once however the stream is chunked
//! (O(n); a `restart` rescans only what was buffered past the restart point). It tracks
//! just what framing needs (tags, quotes, CDATA, nesting depth, entity references) and
//! leaves full well-formedness to [`element::parse`](super::element::parse). It does
//! enforce RFC 6120 §11.1 restricted XML at the byte level: no DTD, no entity declarations,
//! no comments, no processing instructions other than the leading XML declaration, and no
//! reference to an entity other than the five predefined ones.
//!
//! Memory is bounded: an incomplete frame larger than [`FramerConfig::max_stanza_bytes`] is
//! an error and its bytes are dropped, and whitespace between frames (RFC 6120 §4.6.1
//! keepalives) is discarded as soon as nothing queued precedes it.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::element::NsContext;
use super::scanner::{Ready, ReadyKind, Scanner};

/// Limits applied by the [`Framer`].
#[derive(Debug, Clone)]
pub struct FramerConfig {
    /// Largest frame (stream header or top-level element) accepted, in bytes.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting accepted, counting the stream root as depth 1.
    pub max_depth: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        Self {
            max_stanza_bytes: 1024 * 1024,
            max_depth: 128,
        }
    }
}

/// The attributes of a `<stream:stream>` open tag (RFC 6120 §4.7).
#[derive(Debug, Clone)]
pub struct StreamHeader {
    /// The qualified name as written, e.g. `stream:stream`; the close tag must repeat it.
    pub name: String,
    /// Every attribute in document order, namespace declarations included, values unescaped.
    pub attrs: Vec<(String, String)>,
}

impl StreamHeader {
    /// The value of attribute `k` as written (`xmlns:stream`, `xml:lang`, `id`).
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// The stream id (RFC 6120 §4.7.3).
    pub fn id(&self) -> Option<&str> {
        self.attr("id")
    }

    /// The `from` address (RFC 6120 §4.7.1).
    pub fn from(&self) -> Option<&str> {
        self.attr("from")
    }

    /// The `to` address (RFC 6120 §4.7.2).
    pub fn to(&self) -> Option<&str> {
        self.attr("to")
    }

    /// The stream version (RFC 6120 §4.7.5).
    pub fn version(&self) -> Option<&str> {
        self.attr("version")
    }

    /// The default language (RFC 6120 §4.7.4).
    pub fn lang(&self) -> Option<&str> {
        self.attr("xml:lang")
    }

    /// The namespace bindings the header declares, inherited by every stanza in the stream.
    pub fn ns_context(&self) -> NsContext {
        let mut ctx = NsContext::new("");
        for (k, v) in &self.attrs {
            if k == "xmlns" {
                ctx.set_default(v);
            } else if let Some(prefix) = k.strip_prefix("xmlns:") {
                ctx.bind(prefix, v);
            }
        }
        ctx
    }
}

/// One unit cut from the stream, with its exact bytes.
#[derive(Debug, Clone)]
pub enum Frame {
    /// The stream header, including any XML declaration before it.
    Open {
        /// Bytes from the XML declaration (or the header's `<`) to the header's `>`.
        raw: Bytes,
        /// The parsed header.
        header: StreamHeader,
    },
    /// A complete child of the stream root (a stanza or a nonza).
    Element {
        /// The element's bytes, from its `<` to its final `>`.
        raw: Bytes,
    },
    /// The stream close tag.
    Close {
        /// The close tag's bytes.
        raw: Bytes,
    },
}

impl Frame {
    /// The frame's bytes as received.
    pub fn raw(&self) -> &[u8] {
        match self {
            Self::Open { raw, .. } | Self::Element { raw } | Self::Close { raw } => raw,
        }
    }
}

/// Why the stream cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A document type declaration (RFC 6120 §11.1).
    #[error("document type declaration is forbidden")]
    Doctype,
    /// An entity declaration, or a reference to an entity other than the predefined five.
    #[error("entity declarations and undefined entity references are forbidden")]
    Entity,
    /// A frame larger than the configured limit (RFC 6120 §13.12 resource exhaustion).
    #[error("frame exceeds {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Element nesting deeper than the configured limit.
    #[error("element nesting exceeds depth {limit}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// Anything else that cannot be part of an XMPP stream.
    #[error("malformed stream: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
}

pub(super) fn malformed(reason: &str) -> FrameError {
    FrameError::Malformed {
        reason: reason.to_owned(),
    }
}

/// Incremental stream framer; see the module docs.
///
/// `feed` only fails on [`FrameError::TooLarge`] (or after an earlier one); other errors
/// surface from `next_frame` after every frame that precedes the offending bytes, so a
/// `<stream:error/>` followed by garbage is still delivered, and bytes scanned too early
/// (a new stream header arriving with `<success/>`) can be rescanned by `restart`.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    /// Absolute stream offset of `buf[0]`.
    base: usize,
    scanner: Scanner,
    queue: VecDeque<Ready>,
    /// A syntax error found after the queued frames; cleared by `restart`.
    error: Option<FrameError>,
    /// A size error: the offending bytes are gone, so nothing can resume.
    fatal: Option<FrameError>,
}
impl Framer {
    /// A framer expecting a stream header (optionally preceded by an XML declaration).
    pub fn new(cfg: FramerConfig) -> Self {
        Self {
            buf: BytesMut::new(),
            base: 0,
            scanner: Scanner::new(cfg, 0),
            queue: VecDeque::new(),
            error: None,
            fatal: None,
        }
    }

    /// Appends received bytes and scans them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(bytes);
        self.pump();
        match &self.fatal {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(ready) = self.queue.pop_front() {
            let frame = self.take(ready);
            self.compact();
            return Ok(Some(frame));
        }
        match self.fatal.as_ref().or(self.error.as_ref()) {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// Expects a new stream header right after the last frame returned (RFC 6120 §5.4.3.3
    /// after STARTTLS, §6.4.6 after SASL success). Bytes after that frame stay buffered and
    /// are rescanned as the new stream; frames queued from them are dropped.
    pub fn restart(&mut self) {
        let cfg = self.scanner.cfg.clone();
        self.scanner = Scanner::new(cfg, self.base);
        self.queue.clear();
        self.error = None;
        if self.fatal.is_none() {
            self.pump();
        }
    }

    /// Bytes currently held: frames not yet returned plus the incomplete tail.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn pump(&mut self) {
        while self.error.is_none() {
            match self.scanner.scan(&self.buf, self.base) {
                Ok(Some(ready)) => self.queue.push_back(ready),
                Ok(None) => break,
                Err(e @ FrameError::TooLarge { .. }) => return self.set_fatal(e),
                Err(e) => self.error = Some(e),
            }
        }
        self.compact();
        self.check_stalled_tail();
    }

    /// After a deferred error the scanner stops, yet bytes keep arriving for a possible
    /// `restart`; they are bounded by the same limit as a frame.
    fn check_stalled_tail(&mut self) {
        if self.error.is_none() {
            return;
        }
        let tail_start = self.queue.back().map_or(self.base, |r| r.end);
        let limit = self.scanner.cfg.max_stanza_bytes;
        if self.base + self.buf.len() - tail_start > limit {
            self.set_fatal(FrameError::TooLarge { limit });
        }
    }

    fn set_fatal(&mut self, e: FrameError) {
        let keep = self.queue.back().map_or(self.base, |r| r.end) - self.base;
        self.buf.truncate(keep);
        self.fatal = Some(e);
    }

    fn take(&mut self, ready: Ready) -> Frame {
        self.buf.advance(ready.start - self.base);
        // A copy rather than `split_to`: a frame the caller keeps (a transcript) must not
        // pin the framer's whole buffer, and the buffer stays unshared so it is reused.
        let len = ready.end - ready.start;
        let raw = Bytes::copy_from_slice(&self.buf[..len]);
        self.buf.advance(len);
        self.base = ready.end;
        match ready.kind {
            ReadyKind::Open(header) => Frame::Open { raw, header },
            ReadyKind::Element => Frame::Element { raw },
            ReadyKind::Close => Frame::Close { raw },
        }
    }

    /// Drops scanned inter-frame whitespace once no queued frame needs the bytes before it.
    fn compact(&mut self) {
        if !self.queue.is_empty() || self.error.is_some() || self.fatal.is_some() {
            return;
        }
        let keep_from = self.scanner.frame_start.unwrap_or(self.scanner.pos);
        self.buf.advance(keep_from - self.base);
        self.base = keep_from;
    }
}

#[cfg(test)]
#[path = "framer_tests.rs"]
mod tests;
