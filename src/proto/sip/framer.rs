//! Cuts SIP messages out of transport bytes (RFC 3261 §18.3).
//!
//! - Streams (TCP, TLS): the header block runs to the first CRLFCRLF; Content-Length
//!   (`l` compact form, any case, whitespace around the colon) then gives the body size.
//!   Content-Length is mandatory on streams, and a missing, malformed, repeated or negative
//!   one is fatal: nothing after it can be framed. CRLFs between messages (RFC 5626
//!   keep-alives) are skipped.
//! - Datagrams (UDP): one message per datagram ([`frame_datagram`]). A Content-Length, if
//!   present, bounds the body: extra octets are discarded, too few is an error.
//!
//! Memory is bounded by [`FramerConfig::max_message_bytes`]: a message whose header block
//! or announced total exceeds it is rejected as soon as that is known (before its body is
//! buffered), and the framer never holds more than twice the limit, however large the
//! slice handed to [`Framer::feed`]. Frames are the exact received bytes (evidence);
//! parsing them is [`Message::parse`](super::Message::parse)'s job.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::headers::{self, LengthError};
use super::message::header_end;

/// Limits applied by the framer.
#[derive(Debug, Clone)]
pub struct FramerConfig {
    /// Largest message (header block plus body) accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Why bytes cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message larger than the configured limit.
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A message on a stream without Content-Length (RFC 3261 §18.3).
    #[error("no Content-Length on a stream transport")]
    MissingContentLength,
    /// Content-Length is not a non-negative number, or is repeated.
    #[error("bad Content-Length: {0}")]
    BadContentLength(String),
    /// A datagram ends before the body Content-Length announces (RFC 3261 §18.3).
    #[error("datagram body has {present} bytes, Content-Length announces {announced}")]
    Truncated {
        /// Content-Length.
        announced: u64,
        /// Bytes after the header block.
        present: usize,
    },
    /// A datagram without the empty line that ends the header block.
    #[error("no end of headers in the datagram")]
    NoHeaderEnd,
}

fn length_error(e: LengthError) -> FrameError {
    match e {
        LengthError::Invalid(v) => FrameError::BadContentLength(format!("{v:?}")),
        LengthError::Multiple => FrameError::BadContentLength("repeated".into()),
        LengthError::Overflow => FrameError::BadContentLength("too large".into()),
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Between messages: CR and LF bytes are keep-alives.
    Idle,
    /// In a header block; no CRLFCRLF among the first `scanned` bytes.
    Header { scanned: usize },
    /// Header block read; the message ends at `total`.
    Body { total: usize },
}

/// Incremental stream framer; see the module docs.
#[derive(Debug)]
pub struct Framer {
    cfg: FramerConfig,
    buf: BytesMut,
    state: State,
    queue: VecDeque<Bytes>,
    fatal: Option<FrameError>,
    keepalive_bytes: u64,
}

impl Framer {
    /// A framer for one stream connection.
    pub fn new(cfg: FramerConfig) -> Self {
        Self {
            cfg,
            buf: BytesMut::new(),
            state: State::Idle,
            queue: VecDeque::new(),
            fatal: None,
            keepalive_bytes: 0,
        }
    }

    /// Appends received bytes and frames what they complete. Fails (for good) on the
    /// first framing error; frames completed before it stay available.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        // Pieces of at most the limit, framed one by one, keep the buffer bounded even
        // when a caller hands over a huge slice.
        for piece in bytes.chunks(self.cfg.max_message_bytes.max(1)) {
            self.buf.extend_from_slice(piece);
            self.pump();
            if let Some(e) = &self.fatal {
                return Err(e.clone());
            }
        }
        Ok(())
    }

    /// The next complete message, `Ok(None)` when more bytes are needed; the framing error
    /// once every message before it has been taken.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.queue.pop_front() {
            return Ok(Some(frame));
        }
        match &self.fatal {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// Bytes held for the message in progress.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// CR and LF bytes skipped between messages (keep-alives).
    pub fn keepalive_bytes(&self) -> u64 {
        self.keepalive_bytes
    }

    fn pump(&mut self) {
        while self.fatal.is_none() && self.step() {}
    }

    /// Advances the state machine once; false when more bytes are needed.
    fn step(&mut self) -> bool {
        let limit = self.cfg.max_message_bytes;
        match self.state {
            State::Idle => {
                let skip = self.buf.iter().take_while(|&&b| b == b'\r' || b == b'\n');
                let n = skip.count();
                self.buf.advance(n);
                self.keepalive_bytes += n as u64;
                if self.buf.is_empty() {
                    return false;
                }
                self.state = State::Header { scanned: 0 };
                true
            }
            State::Header { scanned } => {
                let from = scanned.saturating_sub(3);
                match header_end(&self.buf[from..]) {
                    Some(end) => self.header_complete(from + end),
                    None if self.buf.len() > limit => self.fail(FrameError::TooLarge { limit }),
                    None => {
                        self.state = State::Header {
                            scanned: self.buf.len(),
                        };
                        false
                    }
                }
            }
            State::Body { total } => {
                if self.buf.len() < total {
                    return false;
                }
                // A copy, so a frame kept as evidence does not pin the buffer.
                let frame = Bytes::copy_from_slice(&self.buf[..total]);
                self.buf.advance(total);
                self.queue.push_back(frame);
                self.state = State::Idle;
                true
            }
        }
    }

    fn header_complete(&mut self, end: usize) -> bool {
        let limit = self.cfg.max_message_bytes;
        let length = match headers::content_length(&self.buf[..end]) {
            Ok(Some(n)) => n,
            Ok(None) => return self.fail(FrameError::MissingContentLength),
            Err(e) => return self.fail(length_error(e)),
        };
        match usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(end))
        {
            Some(total) if total <= limit => {
                self.state = State::Body { total };
                true
            }
            _ => self.fail(FrameError::TooLarge { limit }),
        }
    }

    fn fail(&mut self, e: FrameError) -> bool {
        self.buf = BytesMut::new();
        self.fatal = Some(e);
        false
    }
}

/// Frames one datagram (RFC 3261 §18.3): `Ok(None)` for a keep-alive (only CR/LF),
/// otherwise the message bytes, cut at Content-Length when one is present.
pub fn frame_datagram(datagram: &[u8], cfg: &FramerConfig) -> Result<Option<Bytes>, FrameError> {
    let limit = cfg.max_message_bytes;
    if datagram.len() > limit {
        return Err(FrameError::TooLarge { limit });
    }
    let start = datagram
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let msg = &datagram[start..];
    if msg.is_empty() {
        return Ok(None);
    }
    let end = header_end(msg).ok_or(FrameError::NoHeaderEnd)?;
    let present = msg.len() - end;
    match headers::content_length(&msg[..end]).map_err(length_error)? {
        None => Ok(Some(Bytes::copy_from_slice(msg))),
        Some(n) if n > present as u64 => Err(FrameError::Truncated {
            announced: n,
            present,
        }),
        // `n <= present`, so it fits in usize.
        Some(n) => Ok(Some(Bytes::copy_from_slice(&msg[..end + n as usize]))),
    }
}

#[cfg(test)]
#[path = "framer_tests.rs"]
mod tests;
