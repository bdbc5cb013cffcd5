//! One SIP message (RFC 3261 §7): the exact bytes received, a header view of our own that
//! accepts every valid oddity (line folding, compact names, any case, whitespace around
//! colons), and the typed [`rsip`] view beside it (built on first use).
//!
//! Validity is decided here, not by `rsip`: a start line, the mandatory headers
//! (Via, From, To, Call-ID, CSeq; §8.1.1), a CSeq number below 2^31 whose method matches a
//! request's, and a Content-Length equal to the body. `rsip` is then handed a normalised
//! copy (one space in the start line, full header names, unfolded values); what it cannot
//! represent (an extension method, say) leaves [`Message::typed`] empty and the message
//! usable. A missing To tag is not a parse error: the checks judge it.

use bytes::Bytes;
use std::sync::OnceLock;

use super::headers::{self, HeaderField, LengthError, same_name, split_outside};
use super::values::{CSeq, Event, Method, NameAddr, SubscriptionState, Via};

/// Why bytes are not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The request or status line is malformed.
    #[error("bad start line: {0}")]
    StartLine(String),
    /// A version other than SIP/2.0 (RFC 4475 §3.1.2.16).
    #[error("unsupported version {0:?}")]
    Version(String),
    /// A header line or value is malformed.
    #[error("bad header: {0}")]
    Header(String),
    /// A mandatory header is absent (RFC 3261 §8.1.1).
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The header block has no terminating empty line.
    #[error("no empty line after the headers")]
    NoHeaderEnd,
    /// Content-Length is malformed, repeated, or disagrees with the body.
    #[error("bad Content-Length: {0}")]
    ContentLength(String),
    /// The CSeq method differs from the request method (RFC 4475 §3.1.2.17).
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch {
        /// The request-line method.
        method: String,
        /// The CSeq method.
        cseq: String,
    },
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method Request-URI SIP/2.0`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI as written.
        uri: String,
    },
    /// `SIP/2.0 Status-Code Reason-Phrase`.
    Response {
        /// The status code (100–699).
        code: u16,
        /// The reason phrase (possibly empty).
        reason: String,
    },
}

/// A parsed SIP message; see the module docs.
#[derive(Debug, Clone)]
pub struct Message {
    raw: Bytes,
    start: StartLine,
    headers: Vec<HeaderField>,
    body_start: usize,
    // Built on first use: most messages are never looked at through `rsip`, and building
    // the view (a normalised copy parsed again) was a fifth of a transaction's CPU.
    typed: OnceLock<Option<rsip::SipMessage>>,
}

/// The offset of the first byte after the CRLFCRLF that ends the header block.
pub(crate) fn header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

impl Message {
    /// Parses one complete message (as cut by the [`Framer`](super::Framer)).
    pub fn parse(raw: impl Into<Bytes>) -> Result<Self, ParseError> {
        let raw: Bytes = raw.into();
        let end = header_end(&raw).ok_or(ParseError::NoHeaderEnd)?;
        let head = &raw[..end - 4];
        let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
        let first = head[..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&head[..line_end]);
        let start = parse_start_line(first)?;
        let block = head.get(line_end + 1..).unwrap_or_default();
        let headers = headers::parse_block(block)?;
        let msg = Self {
            raw,
            start,
            headers,
            body_start: end,
            typed: OnceLock::new(),
        };
        msg.validate()?;
        Ok(msg)
    }

    fn validate(&self) -> Result<(), ParseError> {
        for (name, what) in [
            ("Via", "Via"),
            ("From", "From"),
            ("To", "To"),
            ("Call-ID", "Call-ID"),
            ("CSeq", "CSeq"),
        ] {
            if self.header(name).is_none_or(str::is_empty) {
                return Err(ParseError::Missing(what));
            }
        }
        for single in ["From", "To", "Call-ID", "CSeq"] {
            if self.header_values(single).count() > 1 {
                return Err(ParseError::Header(format!("more than one {single}")));
            }
        }
        self.top_via()?;
        self.from()?;
        self.to()?;
        let cseq = self.cseq()?;
        if let StartLine::Request { method, .. } = &self.start
            && *method != cseq.method
            && *method != Method::Ack
            && *method != Method::Cancel
        {
            return Err(ParseError::CSeqMismatch {
                method: method.to_string(),
                cseq: cseq.method.to_string(),
            });
        }
        self.check_length()
    }

    fn check_length(&self) -> Result<(), ParseError> {
        let block = &self.raw[..self.body_start];
        match headers::content_length(block) {
            Ok(Some(n)) if n != self.body().len() as u64 => Err(ParseError::ContentLength(
                format!("{n} announced, {} present", self.body().len()),
            )),
            Ok(_) => Ok(()),
            Err(LengthError::Multiple) => Err(ParseError::ContentLength("repeated".into())),
            Err(LengthError::Overflow) => Err(ParseError::ContentLength("too large".into())),
            Err(LengthError::Invalid(v)) => Err(ParseError::ContentLength(format!("{v:?}"))),
        }
    }

    /// The message rewritten in the plain form `rsip` expects.
    fn normalised(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() + 32);
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(format!("{method} {uri} SIP/2.0\r\n").as_bytes());
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(format!("SIP/2.0 {code} {reason}\r\n").as_bytes());
            }
        }
        for h in &self.headers {
            out.extend_from_slice(format!("{}: {}\r\n", h.name, h.value).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body());
        out
    }

    /// The bytes as received (or as built), unchanged: the evidence.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The raw bytes as text for transcripts (lossy UTF-8).
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// The start line.
    pub fn start(&self) -> &StartLine {
        &self.start
    }

    /// The typed `rsip` view, when `rsip` can represent the message.
    pub fn typed(&self) -> Option<&rsip::SipMessage> {
        self.typed
            .get_or_init(|| rsip::SipMessage::try_from(self.normalised()).ok())
            .as_ref()
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI, `None` for a response.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, `None` for a request.
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// Every header in order, names in full form.
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The first value of header `name` (any case; compact forms match full forms).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of header `name`, one per header line, in order.
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |h| same_name(&h.name, name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated element of header `name` across all its lines (list headers).
    pub fn header_list<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.header_values(name)
            .flat_map(|v| split_outside(v, ','))
            .filter(|v| !v.is_empty())
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        self.raw.get(self.body_start..).unwrap_or_default()
    }

    /// Call-ID.
    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or_default()
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.header("CSeq").ok_or(ParseError::Missing("CSeq"))?)
    }

    /// The From header.
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.header("From").ok_or(ParseError::Missing("From"))?)
    }

    /// The To header.
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.header("To").ok_or(ParseError::Missing("To"))?)
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<String> {
        self.from().ok()?.tag().map(str::to_owned)
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<String> {
        self.to().ok()?.tag().map(str::to_owned)
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.header_list("Via").map(Via::parse).collect()
    }

    /// The top Via.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let first = self.header_list("Via").next();
        Via::parse(first.ok_or(ParseError::Missing("Via"))?)
    }

    /// The branch of the top Via.
    pub fn branch(&self) -> Option<String> {
        self.top_via().ok()?.branch().map(str::to_owned)
    }

    /// Whether the Contact header is the REGISTER wildcard `*` (§10.2.2).
    pub fn contact_is_wildcard(&self) -> bool {
        self.header_list("Contact").any(|c| c == "*")
    }

    /// Every Contact value (the wildcard excluded), each with its parameters.
    pub fn contacts(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.header_list("Contact")
            .filter(|c| *c != "*")
            .map(NameAddr::parse)
            .collect()
    }

    /// Every Record-Route value, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.header_list("Record-Route")
            .map(NameAddr::parse)
            .collect()
    }

    /// The Expires header, if numeric.
    pub fn expires(&self) -> Option<u32> {
        self.header("Expires")?.trim().parse().ok()
    }

    /// The Min-Expires header, if numeric.
    pub fn min_expires(&self) -> Option<u32> {
        self.header("Min-Expires")?.trim().parse().ok()
    }

    /// The Event header (RFC 6665 §8.2.1).
    pub fn event(&self) -> Option<Result<Event, ParseError>> {
        self.header("Event").map(Event::parse)
    }

    /// The Subscription-State header (RFC 6665 §8.2.3).
    pub fn subscription_state(&self) -> Option<Result<SubscriptionState, ParseError>> {
        self.header("Subscription-State")
            .map(SubscriptionState::parse)
    }

    /// SIP-ETag (RFC 3903 §11.3.1).
    pub fn sip_etag(&self) -> Option<&str> {
        self.header("SIP-ETag").map(str::trim)
    }

    /// SIP-If-Match (RFC 3903 §11.3.2).
    pub fn sip_if_match(&self) -> Option<&str> {
        self.header("SIP-If-Match").map(str::trim)
    }

    /// The Content-Type value as written.
    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }

    /// The media type without parameters, lower-cased (`application/pidf+xml`).
    pub fn media_type(&self) -> Option<String> {
        let ct = self.content_type()?;
        let bare = ct.split(';').next().unwrap_or_default();
        Some(bare.trim().to_ascii_lowercase())
    }

    /// Every WWW-Authenticate value (one challenge each).
    pub fn www_authenticate(&self) -> Vec<&str> {
        self.header_values("WWW-Authenticate").collect()
    }

    /// Every Proxy-Authenticate value (one challenge each).
    pub fn proxy_authenticate(&self) -> Vec<&str> {
        self.header_values("Proxy-Authenticate").collect()
    }
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| ParseError::StartLine("start line is not UTF-8".into()))?;
    if text.starts_with("SIP/")
        || text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        return parse_status_line(text);
    }
    let mut words = text.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(ParseError::StartLine(shorten(text)));
    };
    check_version(version)?;
    if !valid_uri_scheme(uri) {
        return Err(ParseError::StartLine(format!("bad Request-URI {uri:?}")));
    }
    Ok(StartLine::Request {
        method: method.parse()?,
        uri: uri.to_owned(),
    })
}

fn parse_status_line(text: &str) -> Result<StartLine, ParseError> {
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    check_version(version)?;
    let code = parts.next().unwrap_or_default();
    let reason = parts.next();
    let valid = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    let code: u16 = code
        .parse()
        .ok()
        .filter(|c| valid && (100..700).contains(c))
        .ok_or_else(|| ParseError::StartLine(format!("bad status code in {}", shorten(text))))?;
    Ok(StartLine::Response {
        code,
        reason: reason.unwrap_or_default().to_owned(),
    })
}

/// `scheme ":" ...` with an RFC 3986 scheme (so `<sip:a>` is refused, RFC 4475 §3.1.2.7).
fn valid_uri_scheme(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    let first_alpha = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    first_alpha
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
}

fn check_version(v: &str) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else {
        Err(ParseError::Version(shorten(v)))
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
