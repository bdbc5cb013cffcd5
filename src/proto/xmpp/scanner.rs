//! The byte-level scanner behind the [`Framer`](super::Framer): finds where the stream
//! header, each top-level element and the close tag end (RFC 6120 §4), and enforces the
//! RFC 6120 §11.1 restrictions that can be seen without parsing (no DTD, entity
//! declarations, comments, processing instructions or undefined entity references).
//!
//! All state lives in [`Scanner`] between calls, so scanning resumes at the exact byte
//! where the previous chunk ended; positions are absolute stream offsets so the framer can
//! discard consumed bytes from the front of its buffer without invalidating them.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::element::{self, ParseError};
use super::framer::{FrameError, FramerConfig, StreamHeader, malformed};

/// A complete frame found by the scanner, as absolute stream offsets.
#[derive(Debug)]
pub(super) struct Ready {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: ReadyKind,
}

/// What a [`Ready`] frame is.
#[derive(Debug)]
pub(super) enum ReadyKind {
    Open(StreamHeader),
    Element,
    Close,
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

/// Incremental scanner state; see the module docs.
#[derive(Debug)]
pub(super) struct Scanner {
    pub(super) cfg: FramerConfig,
    /// Absolute offset of the next byte to scan.
    pub(super) pos: usize,
    phase: Phase,
    depth: usize,
    lex: Lex,
    /// Absolute offset where the frame in progress starts.
    pub(super) frame_start: Option<usize>,
    /// Absolute offset of the `<` of the tag in progress.
    tag_start: usize,
    header_name: Vec<u8>,
    seen_decl: bool,
}

impl Scanner {
    /// A scanner expecting a stream header at absolute offset `pos`.
    pub(super) fn new(cfg: FramerConfig, pos: usize) -> Self {
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
    pub(super) fn scan(&mut self, data: &[u8], base: usize) -> Result<Option<Ready>, FrameError> {
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
        let Some(i) = find_any(rest, [b'<', b'&']) else {
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
            let step = match quote {
                Some(q) => value_step(&rest[i..], q)?,
                None => markup_step(&rest[i..], slash)?,
            };
            match step {
                TagStep::More(n, q, s) => (i, quote, slash) = (i + n, q, s),
                TagStep::Ref(n) => {
                    self.pos += i + n;
                    let buf = [0; 12];
                    self.lex = Lex::Ref { quote, len: 0, buf };
                    return Ok(None);
                }
                TagStep::End(n, self_closing) => {
                    self.pos += i + n;
                    self.lex = Lex::Content;
                    return Ok(Some(self_closing));
                }
            }
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

/// Progress through a start tag: bytes consumed and the state after them.
enum TagStep {
    /// Consumed; now in value quoted by `Option<u8>`, last byte '/' per `bool`.
    More(usize, Option<u8>, bool),
    /// Consumed up to and including a `&` inside a value.
    Ref(usize),
    /// Consumed up to and including the closing `>`; `bool` is self-closing.
    End(usize, bool),
}

/// Inside an attribute value, which may hold '>' and "/>": only the closing quote, a
/// reference or a forbidden '<' matter.
fn value_step(s: &[u8], quote: u8) -> Result<TagStep, FrameError> {
    match find_any(s, [quote, b'&', b'<']) {
        None => Ok(TagStep::More(s.len(), Some(quote), false)),
        Some(j) if s[j] == b'<' => Err(malformed("'<' in attribute value")),
        Some(j) if s[j] == b'&' => Ok(TagStep::Ref(j + 1)),
        Some(j) => Ok(TagStep::More(j + 1, None, false)),
    }
}

/// Outside values only quotes and the tag end matter; `slash` carries whether the byte
/// before a `>` (possibly in an earlier chunk) was '/'.
fn markup_step(s: &[u8], slash: bool) -> Result<TagStep, FrameError> {
    let Some(j) = find_any(s, [b'>', b'"', b'\'', b'<']) else {
        return Ok(TagStep::More(s.len(), None, s.last() == Some(&b'/')));
    };
    let slash = if j > 0 { s[j - 1] == b'/' } else { slash };
    match s[j] {
        b'>' => Ok(TagStep::End(j + 1, slash)),
        b'<' => Err(malformed("'<' in start tag")),
        q => Ok(TagStep::More(j + 1, Some(q), false)),
    }
}

/// Index of the first byte of `s` equal to any of `needles`, testing eight bytes per step
/// (SWAR) because stanza text, attribute values and tag bodies are most of a stream.
pub(super) fn find_any<const N: usize>(s: &[u8], needles: [u8; N]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let words = s.chunks_exact(8);
    let tail = s.len() - words.remainder().len();
    for (k, chunk) in words.enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let w = u64::from_le_bytes(bytes);
        // Flags bytes equal to a needle; only the lowest flag is exact, and it is the one
        // used.
        let m = needles.iter().fold(0, |m, &n| {
            let x = w ^ (LO * u64::from(n));
            m | (x.wrapping_sub(LO) & !x & HI)
        });
        if m != 0 {
            return Some(k * 8 + (m.trailing_zeros() / 8) as usize);
        }
    }
    s[tail..]
        .iter()
        .position(|x| needles.contains(x))
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
