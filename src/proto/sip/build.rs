//! Request and response builders (RFC 3261 §8.1.1, §8.2.6): the requests a presence and
//! messaging UA sends (REGISTER, un-REGISTER, SUBSCRIBE, un-SUBSCRIBE, PUBLISH, MESSAGE)
//! and responses to requests it receives. Every builder ends in
//! [`Message::parse`], so what is sent is exactly what the parser accepts, and
//! `Message::raw()` is the bytes to write.
//!
//! Identifiers are parameters: the caller draws branches, tags and Call-IDs from its own
//! seeded PRNG ([`new_branch`], [`new_tag`], [`new_call_id`]).

use rand::Rng;
use std::fmt::Write as _;
use std::io::Write as _;

use super::message::{Message, ParseError};
use super::values::{Method, NameAddr};

/// The RFC 3261 §8.1.1.7 branch prefix.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A fresh branch (`z9hG4bK` + 16 hex digits).
pub fn new_branch(rng: &mut impl Rng) -> String {
    format!("{MAGIC_COOKIE}{:016x}", rng.r#gen::<u64>())
}

/// A fresh tag (§19.3: at least 32 bits of randomness).
pub fn new_tag(rng: &mut impl Rng) -> String {
    format!("{:012x}", rng.r#gen::<u64>() & 0xffff_ffff_ffff)
}

/// A fresh Call-ID `random@host`.
pub fn new_call_id(rng: &mut impl Rng, host: &str) -> String {
    format!(
        "{:016x}{:08x}@{host}",
        rng.r#gen::<u64>(),
        rng.r#gen::<u32>()
    )
}

/// Who is sending: the UA's identity and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// The address-of-record, e.g. `<sip:alice@kamailio.test>` (From, and To for REGISTER).
    pub aor: NameAddr,
    /// The Contact, e.g. `<sip:alice@127.0.0.1:5070;transport=tcp>`.
    pub contact: NameAddr,
    /// The Via transport: `UDP`, `TCP` or `TLS`.
    pub transport: String,
    /// The Via sent-by: `host:port` the UA listens on.
    pub sent_by: String,
    /// A User-Agent value, if any.
    pub user_agent: Option<String>,
}

/// The per-request identifiers of an out-of-dialog request.
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a> {
    /// Call-ID (§10.2.4: the same for all REGISTERs of one boot cycle).
    pub call_id: &'a str,
    /// From tag.
    pub from_tag: &'a str,
    /// Top Via branch (new for every transaction).
    pub branch: &'a str,
    /// CSeq number.
    pub cseq: u32,
}

/// Assembles a request header by header.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    method: Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RequestBuilder {
    /// A request line `method uri SIP/2.0` and no headers yet.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Self {
            method,
            uri: uri.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Appends a header (repeated names become repeated lines).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Replaces every header called `name` by one value.
    pub fn set_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.header(name, value)
    }

    /// The top Via with `rport` (RFC 3581) so replies follow NAT-less loopback too.
    pub fn via(self, transport: &str, sent_by: &str, branch: &str) -> Self {
        self.header(
            "Via",
            format!("SIP/2.0/{transport} {sent_by};branch={branch};rport"),
        )
    }

    /// From with tag.
    pub fn from(self, addr: &NameAddr, tag: &str) -> Self {
        let v = addr.clone().with_param("tag", Some(tag));
        self.header("From", v.to_string())
    }

    /// To, with a tag inside a dialog.
    pub fn to(self, addr: &NameAddr, tag: Option<&str>) -> Self {
        let v = match tag {
            Some(t) => addr.clone().with_param("tag", Some(t)),
            None => addr.clone(),
        };
        self.header("To", v.to_string())
    }

    /// CSeq with this request's method.
    pub fn cseq(self, seq: u32) -> Self {
        let v = format!("{seq} {}", self.method);
        self.header("CSeq", v)
    }

    /// The message body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.set_header("Content-Type", content_type)
    }

    /// The standard headers of an out-of-dialog request from `local` to `to`.
    pub fn out_of_dialog(self, local: &Local, to: &NameAddr, ids: &Ids<'_>) -> Self {
        let mut b = self
            .via(&local.transport, &local.sent_by, ids.branch)
            .header("Max-Forwards", "70")
            .from(&local.aor, ids.from_tag)
            .to(to, None)
            .header("Call-ID", ids.call_id)
            .cseq(ids.cseq);
        if let Some(ua) = &local.user_agent {
            b = b.header("User-Agent", ua.clone());
        }
        b
    }

    /// The bytes, with Content-Length, parsed back into a [`Message`].
    pub fn build(self) -> Result<Message, ParseError> {
        // One buffer sized up front, written in place: no intermediate strings.
        let size = self.uri.len()
            + self.body.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()
            + 64;
        let mut out = Vec::with_capacity(size);
        let _ = write!(out, "{} {} SIP/2.0\r\n", self.method, self.uri);
        for (n, v) in &self.headers {
            if !n.eq_ignore_ascii_case("Content-Length") {
                push_header(&mut out, n, v);
            }
        }
        finish(out, &self.body)
    }
}

/// REGISTER binding `local.contact` to `local.aor` for `expires` seconds (§10.2.1).
pub fn register(local: &Local, registrar: &str, ids: &Ids<'_>, expires: u32) -> RequestBuilder {
    RequestBuilder::new(Method::Register, registrar)
        .out_of_dialog(local, &local.aor, ids)
        .header("Contact", local.contact.to_string())
        .header("Expires", expires.to_string())
}

/// REGISTER removing `local.contact` (§10.2.2: expiration interval "0" for that contact).
pub fn unregister(local: &Local, registrar: &str, ids: &Ids<'_>) -> RequestBuilder {
    let contact = local.contact.clone().with_param("expires", Some("0"));
    RequestBuilder::new(Method::Register, registrar)
        .out_of_dialog(local, &local.aor, ids)
        .header("Contact", contact.to_string())
        .header("Expires", "0")
}

/// REGISTER removing every binding of the AOR (`Contact: *`, `Expires: 0`, §10.2.2).
pub fn unregister_all(local: &Local, registrar: &str, ids: &Ids<'_>) -> RequestBuilder {
    RequestBuilder::new(Method::Register, registrar)
        .out_of_dialog(local, &local.aor, ids)
        .header("Contact", "*")
        .header("Expires", "0")
}

/// An initial SUBSCRIBE to `event` of `target` (RFC 6665 §4.1.2.1; RFC 3856 for
/// `presence`, accepting `application/pidf+xml`).
pub fn subscribe(
    local: &Local,
    target: &NameAddr,
    ids: &Ids<'_>,
    event: &str,
    expires: u32,
) -> RequestBuilder {
    let b = RequestBuilder::new(Method::Subscribe, target.uri.clone())
        .out_of_dialog(local, target, ids)
        .header("Contact", local.contact.to_string())
        .header("Event", event)
        .header("Expires", expires.to_string());
    if event.eq_ignore_ascii_case("presence") {
        b.header("Accept", "application/pidf+xml")
    } else {
        b
    }
}

/// A PUBLISH of `event` state for `local.aor` (RFC 3903 §4): initial (`if_match` None,
/// with body), refresh (`if_match`, no body), modify (both) or remove (`expires` 0).
pub fn publish(
    local: &Local,
    ids: &Ids<'_>,
    event: &str,
    expires: u32,
    if_match: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> RequestBuilder {
    let mut b = RequestBuilder::new(Method::Publish, local.aor.uri.clone())
        .out_of_dialog(local, &local.aor, ids)
        .header("Event", event)
        .header("Expires", expires.to_string());
    if let Some(tag) = if_match {
        b = b.header("SIP-If-Match", tag);
    }
    match body {
        Some((ct, bytes)) => b.body(ct, bytes),
        None => b,
    }
}

/// A pager-mode MESSAGE (RFC 3428 §4): no Contact, body as given.
pub fn message(
    local: &Local,
    target: &NameAddr,
    ids: &Ids<'_>,
    content_type: &str,
    body: impl Into<Vec<u8>>,
) -> RequestBuilder {
    RequestBuilder::new(Method::Message, target.uri.clone())
        .out_of_dialog(local, target, ids)
        .body(content_type, body)
}

/// A response to a received request (§8.2.6): status line, then Via (all, in order),
/// From, To (with `to_tag` added when the request had none and the status is not 100),
/// Call-ID and CSeq copied; further headers and a body may follow.
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    head: String,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Starts the response `status reason` to `req`.
pub fn response(req: &Message, status: u16, reason: &str, to_tag: Option<&str>) -> ResponseBuilder {
    let mut head = String::with_capacity(req.raw().len() + 64);
    let _ = write!(head, "SIP/2.0 {status} {reason}\r\n");
    let mut line = |name: &str, value: &str| {
        for part in [name, ": ", value, "\r\n"] {
            head.push_str(part);
        }
    };
    for v in req.header_values("Via") {
        line("Via", v);
    }
    line("From", req.header("From").unwrap_or_default());
    let to = req.header("To").unwrap_or_default();
    let needs_tag = status != 100 && req.to_tag().is_none();
    match to_tag.filter(|_| needs_tag) {
        Some(tag) => line("To", &format!("{to};tag={tag}")),
        None => line("To", to),
    }
    line("Call-ID", req.call_id());
    line("CSeq", req.header("CSeq").unwrap_or_default());
    ResponseBuilder {
        head,
        extra: Vec::new(),
        body: Vec::new(),
    }
}

impl ResponseBuilder {
    /// Appends a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.extra.push((name.to_owned(), value.into()));
        self
    }

    /// A body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.header("Content-Type", content_type)
    }

    /// The bytes, with Content-Length, parsed back into a [`Message`].
    pub fn build(self) -> Result<Message, ParseError> {
        let mut out = self.head.into_bytes();
        for (n, v) in &self.extra {
            push_header(&mut out, n, v);
        }
        finish(out, &self.body)
    }
}

/// Appends `name: value` CRLF.
fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends Content-Length, the empty line and `body`, and parses the result back.
fn finish(mut out: Vec<u8>, body: &[u8]) -> Result<Message, ParseError> {
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
    Message::parse(out)
}

#[cfg(test)]
#[path = "build_tests.rs"]
pub(crate) mod tests;
