//! Typed views of the header values impress reads (RFC 3261 §20, RFC 6665 §8.2): methods,
//! name-addr (From/To/Contact), Via, CSeq, Event and Subscription-State. They are parsed
//! from the unfolded text that [`Message`](super::Message) keeps, so a value impress does
//! not need never blocks the message.

use std::fmt;
use std::str::FromStr;

use super::headers::{find_param, parse_params, split_outside, unbalanced_quotes};
use super::message::ParseError;

/// A SIP method (RFC 3261 §7.1; methods are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// REGISTER (RFC 3261 §10).
    Register,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// PUBLISH (RFC 3903).
    Publish,
    /// MESSAGE (RFC 3428).
    Message,
    /// OPTIONS (RFC 3261 §11).
    Options,
    /// INVITE (RFC 3261 §13).
    Invite,
    /// ACK (RFC 3261 §13).
    Ack,
    /// BYE (RFC 3261 §15).
    Bye,
    /// CANCEL (RFC 3261 §9).
    Cancel,
    /// Any other token (INFO, PRACK, REFER, extension methods).
    Other(String),
}

const NAMED: &[(Method, &str)] = &[
    (Method::Register, "REGISTER"),
    (Method::Subscribe, "SUBSCRIBE"),
    (Method::Notify, "NOTIFY"),
    (Method::Publish, "PUBLISH"),
    (Method::Message, "MESSAGE"),
    (Method::Options, "OPTIONS"),
    (Method::Invite, "INVITE"),
    (Method::Ack, "ACK"),
    (Method::Bye, "BYE"),
    (Method::Cancel, "CANCEL"),
];

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(s) => s,
            known => NAMED
                .iter()
                .find(|(m, _)| m == known)
                .map_or("", |(_, s)| s),
        }
    }
}

impl FromStr for Method {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || !s.bytes().all(super::headers::is_token_byte) {
            return Err(ParseError::StartLine(format!("bad method {s:?}")));
        }
        Ok(NAMED
            .iter()
            .find(|(_, name)| *name == s)
            .map_or_else(|| Self::Other(s.to_owned()), |(m, _)| m.clone()))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header parameters in order: lower-cased names, unquoted values (`None` for a flag).
pub type Params = Vec<(String, Option<String>)>;

/// A `name-addr` or `addr-spec` with header parameters (From, To, Contact, Route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted, if any.
    pub display: Option<String>,
    /// The URI as written between `<` and `>` (or the bare addr-spec), escapes kept.
    pub uri: String,
    /// Header parameters after the address (`tag`, `expires`, `q`, ...).
    pub params: Params,
}

impl NameAddr {
    /// A bare address with no display name or parameters.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            display: None,
            uri: uri.into(),
            params: Vec::new(),
        }
    }

    /// Parses one name-addr / addr-spec with parameters (RFC 3261 §20.10, §20.20).
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let value = value.trim();
        if unbalanced_quotes(value) {
            return Err(ParseError::Header(format!(
                "unterminated quote in {value:?}"
            )));
        }
        let (display, uri, rest) = match find_angle(value) {
            Some(open) => {
                let close = value[open..]
                    .find('>')
                    .map(|i| open + i)
                    .ok_or_else(|| ParseError::Header(format!("no '>' in {value:?}")))?;
                let display = super::headers::unquote(value[..open].trim());
                let display = (!display.is_empty()).then_some(display);
                (display, value[open + 1..close].trim(), &value[close + 1..])
            }
            None => match value.find(';') {
                Some(i) => (None, value[..i].trim(), &value[i..]),
                None => (None, value, ""),
            },
        };
        if uri.is_empty() || !uri.contains(':') {
            return Err(ParseError::Header(format!("no URI in {value:?}")));
        }
        Ok(Self {
            display,
            uri: uri.to_owned(),
            params: params_after(rest)?,
        })
    }

    /// The value of parameter `name` (`Some("")` for a flag).
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").filter(|t| !t.is_empty())
    }

    /// The `expires` parameter of a Contact, if it is a number.
    pub fn expires(&self) -> Option<u32> {
        self.param("expires").and_then(|e| e.trim().parse().ok())
    }

    /// Adds or replaces a parameter.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Self {
        self.params.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.params
            .push((name.to_ascii_lowercase(), value.map(str::to_owned)));
        self
    }
}

/// The position of the `<` opening a name-addr, outside any quoted display name.
fn find_angle(value: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, ch) in value.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => return Some(i),
            ';' if !quoted => return None,
            _ => {}
        }
    }
    None
}

/// Parses `;a=b;c` (leading `;` required unless empty).
fn params_after(rest: &str) -> Result<Params, ParseError> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let Some(list) = rest.strip_prefix(';') else {
        return Err(ParseError::Header(format!("junk after address: {rest:?}")));
    };
    parse_params(&split_outside(list, ';'))
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &Params) -> fmt::Result {
    for (n, v) in params {
        match v {
            Some(v)
                if v.bytes()
                    .all(|b| super::headers::is_token_byte(b) || b == b':') =>
            {
                write!(f, ";{n}={v}")?
            }
            Some(v) => write!(f, ";{n}=\"{v}\"")?,
            None => write!(f, ";{n}")?,
        }
    }
    Ok(())
}

/// One Via value (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport (`UDP`, `TCP`, `TLS`, ...), upper-cased.
    pub transport: String,
    /// `host[:port]` as written (whitespace removed).
    pub sent_by: String,
    /// Parameters (`branch`, `received`, `rport`, ...).
    pub params: Params,
}

impl Via {
    /// Parses one Via value; LWS around `/` and `:` is tolerated (RFC 4475 §3.1.1.1).
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Header(format!("bad Via {value:?}"));
        let mut pieces = split_outside(value, ';').into_iter();
        let head = pieces.next().ok_or_else(bad)?;
        let (protocol, sent_by) = match plain_sent_protocol(head) {
            Some((p, s)) => (p.to_owned(), s.to_owned()),
            None => {
                let compact: String = head.split('/').map(str::trim).collect::<Vec<_>>().join("/");
                let mut words = compact.split_whitespace();
                let protocol = words.next().ok_or_else(bad)?.to_owned();
                (protocol, words.collect::<Vec<_>>().concat())
            }
        };
        let parts: Vec<&str> = protocol.split('/').collect();
        let [name, version, transport] = parts[..] else {
            return Err(bad());
        };
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || sent_by.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            transport: transport.to_ascii_uppercase(),
            sent_by,
            params: parse_params(&pieces.collect::<Vec<_>>())?,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        find_param(&self.params, "branch").filter(|b| !b.is_empty())
    }

    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }
}

/// `sent-protocol SP sent-by` written plainly (one space, no other whitespace, no `/`
/// after the space): the common case, split without the LWS-tolerant rewrite.
fn plain_sent_protocol(head: &str) -> Option<(&str, &str)> {
    let (protocol, sent_by) = head.split_once(' ')?;
    let plain = !protocol.ends_with('/')
        && !protocol.contains(char::is_whitespace)
        && !sent_by.contains(|c: char| c == '/' || c.is_whitespace());
    plain.then_some((protocol, sent_by))
}

/// A CSeq value (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (less than 2^31).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `number method`; the number must be below 2^31 (§8.1.1.5).
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Header(format!("bad CSeq {value:?}"));
        let mut words = value.split_whitespace();
        let (Some(num), Some(method), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        if !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let seq: u32 = num.parse().map_err(|_| bad())?;
        if seq >= 1 << 31 {
            return Err(bad());
        }
        Ok(Self {
            seq,
            method: method.parse()?,
        })
    }
}

/// An Event value (RFC 6665 §8.2.1): package and optional `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event package (`presence`), lower-cased (package names are case-insensitive).
    pub package: String,
    /// Parameters, `id` among them.
    pub params: Params,
}

impl Event {
    /// Parses `package *(;param)`.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let pieces = split_outside(value, ';');
        let package = pieces[0];
        if package.is_empty() || !package.bytes().all(super::headers::is_token_byte) {
            return Err(ParseError::Header(format!("bad Event {value:?}")));
        }
        Ok(Self {
            package: package.to_ascii_lowercase(),
            params: parse_params(&pieces[1..])?,
        })
    }

    /// The `id` parameter.
    pub fn id(&self) -> Option<&str> {
        find_param(&self.params, "id")
    }
}

/// The state named by a Subscription-State value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubState {
    /// `active`.
    Active,
    /// `pending`.
    Pending,
    /// `terminated`.
    Terminated,
    /// An extension value, lower-cased.
    Other(String),
}

/// A Subscription-State value (RFC 6665 §8.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The state.
    pub state: SubState,
    /// Parameters: `expires`, `reason`, `retry-after`.
    pub params: Params,
}

impl SubscriptionState {
    /// Parses `state *(;param)`.
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let pieces = split_outside(value, ';');
        let state = pieces[0].to_ascii_lowercase();
        if state.is_empty() || !state.bytes().all(super::headers::is_token_byte) {
            return Err(ParseError::Header(format!(
                "bad Subscription-State {value:?}"
            )));
        }
        let state = match state.as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            "terminated" => SubState::Terminated,
            _ => SubState::Other(state),
        };
        Ok(Self {
            state,
            params: parse_params(&pieces[1..])?,
        })
    }

    /// The `expires` parameter, if numeric.
    pub fn expires(&self) -> Option<u32> {
        find_param(&self.params, "expires").and_then(|e| e.parse().ok())
    }

    /// Whether an `expires` parameter is present at all.
    pub fn has_expires(&self) -> bool {
        find_param(&self.params, "expires").is_some()
    }

    /// The `reason` parameter.
    pub fn reason(&self) -> Option<&str> {
        find_param(&self.params, "reason")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let a =
            NameAddr::parse(r#""J Rosenberg \"" <sip:jdrosen@example.com>;tag=98asjd8"#).unwrap();
        assert_eq!(a.display.as_deref(), Some("J Rosenberg \""));
        assert_eq!(a.uri, "sip:jdrosen@example.com");
        assert_eq!(a.tag(), Some("98asjd8"));
        let b = NameAddr::parse("sip:caller@example.net;tag=134161461246").unwrap();
        assert_eq!(b.uri, "sip:caller@example.net");
        assert_eq!(b.tag(), Some("134161461246"));
        let c = NameAddr::parse("Bob<sip:bob@b.example;transport=tcp>;expires=60;q=0.5").unwrap();
        assert_eq!(c.uri, "sip:bob@b.example;transport=tcp");
        assert_eq!(c.expires(), Some(60));
        assert!(NameAddr::parse("\"unterminated <sip:a@b>").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert!(NameAddr::parse("<sip:a@b>;;tag=1").is_err());
        let round = NameAddr::parse(&c.to_string()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn via_with_unusual_whitespace() {
        let v = Via::parse("SIP  /   2.0/ udp   192.0.2.2 : 5060;branch=390skdjuw;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.sent_by, "192.0.2.2:5060");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert_eq!(v.param("rport"), Some(""));
        assert!(Via::parse("SIP/3.0/UDP h").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn cseq_and_method() {
        let c = CSeq::parse("0009  REGISTER").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Register));
        assert!(CSeq::parse("2147483648 REGISTER").is_err());
        assert!(CSeq::parse("-1 REGISTER").is_err());
        assert!(CSeq::parse("1").is_err());
        assert_eq!(
            "NEWMETHOD".parse::<Method>().unwrap(),
            Method::Other("NEWMETHOD".into())
        );
        assert!("re gister".parse::<Method>().is_err());
    }

    #[test]
    fn event_and_subscription_state() {
        let e = Event::parse("Presence;id=7").unwrap();
        assert_eq!((e.package.as_str(), e.id()), ("presence", Some("7")));
        let s = SubscriptionState::parse("active;expires=600").unwrap();
        assert_eq!(
            (s.state.clone(), s.expires()),
            (SubState::Active, Some(600))
        );
        let t = SubscriptionState::parse("terminated;reason=timeout").unwrap();
        assert_eq!(t.reason(), Some("timeout"));
        assert!(!t.has_expires());
    }
}
