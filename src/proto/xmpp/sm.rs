//! Stream Management (XEP-0198, namespace `urn:xmpp:sm:3`), client side, sans-io: the
//! sequence numbers of both directions (§4: `h` counts handled stanzas and wraps from
//! 2^32-1 to 0), the queue of sent stanzas the server has not acknowledged yet (kept as
//! the raw XML written, so a resumed stream can resend exactly those, §5), validation of
//! the server's `h`, the resumption state from `<enabled/>` (§3, §5), and builders and
//! views of the SM elements.

use super::element::Element;
use super::ns;
use super::stanza::StanzaError;
use std::collections::VecDeque;

/// A server's `h` that cannot be right (XEP-0198 §4, §5): a protocol violation by the peer,
/// not a harness fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmError {
    /// `h` is missing or not an xs:unsignedInt.
    #[error("'h' attribute {0:?} is not an unsigned 32-bit integer")]
    BadH(Option<String>),
    /// `h` acknowledges stanzas that were never sent.
    #[error("h={h} acknowledges {} stanzas beyond the {unacked} unacknowledged ones (last h={acked})", .h.wrapping_sub(*.acked) as u64 - *.unacked as u64)]
    AckedUnsent {
        /// The server's value.
        h: u32,
        /// The previous acknowledged value.
        acked: u32,
        /// Stanzas sent and not acknowledged before this `h`.
        unacked: usize,
    },
}

/// What `<enabled/>` granted (XEP-0198 §3, §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumption {
    /// The SM-ID (`id`), opaque; `None` when the server did not allow resumption.
    pub id: Option<String>,
    /// `resume='true'|'1'`.
    pub resume: bool,
    /// Preferred reconnection address (`location`).
    pub location: Option<String>,
    /// Preferred maximum resumption time in seconds (`max`), if given and numeric.
    pub max: Option<u32>,
}

impl Resumption {
    /// Reads an `<enabled/>`; `None` when `el` is something else.
    pub fn parse(el: &Element) -> Option<Self> {
        if !el.is("enabled", ns::SM) {
            return None;
        }
        Some(Self {
            id: el.attr("id").map(str::to_owned),
            resume: matches!(el.attr("resume"), Some("true" | "1")),
            location: el.attr("location").map(str::to_owned),
            max: el.attr("max").and_then(|m| m.trim().parse().ok()),
        })
    }
}

/// A `<failed/>` (XEP-0198 §6): its stanza error condition and optional `h`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The condition, e.g. `item-not-found`; empty when none was given.
    pub condition: String,
    /// The `h` the server may report for a timed-out session (§5).
    pub h: Option<String>,
}

impl Failed {
    /// Reads a `<failed/>`; `None` when `el` is something else.
    pub fn parse(el: &Element) -> Option<Self> {
        if !el.is("failed", ns::SM) {
            return None;
        }
        let condition = el
            .children()
            .find(|c| c.ns == ns::STANZAS && c.name != "text")
            .map(|c| c.name.clone())
            .unwrap_or_default();
        Some(Self {
            condition,
            h: el.attr("h").map(str::to_owned),
        })
    }
}

/// Whether `el` counts for `h`: only `<message/>`, `<presence/>` and `<iq/>` stanzas do,
/// never the SM elements themselves (XEP-0198 §1, §4).
pub fn counts(el: &Element) -> bool {
    el.ns == ns::CLIENT && matches!(el.name.as_str(), "message" | "presence" | "iq")
}

/// Whether XML the client writes is a stanza that counts (our own serialisation, so the
/// start tag is enough).
pub fn counts_xml(xml: &[u8]) -> bool {
    [&b"<message"[..], b"<presence", b"<iq"]
        .iter()
        .any(|p| xml.starts_with(p) && matches!(xml.get(p.len()), Some(b' ' | b'>' | b'/')))
}

/// Reads an `h` attribute value (xs:unsignedInt).
pub fn parse_h(h: Option<&str>) -> Result<u32, SmError> {
    h.and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| SmError::BadH(h.map(str::to_owned)))
}

/// `<enable resume='true'/>` (§3, §5), with the preferred maximum resumption time.
pub fn enable(resume: bool, max: Option<u32>) -> Element {
    let mut el = Element::new("enable", ns::SM);
    if resume {
        el.set_attr("resume", "true");
    }
    if let Some(max) = max {
        el.set_attr("max", max.to_string());
    }
    el
}

/// `<r/>` as [`request`] serialises it, so a writer can recognise it.
pub const REQUEST_XML: &str = "<r xmlns='urn:xmpp:sm:3'/>";

/// `<r/>`, an acknowledgement request (§4).
pub fn request() -> Element {
    Element::new("r", ns::SM)
}

/// `<a h='…'/>`, an acknowledgement (§4).
pub fn answer(h: u32) -> Element {
    Element::new("a", ns::SM).with_attr("h", h.to_string())
}

/// `<resume previd='…' h='…'/>` (§5).
pub fn resume(previd: &str, h: u32) -> Element {
    Element::new("resume", ns::SM)
        .with_attr("previd", previd)
        .with_attr("h", h.to_string())
}

/// The client's stream management state for one SM session (across resumptions).
#[derive(Debug, Clone, Default)]
pub struct StreamMgmt {
    /// Stanzas handled from the server since `<enabled/>` (our `h`), mod 2^32.
    inbound: u32,
    /// Stanzas sent since `<enable/>`, mod 2^32.
    sent: u32,
    /// The server's last acknowledged `h`.
    acked: u32,
    /// Sent stanzas after `acked`, oldest first, as written.
    unacked: VecDeque<String>,
    /// What `<enabled/>` granted; `None` until it arrived.
    pub granted: Option<Resumption>,
}

impl StreamMgmt {
    /// A fresh state: counting starts when `<enable/>` is written.
    pub fn new() -> Self {
        Self::default()
    }

    /// Our `h`: stanzas handled from the server.
    pub fn inbound(&self) -> u32 {
        self.inbound
    }

    /// Stanzas sent since `<enable/>` (mod 2^32): what an exact `<a h/>` must say.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// Counts one stanza handled from the server.
    pub fn received(&mut self) {
        self.inbound = self.inbound.wrapping_add(1);
    }

    /// Counts one stanza written, keeping it until acknowledged.
    pub fn wrote(&mut self, xml: &str) {
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(xml.to_owned());
    }

    /// Applies the server's `h` (from `<a/>` or `<resumed/>`): drops the stanzas it
    /// acknowledges and returns how many. An `h` acknowledging more than was sent is a
    /// protocol violation and changes nothing.
    pub fn acknowledge(&mut self, h: u32) -> Result<usize, SmError> {
        let newly = h.wrapping_sub(self.acked) as usize;
        if newly > self.unacked.len() {
            return Err(SmError::AckedUnsent {
                h,
                acked: self.acked,
                unacked: self.unacked.len(),
            });
        }
        self.unacked.drain(..newly);
        self.acked = h;
        Ok(newly)
    }

    /// Sent stanzas the server has not acknowledged, oldest first.
    pub fn unacked(&self) -> impl Iterator<Item = &str> {
        self.unacked.iter().map(String::as_str)
    }

    /// A state whose counters start at `start` (tests of the wrap-around).
    #[cfg(test)]
    fn starting_at(start: u32) -> Self {
        Self {
            inbound: start,
            sent: start,
            acked: start,
            ..Self::default()
        }
    }
}

/// The stanza error of a `<failed/>` as a [`StanzaError`]-like condition name, for
/// messages; kept here so callers need not know the element layout.
pub fn describe_failed(el: &Element) -> String {
    match Failed::parse(el) {
        Some(f) if f.condition.is_empty() => "<failed/> without a condition".to_owned(),
        Some(f) => format!("<failed/> ({})", f.condition),
        None => match StanzaError::from_stanza(el) {
            Some(e) => format!("<{}/> with error {}", el.name, e.condition),
            None => format!("<{}/> in {}", el.name, el.ns),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::xmpp::element::parse;
    use crate::proto::xmpp::{NsContext, stanza};

    fn p(s: &str) -> Element {
        parse(s.as_bytes(), &NsContext::client()).unwrap()
    }

    #[test]
    fn counts_only_stanzas() {
        assert!(counts(&p("<message to='a@b'/>")));
        assert!(counts(&p("<presence/>")) && counts(&p("<iq type='get' id='1'/>")));
        assert!(!counts(&p("<r xmlns='urn:xmpp:sm:3'/>")));
        assert!(!counts(&p("<a xmlns='urn:xmpp:sm:3' h='1'/>")));
        assert!(!counts(&p("<message xmlns='urn:x'/>")));
        assert!(counts_xml(
            stanza::message("chat", "1", "a@b", "x").to_xml().as_bytes()
        ));
        assert!(counts_xml(b"<presence/>") && counts_xml(b"<iq type='get'/>"));
        assert!(!counts_xml(b"<r xmlns='urn:xmpp:sm:3'/>") && !counts_xml(b"<iqx/>"));
        assert!(!counts_xml(b"</stream:stream>"));
    }

    #[test]
    fn acknowledges_and_trims_the_queue() {
        let mut sm = StreamMgmt::new();
        for i in 0..5 {
            sm.wrote(&format!("<message id='{i}'/>"));
        }
        assert_eq!(sm.sent(), 5);
        assert_eq!(sm.acknowledge(3), Ok(3));
        assert_eq!(
            sm.unacked().collect::<Vec<_>>(),
            ["<message id='3'/>", "<message id='4'/>"]
        );
        assert_eq!(
            sm.acknowledge(3),
            Ok(0),
            "a repeated h acknowledges nothing new"
        );
        assert_eq!(sm.acknowledge(5), Ok(2));
        assert_eq!(sm.unacked().count(), 0);
        sm.received();
        sm.received();
        assert_eq!(sm.inbound(), 2);
    }

    #[test]
    fn an_h_beyond_what_was_sent_is_a_violation() {
        let mut sm = StreamMgmt::new();
        sm.wrote("<iq/>");
        let e = sm.acknowledge(3).unwrap_err();
        assert_eq!(
            e,
            SmError::AckedUnsent {
                h: 3,
                acked: 0,
                unacked: 1
            }
        );
        assert!(e.to_string().contains("2 stanzas beyond"), "{e}");
        assert_eq!(sm.unacked().count(), 1, "nothing changed");
        // An h "behind" the last one is a huge jump forward modulo 2^32: also rejected.
        assert_eq!(sm.acknowledge(1), Ok(1));
        assert!(sm.acknowledge(0).is_err());
    }

    #[test]
    fn counters_wrap_at_two_to_the_32() {
        let mut sm = StreamMgmt::starting_at(u32::MAX - 1);
        for i in 0..4 {
            sm.wrote(&format!("<message id='{i}'/>"));
            sm.received();
        }
        assert_eq!((sm.sent(), sm.inbound()), (2, 2), "2^32-1 is followed by 0");
        assert_eq!(sm.acknowledge(u32::MAX), Ok(1));
        assert_eq!(sm.acknowledge(1), Ok(2));
        assert_eq!(sm.unacked().collect::<Vec<_>>(), ["<message id='3'/>"]);
        assert!(sm.acknowledge(3).is_err());
        assert_eq!(sm.acknowledge(2), Ok(1));
    }

    #[test]
    fn parses_h_values() {
        assert_eq!(parse_h(Some("4294967295")), Ok(u32::MAX));
        assert_eq!(parse_h(Some("0")), Ok(0));
        assert!(matches!(parse_h(Some("4294967296")), Err(SmError::BadH(_))));
        assert!(matches!(parse_h(Some("-1")), Err(SmError::BadH(_))));
        assert_eq!(parse_h(None), Err(SmError::BadH(None)));
    }

    #[test]
    fn reads_enabled_and_failed() {
        let r = Resumption::parse(&p(
            "<enabled xmlns='urn:xmpp:sm:3' id='abc' resume='1' max='60' location='h:5222'/>",
        ))
        .unwrap();
        assert_eq!(r.id.as_deref(), Some("abc"));
        assert!(r.resume);
        assert_eq!((r.max, r.location.as_deref()), (Some(60), Some("h:5222")));
        let plain = Resumption::parse(&p("<enabled xmlns='urn:xmpp:sm:3'/>")).unwrap();
        assert!(!plain.resume && plain.id.is_none() && plain.max.is_none());
        assert_eq!(
            Resumption::parse(&p("<enabled xmlns='urn:xmpp:sm:2'/>")),
            None
        );
        let f = p("<failed xmlns='urn:xmpp:sm:3' h='3'>\
            <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
        let failed = Failed::parse(&f).unwrap();
        assert_eq!(
            (failed.condition.as_str(), failed.h.as_deref()),
            ("item-not-found", Some("3"))
        );
        assert_eq!(describe_failed(&f), "<failed/> (item-not-found)");
        assert_eq!(
            describe_failed(&p("<failed xmlns='urn:xmpp:sm:3'/>")),
            "<failed/> without a condition"
        );
    }

    #[test]
    fn builds_sm_elements() {
        assert_eq!(
            enable(true, Some(300)).to_xml(),
            "<enable xmlns='urn:xmpp:sm:3' resume='true' max='300'/>"
        );
        assert_eq!(
            enable(false, None).to_xml(),
            "<enable xmlns='urn:xmpp:sm:3'/>"
        );
        assert_eq!(request().to_xml(), REQUEST_XML);
        assert_eq!(answer(7).to_xml(), "<a xmlns='urn:xmpp:sm:3' h='7'/>");
        assert_eq!(
            resume("x'y", 2).to_xml(),
            "<resume xmlns='urn:xmpp:sm:3' previd='x&apos;y' h='2'/>"
        );
    }
}
