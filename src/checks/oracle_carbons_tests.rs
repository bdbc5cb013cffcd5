//! The forking and carbons oracles on hand-written server stanzas: one that satisfies each
//! clause and ones that violate it, so every check is shown able to fail, including those
//! no server setting can break (copy wrapper, private, no-copy, disabled resources, the
//! addressee and sender, negative priorities, lock-in).

use super::*;
use crate::proto::xmpp::NsContext;
use crate::proto::xmpp::element::parse;

fn el(xml: &str) -> Element {
    parse(xml.as_bytes(), &NsContext::client()).expect("test bytes parse")
}

fn jid(s: &str) -> Jid {
    s.parse().expect("test JID")
}

fn labels(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A carbon copy as a server would send it to `to`, wrapping message `id`.
fn wire_copy(kind: &str, from: &str, to: &str, id: &str) -> String {
    format!(
        "<message xmlns='jabber:client' from='{from}' to='{to}' type='chat'>\
         <{kind} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
         <message xmlns='jabber:client' id='{id}' from='u2@example.test/desktop' \
         to='u1@example.test/desktop' type='chat'><body>hi</body></message>\
         </forwarded></{kind}></message>"
    )
}

/// The copy `session` received, parsed from the wire as the ledger does.
fn seen(session: &str, xml: &str) -> CopySeen {
    let (id, c) = CopySeen::from_wire(session, &el(xml), xml.as_bytes()).expect("a carbon");
    assert_eq!(id, "impress-9");
    c
}

fn received_at_mobile() -> CopySeen {
    let xml = wire_copy(
        "received",
        "u1@example.test",
        "u1@example.test/mobile",
        "impress-9",
    );
    seen("u1/mobile", &xml)
}

#[test]
fn carbons_feature_must_be_advertised() {
    let ok = el(
        "<iq type='result' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'>\
        <identity category='server' type='im'/><feature var='urn:xmpp:carbons:2'/></query></iq>",
    );
    assert!(carbons_advertised(Some(&ok)).is_ok());
    let without = el(
        "<iq type='result' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'>\
        <identity category='server' type='im'/><feature var='urn:xmpp:ping'/></query></iq>",
    );
    let v = carbons_advertised(Some(&without)).unwrap_err();
    assert!(v.actual.contains("no urn:xmpp:carbons:2"), "{v:?}");
    let err = el("<iq type='error' id='q1'><error type='cancel'>\
        <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    assert!(carbons_advertised(Some(&err)).is_err());
    assert!(carbons_advertised(None).is_err());
}

#[test]
fn enable_and_disable_must_be_acknowledged() {
    let ok = el("<iq type='result' id='q2' from='u1@example.test'/>");
    assert!(carbons_toggled(Some(&ok), "enable").is_ok());
    let refused = el("<iq type='error' id='q2'><error type='cancel'>\
        <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    let v = carbons_toggled(Some(&refused), "disable").unwrap_err();
    assert!(v.expected.contains("<disable"), "{v:?}");
    assert!(v.actual.contains("service-unavailable"), "{v:?}");
    assert!(carbons_toggled(None, "enable").is_err());
}

#[test]
fn received_and_sent_copies_must_arrive() {
    let copies = vec![received_at_mobile()];
    assert!(copy_delivered(&copies, "u1/mobile", Direction::Received).is_ok());
    // Nothing at the tablet; and at the mobile a <received/> where a <sent/> was due.
    let v = copy_delivered(&copies, "u1/tablet", Direction::Received).unwrap_err();
    assert!(v.actual.contains("no copy"), "{v:?}");
    let v = copy_delivered(&copies, "u1/mobile", Direction::Sent).unwrap_err();
    assert!(v.actual.contains("<received/> copy at u1/mobile"), "{v:?}");
}

#[test]
fn a_copy_where_none_may_go_is_a_violation() {
    // The same function judges <private/>, <no-copy/>, the addressee, the sending
    // resource and a resource that disabled carbons: any copy at a forbidden session fails.
    let copies = vec![received_at_mobile()];
    assert!(no_copies(&copies, &labels(&["u1/desktop"]), "addressee").is_ok());
    assert!(no_copies(&[], &labels(&["u1/mobile"]), "<private/>").is_ok());
    let v = no_copies(&copies, &labels(&["u1/mobile", "u1/watch"]), "<private/>").unwrap_err();
    assert!(v.expected.contains("<private/>"), "{v:?}");
    assert!(
        v.actual.contains("<forwarded"),
        "the raw copy is quoted: {v:?}"
    );
}

#[test]
fn wrapper_must_come_from_the_bare_jid_to_the_full_jid() {
    let mobile = jid("u1@example.test/mobile");
    assert!(wrapper_addressed(&received_at_mobile(), &mobile).is_ok());
    // From the sender's full JID instead of the user's bare JID.
    let spoofed = wire_copy(
        "received",
        "u2@example.test/desktop",
        "u1@example.test/mobile",
        "impress-9",
    );
    let v = wrapper_addressed(&seen("u1/mobile", &spoofed), &mobile).unwrap_err();
    assert!(v.actual.contains("from='u2@example.test/desktop'"), "{v:?}");
    // From the user's own full JID.
    let own_full = wire_copy(
        "sent",
        "u1@example.test/desktop",
        "u1@example.test/mobile",
        "impress-9",
    );
    assert!(wrapper_addressed(&seen("u1/mobile", &own_full), &mobile).is_err());
    // A <received/> copy addressed to another resource.
    let misdirected = wire_copy(
        "received",
        "u1@example.test",
        "u1@example.test/desktop",
        "impress-9",
    );
    let v = wrapper_addressed(&seen("u1/mobile", &misdirected), &mobile).unwrap_err();
    assert!(v.actual.contains("to='u1@example.test/desktop'"), "{v:?}");
    // A <sent/> copy's 'to' is only a SHOULD; an omitted 'to' is allowed for both.
    let sent_bare_to = wire_copy("sent", "u1@example.test", "u1@example.test", "impress-9");
    assert!(wrapper_addressed(&seen("u1/mobile", &sent_bare_to), &mobile).is_ok());
    let no_to = "<message from='u1@example.test'><received xmlns='urn:xmpp:carbons:2'>\
        <forwarded xmlns='urn:xmpp:forward:0'><message id='impress-9'/></forwarded>\
        </received></message>";
    assert!(wrapper_addressed(&seen("u1/mobile", no_to), &mobile).is_ok());
}

#[test]
fn negative_priority_resources_never_get_bare_jid_messages() {
    let negative = labels(&["u2/watch"]);
    assert!(no_negative_priority(&labels(&["u2/desktop", "u2/mobile"]), &negative).is_ok());
    let v = no_negative_priority(&labels(&["u2/desktop", "u2/watch"]), &negative).unwrap_err();
    assert!(v.actual.contains("u2/watch"), "{v:?}");
}

#[test]
fn lock_in_keeps_the_conversation_on_the_replying_resource() {
    assert!(lock_in(&labels(&["u2/mobile"]), "u2/mobile").is_ok());
    let v = lock_in(&labels(&["u2/desktop", "u2/mobile"]), "u2/mobile").unwrap_err();
    assert!(v.actual.contains("does not lock in"), "{v:?}");
    assert!(lock_in(&labels(&["u2/desktop"]), "u2/mobile").is_err());
    assert!(lock_in(&[], "u2/mobile").is_err());
}

#[test]
fn forking_policy_is_classified() {
    let res = |v: &[(&str, i8)]| -> Vec<(String, i8)> {
        v.iter().map(|(l, p)| (l.to_string(), *p)).collect()
    };
    let equal = res(&[("d", 1), ("m", 1), ("w", -1)]);
    let ranked = res(&[("d", 2), ("m", 1)]);
    let cases = [
        (&equal, vec!["d", "m"], ForkPolicy::AllMostAvailable),
        (&equal, vec!["m"], ForkPolicy::OneMostAvailable),
        (&equal, vec!["d", "m", "w"], ForkPolicy::Other),
        (&equal, vec![], ForkPolicy::Undelivered),
        (&ranked, vec!["d"], ForkPolicy::AllMostAvailable),
        (&ranked, vec!["m", "d"], ForkPolicy::AllNonNegative),
        (&ranked, vec!["m"], ForkPolicy::Other),
    ];
    for (resources, got, want) in cases {
        assert_eq!(fork_policy(&labels(&got), resources), want, "{got:?}");
    }
    assert_eq!(
        fork_policy(&labels(&["w"]), &res(&[("w", -1)])),
        ForkPolicy::Other
    );
    assert_eq!(
        ForkPolicy::OneMostAvailable.counter(),
        "fork_one_most_available"
    );
}
