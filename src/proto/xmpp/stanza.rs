//! Typed views over parsed [`Element`]s and builders for the stanzas the harness sends:
//! stream features (RFC 6120 §4.3), stream errors (§4.9), stanza errors (§8.3), the
//! `<iq/>`, `<message/>` and `<presence/>` stanzas (§8.2) and the initial stream header
//! (§4.7).

use super::element::{Element, escape};
use super::ns;

/// The stream features a server advertised (RFC 6120 §4.3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFeatures {
    /// STARTTLS offered (RFC 6120 §5.4.1); `Some(true)` when marked `<required/>`.
    pub starttls: Option<bool>,
    /// SASL mechanisms offered, in server order (RFC 6120 §6.4.1).
    pub mechanisms: Vec<String>,
    /// Resource binding offered (RFC 6120 §7.4).
    pub bind: bool,
    /// RFC 3921 session establishment offered without `<optional/>` (RFC 6121 appendix E).
    pub session_required: bool,
    /// Stream Management v3 offered (XEP-0198 §2).
    pub sm: bool,
    /// `(namespace, local name)` of every other feature.
    pub other: Vec<(String, String)>,
}

impl StreamFeatures {
    /// Reads a `<stream:features/>` element; unknown children land in `other`.
    pub fn parse(el: &Element) -> Self {
        let mut f = Self::default();
        for child in el.children() {
            match (child.ns.as_str(), child.name.as_str()) {
                (ns::TLS, "starttls") => {
                    f.starttls = Some(child.child("required", ns::TLS).is_some());
                }
                (ns::SASL, "mechanisms") => {
                    f.mechanisms = child
                        .children()
                        .filter(|m| m.is("mechanism", ns::SASL))
                        .map(|m| m.text().trim().to_owned())
                        .collect();
                }
                (ns::BIND, "bind") => f.bind = true,
                (ns::SESSION, "session") => {
                    f.session_required = child.child("optional", ns::SESSION).is_none();
                }
                (ns::SM, "sm") => f.sm = true,
                (other_ns, name) => f.other.push((other_ns.to_owned(), name.to_owned())),
            }
        }
        f
    }

    /// Whether a feature with this namespace and name was listed under `other`.
    pub fn has_other(&self, ns: &str, name: &str) -> bool {
        self.other.iter().any(|(n, l)| n == ns && l == name)
    }
}

/// A stream error (RFC 6120 §4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// The defined condition, e.g. `host-unknown`; empty when the server sent none, which
    /// RFC 6120 §4.9.2 forbids and a check may flag.
    pub condition: String,
    /// The optional human-readable `<text/>`.
    pub text: Option<String>,
}

impl StreamError {
    /// Reads a `<stream:error/>`; `None` when `el` is something else.
    pub fn parse(el: &Element) -> Option<Self> {
        if !el.is("error", ns::STREAM) {
            return None;
        }
        let (condition, text) = condition_and_text(el, ns::STREAMS);
        Some(Self { condition, text })
    }
}

/// A stanza error (RFC 6120 §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// The `type` attribute: `auth`, `cancel`, `continue`, `modify` or `wait` (empty if
    /// missing).
    pub error_type: String,
    /// The defined condition, e.g. `item-not-found` (empty if missing).
    pub condition: String,
    /// The optional `<text/>`.
    pub text: Option<String>,
}

impl StanzaError {
    /// The `<error/>` child of a stanza whose `type` is `error`; `None` otherwise.
    pub fn from_stanza(el: &Element) -> Option<Self> {
        if el.attr("type") != Some("error") {
            return None;
        }
        // The error element lives in the stanza's own namespace (RFC 6120 §8.3.2).
        let err = el.child("error", &el.ns)?;
        let (condition, text) = condition_and_text(err, ns::STANZAS);
        Some(Self {
            error_type: err.attr("type").unwrap_or_default().to_owned(),
            condition,
            text,
        })
    }
}

fn condition_and_text(el: &Element, cond_ns: &str) -> (String, Option<String>) {
    let condition = el
        .children()
        .find(|c| c.ns == cond_ns && c.name != "text")
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let text = el.child("text", cond_ns).map(Element::text);
    (condition, text)
}

/// An `<iq/>` of type `kind` (`get`, `set`, `result`, `error`) with an optional payload.
pub fn iq(kind: &str, id: &str, to: Option<&str>, payload: Option<Element>) -> Element {
    let mut el = Element::new("iq", ns::CLIENT)
        .with_attr("type", kind)
        .with_attr("id", id);
    if let Some(to) = to {
        el.set_attr("to", to);
    }
    if let Some(p) = payload {
        el.push_child(p);
    }
    el
}

/// A `<message/>` of type `kind` (`chat`, `groupchat`, `normal`, …) with a `<body/>`.
pub fn message(kind: &str, id: &str, to: &str, body: &str) -> Element {
    Element::new("message", ns::CLIENT)
        .with_attr("type", kind)
        .with_attr("id", id)
        .with_attr("to", to)
        .with_child(Element::new("body", ns::CLIENT).with_text(body))
}

/// A `<presence/>`; `kind` `None` is available presence (RFC 6121 §4.7.1).
pub fn presence(kind: Option<&str>, to: Option<&str>) -> Element {
    let mut el = Element::new("presence", ns::CLIENT);
    if let Some(kind) = kind {
        el.set_attr("type", kind);
    }
    if let Some(to) = to {
        el.set_attr("to", to);
    }
    el
}

/// The client's initial stream header with an XML declaration (RFC 6120 §4.7, §11.5).
pub fn stream_open(to: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream to='{}' version='1.0' xml:lang='en' \
         xmlns='{}' xmlns:stream='{}'>",
        escape(to),
        ns::CLIENT,
        ns::STREAM
    )
}

/// The stream close tag (RFC 6120 §4.4).
pub const STREAM_CLOSE: &str = "</stream:stream>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::xmpp::element::{NsContext, parse};

    fn p(s: &str) -> Element {
        parse(s.as_bytes(), &NsContext::client()).unwrap()
    }

    #[test]
    fn parses_pre_auth_features() {
        let el = p("<stream:features>\
            <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>\
            <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            <mechanism>SCRAM-SHA-1</mechanism><mechanism> PLAIN </mechanism></mechanisms>\
            <register xmlns='http://jabber.org/features/iq-register'/></stream:features>");
        let f = StreamFeatures::parse(&el);
        assert_eq!(f.starttls, Some(true));
        assert_eq!(f.mechanisms, ["SCRAM-SHA-1", "PLAIN"]);
        assert!(!f.bind && !f.sm && !f.session_required);
        assert!(f.has_other("http://jabber.org/features/iq-register", "register"));
    }

    #[test]
    fn parses_post_auth_features() {
        let el = p(
            "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
            <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>\
            <sm xmlns='urn:xmpp:sm:3'/><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\
            </stream:features>",
        );
        let f = StreamFeatures::parse(&el);
        assert!(f.bind && f.sm && !f.session_required);
        assert_eq!(f.starttls, Some(false));
        let legacy = p(
            "<stream:features><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>\
            </stream:features>",
        );
        assert!(StreamFeatures::parse(&legacy).session_required);
        assert_eq!(
            StreamFeatures::parse(&p("<stream:features/>")),
            StreamFeatures::default()
        );
    }

    #[test]
    fn parses_stream_errors() {
        let el = p(
            "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no such host</text></stream:error>",
        );
        let e = StreamError::parse(&el).unwrap();
        assert_eq!(e.condition, "host-unknown");
        assert_eq!(e.text.as_deref(), Some("no such host"));
        assert_eq!(StreamError::parse(&p("<message/>")), None);
        let bare = StreamError::parse(&p("<stream:error/>")).unwrap();
        assert_eq!((bare.condition.as_str(), bare.text), ("", None));
    }

    #[test]
    fn parses_stanza_errors() {
        let el = p(
            "<iq type='error' id='1'><ping xmlns='urn:xmpp:ping'/><error type='cancel'>\
            <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        );
        let e = StanzaError::from_stanza(&el).unwrap();
        assert_eq!(
            (e.error_type.as_str(), e.condition.as_str(), e.text),
            ("cancel", "service-unavailable", None)
        );
        assert_eq!(
            StanzaError::from_stanza(&p("<iq type='result' id='1'/>")),
            None
        );
        assert_eq!(
            StanzaError::from_stanza(&p("<iq type='error' id='1'/>")),
            None
        );
        let wrong_ns = p("<iq type='error'><error xmlns='urn:x' type='cancel'/></iq>");
        assert_eq!(StanzaError::from_stanza(&wrong_ns), None);
    }

    #[test]
    fn builds_stanzas() {
        let ping = iq(
            "get",
            "p1",
            Some("example.test"),
            Some(Element::new("ping", ns::PING)),
        );
        assert_eq!(
            ping.to_xml(),
            "<iq type='get' id='p1' to='example.test'><ping xmlns='urn:xmpp:ping'/></iq>"
        );
        assert_eq!(
            iq("result", "r", None, None).to_xml(),
            "<iq type='result' id='r'/>"
        );
        let m = message("chat", "m1", "b@example.test", "1 < 2 & 'q'");
        assert_eq!(
            m.to_xml(),
            "<message type='chat' id='m1' to='b@example.test'>\
             <body>1 &lt; 2 &amp; &apos;q&apos;</body></message>"
        );
        assert_eq!(presence(None, None).to_xml(), "<presence/>");
        assert_eq!(
            presence(Some("subscribe"), Some("b@x")).to_xml(),
            "<presence type='subscribe' to='b@x'/>"
        );
    }

    /// Every element of a recorded ejabberd login, parsed with the header's context.
    fn recorded_elements() -> Vec<Element> {
        use crate::proto::xmpp::{Frame, Framer, FramerConfig};
        let mut f = Framer::new(FramerConfig::default());
        f.feed(include_bytes!("../../../fixtures/xmpp/ejabberd-login.xml"))
            .unwrap();
        let (mut out, mut ctx) = (Vec::new(), NsContext::client());
        while let Some(frame) = f.next_frame().unwrap() {
            match frame {
                Frame::Open { header, .. } => ctx = header.ns_context(),
                Frame::Element { raw } => {
                    let el = parse(&raw, &ctx).unwrap();
                    if el.is("success", ns::SASL) {
                        f.restart();
                    }
                    out.push(el);
                }
                Frame::Close { .. } => {}
            }
        }
        out
    }

    #[test]
    fn reads_a_recorded_ejabberd_login() {
        let els = recorded_elements();
        let features: Vec<_> = els
            .iter()
            .filter(|e| e.is("features", ns::STREAM))
            .map(StreamFeatures::parse)
            .collect();
        assert_eq!(features.len(), 2);
        assert_eq!(features[0].mechanisms, ["PLAIN", "SCRAM-SHA-1"]);
        assert_eq!(features[0].starttls, Some(false));
        assert!(features[1].bind && features[1].sm && !features[1].session_required);
        assert!(features[1].has_other("urn:xmpp:sm:2", "sm"));
        let err = els.iter().find_map(StanzaError::from_stanza).unwrap();
        assert_eq!(err.condition, "service-unavailable");
        assert_eq!(
            err.text.as_deref(),
            Some("No module is handling this query")
        );
        let msg = els.iter().find(|e| e.is("message", ns::CLIENT)).unwrap();
        let body = msg.child("body", ns::CLIENT).unwrap().text();
        assert_eq!(body, "hello <world> & 'friends' \u{263A}");
    }

    #[test]
    fn stream_open_is_escaped() {
        assert_eq!(
            stream_open("example.test"),
            "<?xml version='1.0'?><stream:stream to='example.test' version='1.0' \
             xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        );
        assert!(stream_open("a'><x").contains("to='a&apos;&gt;&lt;x'"));
    }
}
