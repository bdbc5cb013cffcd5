//! Every oracle on hand-written server bytes: one that satisfies the clause and one that
//! violates it, so every check is shown able to fail.

use super::*;
use crate::proto::xmpp::element::parse;
use crate::proto::xmpp::stanza::StreamFeatures;
use crate::proto::xmpp::{Jid, NsContext};

fn el(xml: &str) -> Element {
    parse(xml.as_bytes(), &NsContext::client()).expect("test bytes parse")
}

fn features(xml: &str) -> StreamFeatures {
    StreamFeatures::parse(&el(xml))
}

const AFTER_TLS_OK: &str = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>";
const AFTER_TLS_STARTTLS_AGAIN: &str = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";

#[test]
fn features_after_starttls() {
    assert!(features_received(Some(&el(AFTER_TLS_OK))).is_ok());
    let not_features = el("<iq type='error' id='x'/>");
    assert!(features_received(Some(&not_features)).is_err());
    assert!(features_received(None).is_err());
}

#[test]
fn no_starttls_offered_again_after_tls() {
    assert!(no_starttls_after_tls(&features(AFTER_TLS_OK)).is_ok());
    let v = no_starttls_after_tls(&features(AFTER_TLS_STARTTLS_AGAIN)).unwrap_err();
    assert!(v.actual.contains("starttls"));
}

#[test]
fn bind_offered_after_sasl() {
    let ok = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
    assert!(bind_offered(&features(ok)).is_ok());
    let missing = "<stream:features><sm xmlns='urn:xmpp:sm:3'/></stream:features>";
    assert!(bind_offered(&features(missing)).is_err());
}

#[test]
fn sasl_success_or_failure() {
    assert!(sasl_outcome(&el("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ybUY5cHFWOFM3c3VBb1pXamE0ZEpSa0ZzS1E9</success>")).is_ok());
    let fail = el("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
    let v = sasl_outcome(&fail).unwrap_err();
    assert!(v.actual.contains("not-authorized"), "{v:?}");
}

#[test]
fn scram_server_signature_mismatch_is_detected() {
    use crate::proto::xmpp::sasl::{Mechanism, SaltedPasswordCache, ScramClient};
    let mut c = ScramClient::new(
        Mechanism::ScramSha1,
        "user",
        "pencil",
        "fyko+d2lbbFgONRv9qkxdawL",
    );
    let first = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    c.handle_server_first(first, &SaltedPasswordCache::new())
        .expect("RFC 5802 vector");
    assert!(
        c.verify_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
            .is_ok()
    );
    assert!(
        c.verify_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .is_err()
    );
}

#[test]
fn bind_returns_full_jid_of_the_account() {
    let account: Jid = "alice@example.test".parse().unwrap();
    let ok = el(
        "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@example.test/desk</jid></bind></iq>",
    );
    assert_eq!(bind_result(&ok, &account).unwrap().resource(), Some("desk"));
    let bare = el(
        "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@example.test</jid></bind></iq>",
    );
    assert!(bind_result(&bare, &account).is_err());
    let other = el(
        "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>mallory@example.test/x</jid></bind></iq>",
    );
    assert!(bind_result(&other, &account).is_err());
    let no_jid = el("<iq type='result' id='bind-1'/>");
    assert!(bind_result(&no_jid, &account).is_err());
}

#[test]
fn iq_response_type_and_id() {
    assert!(iq_response("q1", Some(&el("<iq type='result' id='q1'/>"))).is_ok());
    assert!(iq_response("q1", Some(&el("<iq type='error' id='q1'/>"))).is_ok());
    assert!(iq_response("q1", Some(&el("<iq type='get' id='q1'/>"))).is_err());
    assert!(iq_response("q1", Some(&el("<iq type='result' id='q2'/>"))).is_err());
    assert!(iq_response("q1", None).is_err());
}

#[test]
fn delivered_stanza_is_stamped_with_the_senders_full_jid() {
    let sender: Jid = "bob@example.test/phone".parse().unwrap();
    let ok = el(
        "<message from='bob@example.test/phone' to='alice@example.test' id='m1'><body>hi</body></message>",
    );
    assert!(from_stamped(&ok, &sender).is_ok());
    let bare = el(
        "<message from='bob@example.test' to='alice@example.test' id='m1'><body>hi</body></message>",
    );
    assert!(from_stamped(&bare, &sender).is_err());
    let none = el("<message to='alice@example.test' id='m1'><body>hi</body></message>");
    assert!(from_stamped(&none, &sender).is_err());
}

#[test]
fn stream_close_answered() {
    assert!(stream_closed(true).is_ok());
    assert!(stream_closed(false).is_err());
}

#[test]
fn roster_get_result() {
    assert!(
        roster_result(&el(
            "<iq type='result' id='q1'><query xmlns='jabber:iq:roster'/></iq>"
        ))
        .is_ok()
    );
    let unavailable = "<iq type='error' id='q1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
    let v = roster_result(&el(unavailable)).unwrap_err();
    assert!(v.actual.contains("service-unavailable"), "{v:?}");
}

#[test]
fn roster_push_with_subscription_both() {
    let contact: Jid = "bob@example.test".parse().unwrap();
    let both = el(
        "<iq type='set' id='p1'><query xmlns='jabber:iq:roster'><item jid='bob@example.test' subscription='both'/></query></iq>",
    );
    assert!(is_roster_push_both(&both, &contact));
    let to = el(
        "<iq type='set' id='p1'><query xmlns='jabber:iq:roster'><item jid='bob@example.test' subscription='to'/></query></iq>",
    );
    assert!(!is_roster_push_both(&to, &contact));
    let other = el(
        "<iq type='set' id='p1'><query xmlns='jabber:iq:roster'><item jid='carol@example.test' subscription='both'/></query></iq>",
    );
    assert!(!is_roster_push_both(&other, &contact));
}

#[test]
fn bare_jid_chat_reaches_an_available_resource() {
    let avail = vec!["bob/desktop".to_string(), "bob/mobile".to_string()];
    assert!(bare_jid_delivery(&["bob/mobile".into()], &avail).is_ok());
    assert!(bare_jid_delivery(&avail, &avail).is_ok());
    assert!(bare_jid_delivery(&[], &avail).is_err());
    assert!(bare_jid_delivery(&["bob/gone".into()], &avail).is_err());
}

#[test]
fn full_jid_message_reaches_only_that_resource() {
    assert!(full_jid_delivery(&["bob/desktop".into()], "bob/desktop").is_ok());
    assert!(
        full_jid_delivery(&["bob/desktop".into(), "bob/mobile".into()], "bob/desktop").is_err()
    );
    assert!(full_jid_delivery(&["bob/mobile".into()], "bob/desktop").is_err());
    assert!(full_jid_delivery(&[], "bob/desktop").is_err());
}

#[test]
fn ping_answered_with_result() {
    assert!(ping_reply(&el("<iq type='result' id='q1' from='example.test'/>")).is_ok());
    let err = "<iq type='error' id='q1'><ping xmlns='urn:xmpp:ping'/><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
    assert!(ping_reply(&el(err)).is_err());
}

#[test]
fn disco_info_has_identity_and_feature() {
    let ok = "<iq type='result' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im'/><feature var='urn:xmpp:ping'/></query></iq>";
    assert!(disco_identity(&el(ok)).is_ok());
    let no_identity = "<iq type='result' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:ping'/></query></iq>";
    assert!(disco_identity(&el(no_identity)).is_err());
    assert!(disco_identity(&el("<iq type='result' id='q1'/>")).is_err());
}

#[test]
fn sm_advertised_after_authentication() {
    let ok = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/></stream:features>";
    assert!(sm_advertised(&features(ok)).is_ok());
    let sm2_only = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:2'/></stream:features>";
    assert!(sm_advertised(&features(sm2_only)).is_err());
}

#[test]
fn sm_enabled_must_be_resumable() {
    let ok = el("<enabled xmlns='urn:xmpp:sm:3' id='g2gCbQ' resume='true' max='60'/>");
    assert!(sm_enabled(Some(&ok)).is_ok());
    let one = el("<enabled xmlns='urn:xmpp:sm:3' id='x' resume='1'/>");
    assert!(sm_enabled(Some(&one)).is_ok());
    let no_resume = el("<enabled xmlns='urn:xmpp:sm:3'/>");
    let v = sm_enabled(Some(&no_resume)).unwrap_err();
    assert!(v.actual.contains("resume=false"), "{v:?}");
    let no_id = el("<enabled xmlns='urn:xmpp:sm:3' resume='true'/>");
    assert!(sm_enabled(Some(&no_id)).is_err());
    let failed = el(
        "<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    );
    let v = sm_enabled(Some(&failed)).unwrap_err();
    assert!(v.actual.contains("unexpected-request"), "{v:?}");
    assert!(sm_enabled(None).is_err());
}

#[test]
fn sm_ack_h_is_exact() {
    let a = |h: &str| el(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
    assert!(sm_ack(Some(&a("3")), 3).is_ok());
    assert!(sm_ack(Some(&a("2")), 3).is_err(), "one stanza not counted");
    assert!(sm_ack(Some(&a("4")), 3).is_err(), "a stanza counted twice");
    assert!(sm_ack(Some(&a("0")), 0).is_ok());
    assert!(sm_ack(Some(&a("-1")), 0).is_err());
    assert!(sm_ack(Some(&el("<a xmlns='urn:xmpp:sm:3'/>")), 0).is_err());
    assert!(sm_ack(Some(&el("<r xmlns='urn:xmpp:sm:3'/>")), 0).is_err());
    assert!(sm_ack(None, 0).is_err());
}

#[test]
fn sm_resumed_names_the_former_stream_with_a_possible_h() {
    use crate::proto::xmpp::sm::StreamMgmt;
    let mut state = StreamMgmt::new();
    state.wrote("<message id='1'/>");
    state.wrote("<message id='2'/>");
    let ok = el("<resumed xmlns='urn:xmpp:sm:3' previd='abc' h='1'/>");
    assert!(sm_resumed(Some(&ok), "abc", &state).is_ok());
    let other = el("<resumed xmlns='urn:xmpp:sm:3' previd='xyz' h='1'/>");
    assert!(sm_resumed(Some(&other), "abc", &state).is_err());
    let too_high = el("<resumed xmlns='urn:xmpp:sm:3' previd='abc' h='3'/>");
    let v = sm_resumed(Some(&too_high), "abc", &state).unwrap_err();
    assert!(v.actual.contains("beyond"), "{v:?}");
    let no_h = el("<resumed xmlns='urn:xmpp:sm:3' previd='abc'/>");
    assert!(sm_resumed(Some(&no_h), "abc", &state).is_err());
    let failed = el(
        "<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    );
    let v = sm_resumed(Some(&failed), "abc", &state).unwrap_err();
    assert!(v.actual.contains("item-not-found"), "{v:?}");
}

#[test]
fn redelivery_is_exactly_once() {
    assert!(exactly_once(true, 0).is_ok());
    assert!(exactly_once(false, 0).is_err());
    let v = exactly_once(true, 1).unwrap_err();
    assert!(v.actual.contains("2 times"), "{v:?}");
}

#[test]
fn unknown_previd_fails_with_item_not_found() {
    let ok = el(
        "<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    );
    assert!(unknown_previd_failed(Some(&ok)).is_ok());
    assert!(unknown_previd_item_not_found(Some(&ok)).is_ok());
    let other = el(
        "<failed xmlns='urn:xmpp:sm:3'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    );
    assert!(unknown_previd_failed(Some(&other)).is_ok());
    assert!(unknown_previd_item_not_found(Some(&other)).is_err());
    let resumed = el("<resumed xmlns='urn:xmpp:sm:3' previd='made-up' h='0'/>");
    assert!(unknown_previd_failed(Some(&resumed)).is_err());
    assert!(unknown_previd_item_not_found(None).is_err());
}

#[test]
fn old_stream_is_terminated_on_resumption() {
    assert!(old_stream_terminated(Some("server sent stream error <conflict/>")).is_ok());
    assert!(old_stream_terminated(None).is_err());
}
