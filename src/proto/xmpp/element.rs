//! A small, owned DOM for one XMPP stanza, and its parser and serialiser.
//!
//! Input is one complete top-level element as cut by the [`Framer`](super::Framer). It is
//! parsed with quick-xml under the restricted XML profile of RFC 6120 §11.1: no DTD, no
//! comments, no processing instructions, only the five predefined entities and character
//! references. Namespaces follow Namespaces in XML 1.0; the prefixes and default namespace
//! declared on the stream header (RFC 6120 §4.8) come in through an [`NsContext`], because a
//! stanza such as `<stream:features/>` relies on them without redeclaring them.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::ns;

/// Nesting limit for [`parse`]; independent of the framer's own limit because `parse` is
/// public and the tree's recursive `Drop`, `Clone` and `to_xml` must never meet a tree
/// deep enough to exhaust the stack.
pub const MAX_PARSE_DEPTH: usize = 256;

/// The namespace permanently bound to the `xml` prefix (Namespaces in XML 1.0 §3).
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// One XML element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Local name, without prefix.
    pub name: String,
    /// Resolved namespace URI (empty when the element is in no namespace).
    pub ns: String,
    /// Attributes other than namespace declarations; keys as written (`type`, `xml:lang`),
    /// values unescaped.
    pub attrs: Vec<(String, String)>,
    /// Child elements and character data, in document order.
    pub children: Vec<Node>,
}

/// A child of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (text and CDATA sections, merged and unescaped).
    Text(String),
}

/// The namespace bindings in force where a stanza starts: the default namespace and the
/// prefixes declared on the stream header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsContext {
    default: String,
    prefixes: Vec<(String, String)>,
}

/// Why a stanza could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A document type declaration, forbidden by RFC 6120 §11.1.
    #[error("document type declaration is forbidden")]
    Doctype,
    /// An entity declaration or a reference to an entity other than the predefined five.
    #[error("entity declarations and undefined entity references are forbidden")]
    Entity,
    /// A comment, processing instruction or XML declaration inside a stanza (RFC 6120 §11.1).
    #[error("restricted xml: {0} is forbidden")]
    Forbidden(&'static str),
    /// An element or attribute prefix with no namespace binding in scope.
    #[error("unbound namespace prefix {0:?}")]
    UnboundPrefix(String),
    /// Bytes that are not valid UTF-8.
    #[error("invalid utf-8")]
    Utf8,
    /// Nesting deeper than [`MAX_PARSE_DEPTH`].
    #[error("element nesting deeper than {0}")]
    TooDeep(usize),
    /// Anything else that is not well-formed XML.
    #[error("malformed xml: {0}")]
    Malformed(String),
}

impl NsContext {
    /// The bindings of a client-to-server stream: default `jabber:client` and `stream:`
    /// bound to `http://etherx.jabber.org/streams` (RFC 6120 §4.8.5).
    pub fn client() -> Self {
        Self::new(ns::CLIENT).with_prefix("stream", ns::STREAM)
    }

    /// A context with the given default namespace and no prefixes.
    pub fn new(default_ns: &str) -> Self {
        Self {
            default: default_ns.to_owned(),
            prefixes: Vec::new(),
        }
    }

    /// Adds (or replaces) a prefix binding.
    pub fn with_prefix(mut self, prefix: &str, uri: &str) -> Self {
        self.bind(prefix, uri);
        self
    }

    /// Adds (or replaces) a prefix binding in place.
    pub fn bind(&mut self, prefix: &str, uri: &str) {
        self.prefixes.retain(|(p, _)| p != prefix);
        self.prefixes.push((prefix.to_owned(), uri.to_owned()));
    }

    /// Sets the default namespace.
    pub fn set_default(&mut self, uri: &str) {
        uri.clone_into(&mut self.default);
    }

    /// The default namespace.
    pub fn default_ns(&self) -> &str {
        &self.default
    }

    /// The URI bound to `prefix`, if any (`xml` is always bound).
    pub fn prefix(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.prefixes
            .iter()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }
}

impl Default for NsContext {
    fn default() -> Self {
        Self::client()
    }
}

impl Element {
    /// An empty element.
    pub fn new(name: &str, ns: &str) -> Self {
        Self {
            name: name.to_owned(),
            ns: ns.to_owned(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The value of attribute `k` (key as written, e.g. `xml:lang`).
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// Builder form of [`set_attr`](Self::set_attr).
    pub fn with_attr(mut self, k: &str, v: impl Into<String>) -> Self {
        self.set_attr(k, v);
        self
    }

    /// Sets attribute `k`, replacing any existing value.
    pub fn set_attr(&mut self, k: &str, v: impl Into<String>) {
        let v = v.into();
        match self.attrs.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v,
            None => self.attrs.push((k.to_owned(), v)),
        }
    }

    /// Builder form of [`push_child`](Self::push_child).
    pub fn with_child(mut self, c: Self) -> Self {
        self.push_child(c);
        self
    }

    /// Appends a child element.
    pub fn push_child(&mut self, c: Self) {
        self.children.push(Node::Element(c));
    }

    /// Appends character data.
    pub fn with_text(mut self, t: impl Into<String>) -> Self {
        self.children.push(Node::Text(t.into()));
        self
    }

    /// Whether this element has local name `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The first child element with local name `name` in namespace `ns`.
    pub fn child(&self, name: &str, ns: &str) -> Option<&Self> {
        self.children().find(|c| c.is(name, ns))
    }

    /// The child elements, skipping text.
    pub fn children(&self) -> impl Iterator<Item = &Self> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The concatenation of the direct text children.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    /// Serialises the element as a stanza inside a `jabber:client` stream: `xmlns` is written
    /// only where the namespace differs from the parent's, so a stanza round-trips to the
    /// same bytes a server would normally send.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(ns::CLIENT, &mut out);
        out
    }

    fn write_xml(&self, parent_ns: &str, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            push_attr(out, "xmlns", &self.ns);
        }
        for (k, v) in &self.attrs {
            push_attr(out, k, v);
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_xml(&self.ns, out),
                Node::Text(t) => escape_into(t, out),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn push_attr(out: &mut String, k: &str, v: &str) {
    out.push(' ');
    out.push_str(k);
    out.push_str("='");
    escape_into(v, out);
    out.push('\'');
}

/// Escapes all five markup characters so that neither text nor an attribute value (in
/// either quote style) can inject markup.
pub fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

/// [`escape_into`] returning a new string.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

/// Parses one complete element (the bytes of a `Frame::Element`) with the stream header's
/// namespace bindings in `ctx`.
pub fn parse(raw: &[u8], ctx: &NsContext) -> Result<Element, ParseError> {
    let mut reader = Reader::from_reader(raw);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut builder = Builder::new(ctx);
    loop {
        let event = reader.read_event().map_err(map_xml_error)?;
        if builder.handle(event)? {
            return builder.finish();
        }
    }
}

/// Parses the attributes of a start tag into `(key, value)` pairs, namespace declarations
/// included, values unescaped and checked against the XML `Char` production.
pub(crate) fn raw_attrs(start: &BytesStart<'_>) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    for attr in start.attributes().with_checks(true) {
        let attr = attr.map_err(|e| ParseError::Malformed(e.to_string()))?;
        let key = utf8(attr.key.as_ref())?.to_owned();
        if attr.value.contains(&b'<') {
            return Err(ParseError::Malformed("'<' in attribute value".into()));
        }
        let value = attr.unescape_value().map_err(map_xml_error)?;
        check_chars(&value)?;
        out.push((key, value.into_owned()));
    }
    Ok(out)
}

/// Incremental tree construction from quick-xml events, with its own namespace scopes.
struct Builder<'c> {
    ctx: &'c NsContext,
    /// Declarations in scope, innermost last; `None` prefix is the default namespace.
    bindings: Vec<(Option<String>, String)>,
    /// Open elements with the length of `bindings` before their own declarations.
    stack: Vec<(Element, usize)>,
    root: Option<Element>,
}

impl<'c> Builder<'c> {
    fn new(ctx: &'c NsContext) -> Self {
        Self {
            ctx,
            bindings: Vec::new(),
            stack: Vec::new(),
            root: None,
        }
    }

    /// Consumes one event; `Ok(true)` at end of input.
    fn handle(&mut self, event: Event<'_>) -> Result<bool, ParseError> {
        match event {
            Event::Start(s) => self.open(&s)?,
            Event::Empty(s) => {
                self.open(&s)?;
                self.close()?;
            }
            Event::End(_) => self.close()?,
            Event::Text(t) => {
                let text = t.unescape().map_err(map_xml_error)?;
                self.text(&text)?;
            }
            Event::CData(c) => self.text(utf8(&c)?)?,
            Event::Comment(_) => return Err(ParseError::Forbidden("comment")),
            Event::PI(_) => return Err(ParseError::Forbidden("processing instruction")),
            Event::Decl(_) => return Err(ParseError::Forbidden("xml declaration")),
            Event::DocType(_) => return Err(ParseError::Doctype),
            Event::Eof => return Ok(true),
        }
        Ok(false)
    }

    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), ParseError> {
        if self.root.is_some() {
            return Err(ParseError::Malformed("more than one root element".into()));
        }
        if self.stack.len() >= MAX_PARSE_DEPTH {
            return Err(ParseError::TooDeep(MAX_PARSE_DEPTH));
        }
        let mark = self.bindings.len();
        let attrs = self.take_declarations(raw_attrs(start)?)?;
        let name = start.name();
        let (prefix, local) = split_qname(utf8(name.as_ref())?)?;
        let ns = self.resolve(prefix)?.to_owned();
        let el = Element {
            name: local.to_owned(),
            ns,
            attrs,
            children: Vec::new(),
        };
        self.stack.push((el, mark));
        Ok(())
    }

    /// Moves namespace declarations into scope and returns the remaining attributes, whose
    /// prefixes must then be bound.
    fn take_declarations(
        &mut self,
        mut attrs: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, ParseError> {
        let is_decl = |k: &str| k == "xmlns" || k.starts_with("xmlns:");
        for (k, v) in attrs.iter_mut().filter(|(k, _)| is_decl(k)) {
            match k.strip_prefix("xmlns:") {
                Some(prefix) => self.declare(prefix, std::mem::take(v))?,
                None => self.bindings.push((None, std::mem::take(v))),
            }
        }
        attrs.retain(|(k, _)| !is_decl(k));
        for (k, _) in &attrs {
            if let Some((prefix, _)) = k.split_once(':') {
                self.resolve(Some(prefix))?;
            }
        }
        Ok(attrs)
    }

    fn declare(&mut self, prefix: &str, uri: String) -> Result<(), ParseError> {
        // Namespaces in XML 1.0 §3: prefixes cannot be undeclared and `xmlns`/`xml` are fixed.
        if uri.is_empty()
            || prefix.is_empty()
            || prefix == "xmlns"
            || (prefix == "xml" && uri != XML_NS)
        {
            return Err(ParseError::Malformed(format!(
                "invalid declaration of prefix {prefix:?}"
            )));
        }
        self.bindings.push((Some(prefix.to_owned()), uri));
        Ok(())
    }

    fn resolve(&self, prefix: Option<&str>) -> Result<&str, ParseError> {
        let scoped = self
            .bindings
            .iter()
            .rev()
            .find(|(p, _)| p.as_deref() == prefix)
            .map(|(_, u)| u.as_str());
        match (scoped, prefix) {
            (Some(uri), _) => Ok(uri),
            (None, None) => Ok(self.ctx.default_ns()),
            (None, Some(p)) => self
                .ctx
                .prefix(p)
                .ok_or_else(|| ParseError::UnboundPrefix(p.to_owned())),
        }
    }

    fn close(&mut self) -> Result<(), ParseError> {
        let (el, mark) = self
            .stack
            .pop()
            .ok_or_else(|| ParseError::Malformed("unexpected end tag".into()))?;
        self.bindings.truncate(mark);
        match self.stack.last_mut() {
            Some((parent, _)) => parent.children.push(Node::Element(el)),
            None => self.root = Some(el),
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), ParseError> {
        check_chars(text)?;
        let Some((parent, _)) = self.stack.last_mut() else {
            if text.bytes().all(is_xml_space) {
                return Ok(());
            }
            return Err(ParseError::Malformed("text outside the element".into()));
        };
        // Text and CDATA arrive as separate events; one node keeps the tree canonical.
        if let Some(Node::Text(prev)) = parent.children.last_mut() {
            prev.push_str(text);
        } else if !text.is_empty() {
            parent.children.push(Node::Text(text.to_owned()));
        }
        Ok(())
    }

    fn finish(self) -> Result<Element, ParseError> {
        if !self.stack.is_empty() {
            return Err(ParseError::Malformed("unexpected end of input".into()));
        }
        self.root
            .ok_or_else(|| ParseError::Malformed("no element".into()))
    }
}

fn split_qname(qname: &str) -> Result<(Option<&str>, &str), ParseError> {
    match qname.split_once(':') {
        None => Ok((None, qname)),
        Some((p, l)) if !p.is_empty() && !l.is_empty() && !l.contains(':') => Ok((Some(p), l)),
        Some(_) => Err(ParseError::Malformed(format!("invalid name {qname:?}"))),
    }
}

fn utf8(b: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(b).map_err(|_| ParseError::Utf8)
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Rejects characters outside the XML 1.0 `Char` production (control characters, which
/// quick-xml passes through, including those smuggled in as character references).
/// Works on the UTF-8 bytes: every excluded character is either one byte below 0x20 or
/// U+FFFE/U+FFFF (`EF BF BE`/`EF BF BF`), so no decoding is needed on the hot path.
fn check_chars(s: &str) -> Result<(), ParseError> {
    let b = s.as_bytes();
    let bad = b.iter().enumerate().find_map(|(i, &c)| match c {
        0x09 | 0x0A | 0x0D => None,
        0x00..=0x1F => Some(u32::from(c)),
        0xEF if b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)) => {
            Some(0xFF00 | u32::from(b[i + 2]))
        }
        _ => None,
    });
    match bad {
        Some(c) => Err(ParseError::Malformed(format!(
            "character U+{c:04X} is not allowed in xml"
        ))),
        None => Ok(()),
    }
}

fn map_xml_error(e: quick_xml::Error) -> ParseError {
    use quick_xml::escape::EscapeError;
    match e {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(..)) => ParseError::Entity,
        quick_xml::Error::Encoding(_) => ParseError::Utf8,
        other => ParseError::Malformed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, ParseError> {
        parse(s.as_bytes(), &NsContext::client())
    }

    #[test]
    fn parse_serialise_quartet() {
        let lit = "<message to='juliet@example.com' type='chat' id='m1'>\
                   <body>Wherefore art thou?</body>\
                   <active xmlns='http://jabber.org/protocol/chatstates'/></message>";
        let el = p(lit).unwrap();
        assert!(el.is("message", ns::CLIENT));
        assert_eq!(el.attr("type"), Some("chat"));
        assert_eq!(
            el.child("body", ns::CLIENT).unwrap().text(),
            "Wherefore art thou?"
        );
        assert!(
            el.child("active", "http://jabber.org/protocol/chatstates")
                .is_some()
        );
        assert_eq!(el.to_xml(), lit);
        let built = Element::new("message", ns::CLIENT)
            .with_attr("to", "juliet@example.com")
            .with_attr("type", "chat")
            .with_attr("id", "m1")
            .with_child(Element::new("body", ns::CLIENT).with_text("Wherefore art thou?"))
            .with_child(Element::new(
                "active",
                "http://jabber.org/protocol/chatstates",
            ));
        assert_eq!(built, el);
    }

    #[test]
    fn rejects_invalid_input() {
        let bad = [
            "<message><body></message>",
            "<message>",
            "<a/><b/>",
            "text<a/>",
            "<a x='1' x='2'/>",
            "<a x='<'/>",
            "<a>\u{1}</a>",
            "<a>&#1;</a>",
            "<a>\u{FFFE}</a>",
            "<a b='&#xFFFF;'/>",
            "<a>&</a>",
            "",
            "<a:b:c/>",
            "<a xmlns:p=''/>",
        ];
        for b in bad {
            assert!(p(b).is_err(), "accepted {b:?}");
        }
    }

    #[test]
    fn rejects_restricted_xml() {
        assert_eq!(p("<!DOCTYPE a><a/>"), Err(ParseError::Doctype));
        assert_eq!(p("<a>&xxe;</a>"), Err(ParseError::Entity));
        assert_eq!(p("<a b='&xxe;'/>"), Err(ParseError::Entity));
        assert!(matches!(
            p("<a><!-- c --></a>"),
            Err(ParseError::Forbidden(_))
        ));
        assert!(matches!(
            p("<a><?pi x?></a>"),
            Err(ParseError::Forbidden(_))
        ));
        assert!(matches!(
            p("<?xml version='1.0'?><a/>"),
            Err(ParseError::Forbidden(_))
        ));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(parse(b"<a>\xff\xfe</a>", &NsContext::client()).is_err());
        assert!(parse(b"<\xff/>", &NsContext::client()).is_err());
        assert!(parse(b"<a b='\xc3'/>", &NsContext::client()).is_err());
    }

    #[test]
    fn namespaces_come_from_context() {
        let el = p(
            "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
                    </stream:features>",
        )
        .unwrap();
        assert!(el.is("features", ns::STREAM));
        assert!(el.child("bind", ns::BIND).is_some());
        assert_eq!(
            p("<foo:bar/>"),
            Err(ParseError::UnboundPrefix("foo".into()))
        );
        assert_eq!(
            p("<a foo:x='1'/>"),
            Err(ParseError::UnboundPrefix("foo".into()))
        );
        let ctx = NsContext::new("jabber:server").with_prefix("db", "jabber:server:dialback");
        let el = parse(b"<db:result from='a' to='b'>key</db:result>", &ctx).unwrap();
        assert!(el.is("result", "jabber:server:dialback"));
    }

    #[test]
    fn local_declarations_scope_correctly() {
        let el = p("<iq type='result'><q:query xmlns:q='jabber:iq:roster'>\
                    <q:item jid='a@b'/><x xmlns=''/></q:query><y/></iq>")
        .unwrap();
        let q = el.child("query", ns::ROSTER).unwrap();
        assert!(q.child("item", ns::ROSTER).is_some());
        assert!(q.child("x", "").is_some());
        assert!(el.child("y", ns::CLIENT).is_some());
        assert!(
            q.attrs.is_empty(),
            "namespace declarations are not attributes"
        );
    }

    #[test]
    fn text_cdata_and_entities_merge() {
        let el = p("<body>a &lt;b&gt; &amp; <![CDATA[<c/> & ]]>&#x263A;</body>").unwrap();
        assert_eq!(el.text(), "a <b> & <c/> & \u{263A}");
        assert_eq!(el.children.len(), 1);
        assert_eq!(
            p("<a xml:lang='en'/>").unwrap().attr("xml:lang"),
            Some("en")
        );
    }

    #[test]
    fn escaping_prevents_injection() {
        let evil = "</body><iq type='set'>&\"'";
        let el = Element::new("message", ns::CLIENT)
            .with_attr("to", evil)
            .with_child(Element::new("body", ns::CLIENT).with_text(evil));
        let xml = el.to_xml();
        assert_eq!(
            xml,
            "<message to='&lt;/body&gt;&lt;iq type=&apos;set&apos;&gt;&amp;&quot;&apos;'>\
             <body>&lt;/body&gt;&lt;iq type=&apos;set&apos;&gt;&amp;&quot;&apos;</body></message>"
        );
        assert_eq!(p(&xml).unwrap(), el);
    }

    #[test]
    fn serialises_namespace_changes_only() {
        let el = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_child(Element::new("ping", ns::PING));
        assert_eq!(
            el.to_xml(),
            "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>"
        );
        let top = Element::new("enable", ns::SM);
        assert_eq!(top.to_xml(), "<enable xmlns='urn:xmpp:sm:3'/>");
    }

    #[test]
    fn attr_helpers_replace() {
        let mut el = Element::new("a", "").with_attr("x", "1");
        el.set_attr("x", "2");
        assert_eq!(el.attrs, vec![("x".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let s = "<a>".repeat(100_000);
        assert_eq!(p(&s), Err(ParseError::TooDeep(MAX_PARSE_DEPTH)));
        let ok = format!("{}{}", "<a>".repeat(200), "</a>".repeat(200));
        assert!(p(&ok).is_ok());
    }
}
