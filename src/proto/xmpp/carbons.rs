//! XEP-0280 Message Carbons on the wire: recognising a forwarded copy (`<received/>` or
//! `<sent/>` wrapping a XEP-0297 `<forwarded/>` message) and building the requests and
//! markers a client sends (`<enable/>`, `<disable/>`, `<private/>`, and the XEP-0334
//! `<no-copy/>` hint).

use super::element::Element;
use super::ns;
use super::stanza;

/// Which side of a conversation a carbon copy reflects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `<received/>` (XEP-0280 §7): a message another resource of the user received.
    Received,
    /// `<sent/>` (XEP-0280 §8): a message another resource of the user sent.
    Sent,
}

impl Direction {
    /// The wrapper element's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Sent => "sent",
        }
    }
}

/// A carbon copy: its direction and the original message it forwards.
#[derive(Debug, Clone, Copy)]
pub struct Carbon<'a> {
    /// `<received/>` or `<sent/>`.
    pub direction: Direction,
    /// The forwarded original `<message/>`.
    pub inner: &'a Element,
}

/// The carbon copy `el` carries, if it is one: a `<message/>` with a `<received/>` or
/// `<sent/>` child in `urn:xmpp:carbons:2` that wraps `<forwarded xmlns='urn:xmpp:forward:0'>`
/// around a `<message/>`. Anything else (including a wrapper without a forwarded message)
/// is not a carbon copy.
pub fn parse(el: &Element) -> Option<Carbon<'_>> {
    if el.name != "message" {
        return None;
    }
    let (direction, wrapper) = el.children().find_map(|c| {
        if c.ns != ns::CARBONS {
            return None;
        }
        match c.name.as_str() {
            "received" => Some((Direction::Received, c)),
            "sent" => Some((Direction::Sent, c)),
            _ => None,
        }
    })?;
    let inner = wrapper
        .child("forwarded", ns::FORWARD)?
        .children()
        .find(|m| m.name == "message")?;
    Some(Carbon { direction, inner })
}

/// `<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>` (XEP-0280 §4); the session
/// sets the id.
pub fn enable() -> Element {
    stanza::iq("set", "", None, Some(Element::new("enable", ns::CARBONS)))
}

/// `<iq type='set'><disable xmlns='urn:xmpp:carbons:2'/></iq>` (XEP-0280 §5).
pub fn disable() -> Element {
    stanza::iq("set", "", None, Some(Element::new("disable", ns::CARBONS)))
}

/// `<private xmlns='urn:xmpp:carbons:2'/>` (XEP-0280 §9): no copies of this message.
pub fn private() -> Element {
    Element::new("private", ns::CARBONS)
}

/// `<no-copy xmlns='urn:xmpp:hints'/>` (XEP-0334 §4.3).
pub fn no_copy() -> Element {
    Element::new("no-copy", ns::HINTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::xmpp::NsContext;
    use crate::proto::xmpp::element::parse as parse_xml;

    fn el(xml: &str) -> Element {
        parse_xml(xml.as_bytes(), &NsContext::client()).expect("test bytes parse")
    }

    /// XEP-0280 §7 example 6, with an impress id on the original.
    const RECEIVED: &str = "<message xmlns='jabber:client' from='romeo@montague.example' \
        to='romeo@montague.example/home' type='chat'><received xmlns='urn:xmpp:carbons:2'>\
        <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' id='impress-7' \
        from='juliet@capulet.example/balcony' to='romeo@montague.example/garden' type='chat'>\
        <body>What man art thou?</body></message></forwarded></received></message>";

    #[test]
    fn received_copy_is_recognised_with_its_original() {
        let outer = el(RECEIVED);
        let c = parse(&outer).expect("a carbon");
        assert_eq!(c.direction, Direction::Received);
        assert_eq!(c.inner.attr("id"), Some("impress-7"));
        assert_eq!(outer.attr("id"), None, "the wrapper has no id of its own");
    }

    #[test]
    fn sent_copy_is_recognised() {
        let xml = "<message from='romeo@montague.example' to='romeo@montague.example/garden' \
            type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
            <message id='impress-8' to='juliet@capulet.example/balcony' type='chat'/>\
            </forwarded></sent></message>";
        let outer = el(xml);
        let c = parse(&outer).expect("a carbon");
        assert_eq!(c.direction, Direction::Sent);
        assert_eq!(c.inner.attr("id"), Some("impress-8"));
    }

    #[test]
    fn ordinary_and_malformed_messages_are_not_carbons() {
        let plain = el("<message id='impress-1' type='chat'><body>hi</body></message>");
        assert!(parse(&plain).is_none());
        // A <received/> of another namespace (XEP-0184 receipts) is not a carbon.
        let receipt = el("<message><received xmlns='urn:xmpp:receipts' id='x'/></message>");
        assert!(parse(&receipt).is_none());
        // A carbon wrapper without a forwarded message forwards nothing.
        let empty = el("<message><sent xmlns='urn:xmpp:carbons:2'/></message>");
        assert!(parse(&empty).is_none());
        let iq = el("<iq type='set'><received xmlns='urn:xmpp:carbons:2'/></iq>");
        assert!(parse(&iq).is_none());
    }

    #[test]
    fn requests_and_markers_serialise_in_the_carbons_namespace() {
        assert!(
            enable()
                .to_xml()
                .contains("<enable xmlns='urn:xmpp:carbons:2'/>")
        );
        assert!(
            disable()
                .to_xml()
                .contains("<disable xmlns='urn:xmpp:carbons:2'/>")
        );
        assert_eq!(private().to_xml(), "<private xmlns='urn:xmpp:carbons:2'/>");
        assert_eq!(no_copy().to_xml(), "<no-copy xmlns='urn:xmpp:hints'/>");
    }
}
