//! Cuts an XMPP byte stream into frames: the stream header, each top-level element, and the
//! stream close tag (RFC 6120 §4.2, §4.4, §4.7).
//!
//! The scanner is a byte-level state machine that keeps its position and lexical state
//! between calls, so each byte is scanned once however the stream is chunked (O(n); a
//! `restart` rescans only what was buffered past the restart point). It tracks just what
//! framing needs (tags, quotes, CDATA, nesting depth, entity references) and leaves full
//! well-formedness to [`element::parse`]. It does enforce RFC 6120 §11.1 restricted XML at
//! the byte level: no DTD, no entity declarations, no comments, no processing instructions
//! other than the leading XML declaration, and no reference to an entity other than the
//! five predefined ones.
//!
//! Memory is bounded: an incomplete frame larger than [`FramerConfig::max_stanza_bytes`] is
//! an error and its bytes are dropped, and whitespace between frames (RFC 6120 §4.6.1
//! keepalives) is discarded as soon as nothing queued precedes it.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use quick_xml::Reader;
use quick_xml::events::Event;

use super::element::{self, NsContext, ParseError};

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

fn malformed(reason: &str) -> FrameError {
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

#[derive(Debug)]
struct Ready {
    start: usize,
    end: usize,
    kind: ReadyKind,
}

#[derive(Debug)]
enum ReadyKind {
    Open(StreamHeader),
    Element,
    Close,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the stream header: whitespace, an XML declaration, the header.
    Prolog,
    /// Inside the stream root.
    Stream,
    /// After the close tag: only whitespace may follow.
    Closed,
}

/// Lexical state between bytes; small and `Copy` so a split anywhere resumes exactly.
#[derive(Debug, Clone, Copy)]
enum Lex {
    Content,
    /// Just after `<`.
    Lt,
    StartTag {
        quote: Option<u8>,
        slash: bool,
    },
    EndTag,
    /// After `<!`, collecting the keyword.
    Bang {
        len: u8,
        buf: [u8; 7],
    },
    CData {
        brackets: u8,
    },
    Pi {
        question: bool,
    },
    /// After `&`, collecting the reference name; `quote` is the attribute quote, if any.
    Ref {
        quote: Option<u8>,
        len: u8,
        buf: [u8; 12],
    },
}

#[derive(Debug)]
struct Scanner {
    cfg: FramerConfig,
    /// Absolute offset of the next byte to scan.
    pos: usize,
    phase: Phase,
    depth: usize,
    lex: Lex,
    /// Absolute offset where the frame in progress starts.
    frame_start: Option<usize>,
    /// Absolute offset of the `<` of the tag in progress.
    tag_start: usize,
    header_name: Vec<u8>,
    seen_decl: bool,
}

impl Scanner {
    fn new(cfg: FramerConfig, pos: usize) -> Self {
        Self {
            cfg,
            pos,
            phase: Phase::Prolog,
            depth: 0,
            lex: Lex::Content,
            frame_start: None,
            tag_start: pos,
            header_name: Vec::new(),
            seen_decl: false,
        }
    }

    /// Scans until one frame completes or the data runs out.
    fn scan(&mut self, data: &[u8], base: usize) -> Result<Option<Ready>, FrameError> {
        while self.pos < base + data.len() {
            let rest = &data[self.pos - base..];
            let done = self.step(rest, data, base)?;
            if let Some(start) = self.frame_start
                && self.pos - start > self.cfg.max_stanza_bytes
            {
                return Err(FrameError::TooLarge {
                    limit: self.cfg.max_stanza_bytes,
                });
            }
            if done.is_some() {
                return Ok(done);
            }
        }
        Ok(None)
    }

    /// Consumes at least one byte of `rest` (non-empty).
    fn step(&mut self, rest: &[u8], data: &[u8], base: usize) -> Result<Option<Ready>, FrameError> {
        match self.lex {
            Lex::Content => self.content(rest).map(|()| None),
            Lex::Lt => self.lt(rest[0]).map(|()| None),
            Lex::StartTag { quote, slash } => match self.start_tag(rest, quote, slash)? {
                Some(self_closing) => self.on_start_tag(self_closing, data, base),
                None => Ok(None),
            },
            Lex::EndTag => self.end_tag(rest, data, base),
            Lex::Bang { len, buf } => self.bang(rest[0], len, buf).map(|()| None),
            Lex::CData { brackets } => {
                self.cdata(rest, brackets);
                Ok(None)
            }
            Lex::Pi { question } => self.pi(rest, question, data, base).map(|()| None),
            Lex::Ref { quote, len, buf } => self.reference(rest[0], quote, len, buf).map(|()| None),
        }
    }

    fn content(&mut self, rest: &[u8]) -> Result<(), FrameError> {
        if self.depth >= 2 {
            self.stanza_content(rest);
            return Ok(());
        }
        // Between frames only whitespace is allowed (RFC 6120 §4.6.1, §11.7).
        let n = rest.iter().take_while(|b| is_space(**b)).count();
        self.pos += n;
        match rest.get(n) {
            None => Ok(()),
            Some(b'<') if self.phase != Phase::Closed => {
                self.tag_start = self.pos;
                self.frame_start.get_or_insert(self.pos);
                self.pos += 1;
                self.lex = Lex::Lt;
                Ok(())
            }
            Some(b'<') => Err(malformed("data after the stream close tag")),
            Some(_) => Err(malformed("character data outside a stanza")),
        }
    }

    /// Character data inside a stanza, up to the next markup or reference.
    fn stanza_content(&mut self, rest: &[u8]) {
        let Some(i) = find3(rest, b'<', b'&', b'<') else {
            self.pos += rest.len();
            return;
        };
        self.pos += i + 1;
        self.lex = if rest[i] == b'<' {
            self.tag_start = self.pos - 1;
            Lex::Lt
        } else {
            Lex::Ref {
                quote: None,
                len: 0,
                buf: [0; 12],
            }
        };
    }

    fn lt(&mut self, b: u8) -> Result<(), FrameError> {
        self.pos += 1;
        self.lex = match b {
            b'/' => Lex::EndTag,
            b'!' => Lex::Bang {
                len: 0,
                buf: [0; 7],
            },
            b'?' if self.phase == Phase::Prolog && !self.seen_decl => Lex::Pi { question: false },
            b'?' => return Err(malformed("processing instruction")),
            b if is_name_start(b) => Lex::StartTag {
                quote: None,
                slash: false,
            },
            _ => return Err(malformed("invalid character after '<'")),
        };
        Ok(())
    }

    /// Scans a start tag; `Some(self_closing)` when its `>` is reached.
    fn start_tag(
        &mut self,
        rest: &[u8],
        mut quote: Option<u8>,
        mut slash: bool,
    ) -> Result<Option<bool>, FrameError> {
        let mut i = 0;
        while i < rest.len() {
            if let Some(q) = quote {
                // Attribute values may hold '>' and "/>"; only the closing quote matters.
                match scan_value(&rest[i..], q)? {
                    None => i = rest.len(),
                    Some((n, true)) => {
                        self.pos += i + n;
                        self.lex = Lex::Ref {
                            quote,
                            len: 0,
                            buf: [0; 12],
                        };
                        return Ok(None);
                    }
                    Some((n, false)) => (i, quote, slash) = (i + n, None, false),
                }
                continue;
            }
            let b = rest[i];
            i += 1;
            match b {
                b'>' => {
                    self.pos += i;
                    self.lex = Lex::Content;
                    return Ok(Some(slash));
                }
                b'"' | b'\'' => quote = Some(b),
                b'<' => return Err(malformed("'<' in start tag")),
                _ => {}
            }
            slash = b == b'/';
        }
        self.pos += i;
        self.lex = Lex::StartTag { quote, slash };
        Ok(None)
    }

    fn on_start_tag(
        &mut self,
        self_closing: bool,
        data: &[u8],
        base: usize,
    ) -> Result<Option<Ready>, FrameError> {
        if self.phase == Phase::Prolog {
            if self_closing {
                return Err(malformed("self-closing stream header"));
            }
            let header = parse_header(&data[self.tag_start - base..self.pos - base])?;
            self.header_name = header.name.clone().into_bytes();
            self.phase = Phase::Stream;
            self.depth = 1;
            return Ok(Some(self.finish(ReadyKind::Open(header))));
        }
        // An empty element sits one level below its parent just like a non-empty one.
        if self.depth + 1 > self.cfg.max_depth {
            return Err(FrameError::TooDeep {
                limit: self.cfg.max_depth,
            });
        }
        if self_closing {
            return Ok((self.depth == 1).then(|| self.finish(ReadyKind::Element)));
        }
        self.depth += 1;
        Ok(None)
    }

    fn end_tag(
        &mut self,
        rest: &[u8],
        data: &[u8],
        base: usize,
    ) -> Result<Option<Ready>, FrameError> {
        match rest
            .iter()
            .position(|&b| matches!(b, b'>' | b'<' | b'"' | b'\''))
        {
            Some(i) if rest[i] == b'>' => {
                self.pos += i + 1;
                self.lex = Lex::Content;
                self.on_end_tag(data, base)
            }
            Some(_) => Err(malformed("invalid character in end tag")),
            None => {
                self.pos += rest.len();
                Ok(None)
            }
        }
    }

    fn on_end_tag(&mut self, data: &[u8], base: usize) -> Result<Option<Ready>, FrameError> {
        match self.depth {
            0 => Err(malformed("end tag before the stream header")),
            1 => {
                let tag = &data[self.tag_start - base + 2..self.pos - base - 1];
                if trim_end(tag) != self.header_name.as_slice() {
                    return Err(malformed("end tag does not match the stream header"));
                }
                self.phase = Phase::Closed;
                self.depth = 0;
                Ok(Some(self.finish(ReadyKind::Close)))
            }
            _ => {
                self.depth -= 1;
                Ok((self.depth == 1).then(|| self.finish(ReadyKind::Element)))
            }
        }
    }

    fn finish(&mut self, kind: ReadyKind) -> Ready {
        let start = self.frame_start.take().unwrap_or(self.tag_start);
        Ready {
            start,
            end: self.pos,
            kind,
        }
    }

    fn bang(&mut self, b: u8, mut len: u8, mut buf: [u8; 7]) -> Result<(), FrameError> {
        self.pos += 1;
        buf[usize::from(len)] = b.to_ascii_uppercase();
        len += 1;
        let seen = &buf[..usize::from(len)];
        self.lex = match seen {
            b"--" => return Err(malformed("comment")),
            b"DOCTYPE" => return Err(FrameError::Doctype),
            b"ENTITY" => return Err(FrameError::Entity),
            b"[CDATA[" if self.depth >= 2 => Lex::CData { brackets: 0 },
            b"[CDATA[" => return Err(malformed("cdata section outside a stanza")),
            _ if [&b"--"[..], b"DOCTYPE", b"ENTITY", b"[CDATA["]
                .iter()
                .any(|k| k.starts_with(seen)) =>
            {
                Lex::Bang { len, buf }
            }
            _ => return Err(malformed("invalid markup declaration")),
        };
        Ok(())
    }

    fn cdata(&mut self, rest: &[u8], mut brackets: u8) {
        for (i, &b) in rest.iter().enumerate() {
            match b {
                b']' => brackets = (brackets + 1).min(2),
                b'>' if brackets == 2 => {
                    self.pos += i + 1;
                    self.lex = Lex::Content;
                    return;
                }
                _ => brackets = 0,
            }
        }
        self.pos += rest.len();
        self.lex = Lex::CData { brackets };
    }

    fn pi(
        &mut self,
        rest: &[u8],
        mut question: bool,
        data: &[u8],
        base: usize,
    ) -> Result<(), FrameError> {
        for (i, &b) in rest.iter().enumerate() {
            if question && b == b'>' {
                self.pos += i + 1;
                let target = &data[self.tag_start - base + 2..];
                if !(target.starts_with(b"xml") && target.get(3).copied().is_some_and(is_space)) {
                    return Err(malformed("processing instruction"));
                }
                self.seen_decl = true;
                self.lex = Lex::Content;
                return Ok(());
            }
            question = b == b'?';
        }
        self.pos += rest.len();
        self.lex = Lex::Pi { question };
        Ok(())
    }

    fn reference(
        &mut self,
        b: u8,
        quote: Option<u8>,
        mut len: u8,
        mut buf: [u8; 12],
    ) -> Result<(), FrameError> {
        self.pos += 1;
        if b == b';' {
            check_reference(&buf[..usize::from(len)])?;
            self.lex = match quote {
                Some(_) => Lex::StartTag {
                    quote,
                    slash: false,
                },
                None => Lex::Content,
            };
            return Ok(());
        }
        if !(b.is_ascii_alphanumeric() || matches!(b, b'#' | b'_' | b'-' | b'.' | b':' | 0x80..)) {
            return Err(malformed("bare '&'"));
        }
        if usize::from(len) == buf.len() {
            // Longer than any predefined entity or character reference.
            return Err(check_reference(&buf).err().unwrap_or(FrameError::Entity));
        }
        buf[usize::from(len)] = b;
        len += 1;
        self.lex = Lex::Ref { quote, len, buf };
        Ok(())
    }
}

/// Accepts the five predefined entities (XML 1.0 §4.6) and syntactically valid character
/// references; anything else names an entity no XMPP stream may define.
fn check_reference(name: &[u8]) -> Result<(), FrameError> {
    if matches!(name, b"lt" | b"gt" | b"amp" | b"quot" | b"apos") {
        return Ok(());
    }
    let digits_ok = match name {
        [b'#', b'x', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        _ => return Err(FrameError::Entity),
    };
    if digits_ok && name.len() <= 9 {
        Ok(())
    } else {
        Err(malformed("invalid character reference"))
    }
}

/// Scans an attribute value up to and including its closing quote or a `&`:
/// `Some((consumed, at_reference))`, `None` when the value continues past `s`.
fn scan_value(s: &[u8], quote: u8) -> Result<Option<(usize, bool)>, FrameError> {
    match find3(s, quote, b'&', b'<') {
        None => Ok(None),
        Some(j) if s[j] == b'<' => Err(malformed("'<' in attribute value")),
        Some(j) => Ok(Some((j + 1, s[j] == b'&'))),
    }
}

/// Index of the first byte of `s` equal to `a`, `b` or `c`, testing eight bytes per step
/// (SWAR) because stanza text and attribute values are most of a stream's bytes.
fn find3(s: &[u8], a: u8, b: u8, c: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Flags bytes equal to `n`; only the lowest flag is exact, which is the one used.
    let hits = |w: u64, n: u8| {
        let x = w ^ (LO * u64::from(n));
        x.wrapping_sub(LO) & !x & HI
    };
    let words = s.chunks_exact(8);
    let tail = s.len() - words.remainder().len();
    for (k, chunk) in words.enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let w = u64::from_le_bytes(bytes);
        let m = hits(w, a) | hits(w, b) | hits(w, c);
        if m != 0 {
            return Some(k * 8 + (m.trailing_zeros() / 8) as usize);
        }
    }
    s[tail..]
        .iter()
        .position(|&x| x == a || x == b || x == c)
        .map(|p| p + tail)
}

fn parse_header(tag: &[u8]) -> Result<StreamHeader, FrameError> {
    let mut reader = Reader::from_reader(tag);
    let Ok(Event::Start(start)) = reader.read_event() else {
        return Err(malformed("invalid stream header"));
    };
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|_| malformed("stream header name is not utf-8"))?
        .to_owned();
    let attrs = element::raw_attrs(&start).map_err(|e| match e {
        ParseError::Entity => FrameError::Entity,
        other => FrameError::Malformed {
            reason: format!("stream header: {other}"),
        },
    })?;
    Ok(StreamHeader { name, attrs })
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if !is_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

#[cfg(test)]
#[path = "framer_tests.rs"]
mod tests;
