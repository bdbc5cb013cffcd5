//! Every XEP-0045 oracle on hand-written room stanzas: one that satisfies the clause and
//! ones that violate it, so every MUC check is shown able to fail.

use super::*;
use crate::proto::xmpp::NsContext;
use crate::proto::xmpp::element::parse;
use std::time::Duration;

fn el(xml: &str) -> Element {
    parse(xml.as_bytes(), &NsContext::client()).expect("test bytes parse")
}

fn jid(s: &str) -> Jid {
    s.parse().expect("test JID")
}

const SELF_OK: &str = "<presence from='r@conference.example.test/user2' to='user2@example.test/a'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>";
const SELF_NO_110: &str = "<presence from='r@conference.example.test/user2' to='user2@example.test/a'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>";
const CREATED: &str = "<presence from='r@conference.example.test/user1'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator'/><status code='110'/><status code='201'/></x></presence>";
const NO_SERVICE: &str = "<presence type='error' from='r@conference.example.test/user1'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>";

fn refusal(cond: &str) -> Element {
    el(&format!(
        "<presence type='error' from='r@conference.example.test/user1'><x xmlns='http://jabber.org/protocol/muc'/><error type='cancel'><{cond} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    ))
}

#[test]
fn self_presence_needs_status_110() {
    assert_eq!(status_codes(&el(CREATED)), vec![110, 201]);
    assert!(self_presence(Some(&el(SELF_OK))).is_ok());
    let v = self_presence(Some(&el(SELF_NO_110))).unwrap_err();
    assert!(v.actual.contains("[]"), "{v:?}");
    let v = self_presence(Some(&el(NO_SERVICE))).unwrap_err();
    assert!(v.actual.contains("remote-server-not-found"), "{v:?}");
    assert!(self_presence(None).is_err());
}

#[test]
fn room_creation_is_acknowledged_with_201_and_owner() {
    assert!(room_created(Some(&el(CREATED))).is_ok());
    // An existing room entered instead of created: no 201.
    let v = room_created(Some(&el(SELF_OK))).unwrap_err();
    assert!(v.actual.contains("affiliation: none"), "{v:?}");
    assert!(room_created(Some(&el(NO_SERVICE))).is_err());
    assert!(room_created(None).is_err());
}

#[test]
fn default_role_follows_affiliation() {
    assert!(default_role(&el(CREATED), "moderator").is_ok());
    assert!(default_role(&el(SELF_OK), "participant").is_ok());
    // A newcomer to a moderated room made a participant, not a visitor.
    let v = default_role(&el(SELF_OK), "visitor").unwrap_err();
    assert_eq!(v.actual, "role='participant' (affiliation='none')");
    assert!(default_role(&el("<presence/>"), "visitor").is_err());
}

#[test]
fn every_occupant_presence_is_required() {
    let all = vec!["user1".to_string(), "user3".to_string()];
    assert!(occupants_seen(&all, &[]).is_ok());
    let v = occupants_seen(&all, &["user3".to_string()]).unwrap_err();
    assert!(v.actual.contains("user3"));
}

#[test]
fn order_of_events_on_join() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let good = JoinTrace {
        existing: vec![("user1".into(), Some(at(1)))],
        own: Some(at(2)),
        history: vec![at(3), at(4)],
        subject: Some(at(5)),
    };
    assert!(order_of_events(&good).is_ok());
    let late_occupant = JoinTrace {
        existing: vec![("user1".into(), Some(at(3)))],
        ..good.clone()
    };
    let v = order_of_events(&late_occupant).unwrap_err();
    assert!(v.actual.contains("user1"), "{v:?}");
    let early_history = JoinTrace {
        history: vec![at(1)],
        ..good.clone()
    };
    assert!(order_of_events(&early_history).is_err());
    let early_subject = JoinTrace {
        subject: Some(at(3)),
        ..good.clone()
    };
    let v = order_of_events(&early_subject).unwrap_err();
    assert_eq!(v.actual, "history after the subject");
    // Nothing judged without a self-presence (its own check fails).
    assert!(order_of_events(&JoinTrace::default()).is_ok());
}

#[test]
fn history_is_exactly_maxstanzas() {
    assert!(history_count(2, 6, 2).is_ok());
    assert!(history_count(5, 3, 3).is_ok());
    // A service keeping no history, and one ignoring maxstanzas.
    assert!(history_count(2, 6, 0).is_err());
    let v = history_count(2, 6, 6).unwrap_err();
    assert!(v.actual.starts_with("6 "), "{v:?}");
}

#[test]
fn history_messages_carry_delay_from_the_room() {
    let room = jid("r@conference.example.test");
    let ok = el(
        "<message type='groupchat' from='r@conference.example.test/user1'><body>hi</body><delay xmlns='urn:xmpp:delay' from='r@conference.example.test' stamp='2024-01-01T00:00:00Z'/></message>",
    );
    assert!(history_delay(&ok, &room).is_ok());
    let bare = el(
        "<message type='groupchat' from='r@conference.example.test/user1'><body>hi</body></message>",
    );
    assert!(history_delay(&bare, &room).is_err());
    let wrong_from = el(
        "<message type='groupchat'><body>hi</body><delay xmlns='urn:xmpp:delay' from='user1@example.test/a' stamp='2024-01-01T00:00:00Z'/></message>",
    );
    let v = history_delay(&wrong_from, &room).unwrap_err();
    assert!(v.actual.contains("user1@example.test"), "{v:?}");
}

#[test]
fn subject_is_sent_on_join() {
    let empty =
        el("<message type='groupchat' from='r@conference.example.test'><subject/></message>");
    assert!(is_subject(&empty));
    assert!(subject_on_join(Some(&empty)).is_ok());
    let with_body =
        el("<message type='groupchat'><subject>s</subject><body>not a subject</body></message>");
    assert!(subject_on_join(Some(&with_body)).is_err());
    assert!(subject_on_join(None).is_err());
}

#[test]
fn refused_joins_carry_their_condition() {
    for cond in ["registration-required", "conflict", "service-unavailable"] {
        assert!(join_refused(Some(&refusal(cond)), cond).is_ok());
        // Admitted, or refused for another reason.
        let v = join_refused(Some(&el(SELF_OK)), cond).unwrap_err();
        assert!(v.actual.starts_with("admitted"), "{v:?}");
        assert!(join_refused(Some(&refusal("forbidden")), cond).is_err());
        assert!(join_refused(None, cond).is_err());
    }
}

#[test]
fn fanout_reaches_every_occupant_from_the_occupant_jid() {
    assert!(fanout(4, &[], &[]).is_ok());
    let v = fanout(4, &["muc-1-user2-0".into()], &[]).unwrap_err();
    assert!(v.actual.contains("muc-1-user2-0"));
    let v = fanout(4, &[], &[("m".into(), "user2@example.test/a".into())]).unwrap_err();
    assert!(v.actual.contains("user2@example.test/a"));
}

#[test]
fn visitors_are_refused_with_forbidden() {
    let forbidden = el(
        "<message type='error' id='m' from='r@conference.example.test'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    );
    assert!(visitor_refused(Some(&forbidden)).is_ok());
    let reflected = el(
        "<message type='groupchat' id='m' from='r@conference.example.test/user2'><body>x</body></message>",
    );
    let v = visitor_refused(Some(&reflected)).unwrap_err();
    assert!(v.actual.contains("reflected"));
    let other = el(
        "<message type='error' id='m'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    );
    assert!(visitor_refused(Some(&other)).is_err());
    assert!(visitor_refused(None).is_err());
}

#[test]
fn subject_change_reaches_occupants() {
    let room = jid("r@conference.example.test");
    let owner = jid("r@conference.example.test/user1");
    let ok = el(
        "<message type='groupchat' from='r@conference.example.test/user1'><subject>topic 7</subject></message>",
    );
    assert!(subject_change(Some(&ok), "topic 7", &room, &owner).is_ok());
    let stale = el(
        "<message type='groupchat' from='r@conference.example.test/user1'><subject>old</subject></message>",
    );
    assert!(subject_change(Some(&stale), "topic 7", &room, &owner).is_err());
    let spoofed = el(
        "<message type='groupchat' from='r@conference.example.test/user3'><subject>topic 7</subject></message>",
    );
    assert!(subject_change(Some(&spoofed), "topic 7", &room, &owner).is_err());
    assert!(subject_change(None, "topic 7", &room, &owner).is_err());
}

#[test]
fn exit_is_acknowledged_and_broadcast() {
    let own = el(
        "<presence type='unavailable' from='r@conference.example.test/user2'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><status code='110'/></x></presence>",
    );
    let other = el(
        "<presence type='unavailable' from='r@conference.example.test/user2'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>",
    );
    assert!(exit_self(Some(&own)).is_ok());
    assert!(exit_self(Some(&other)).is_err());
    assert!(exit_self(None).is_err());
    assert!(exit_broadcast(Some(&other)).is_ok());
    assert!(exit_broadcast(Some(&el(SELF_OK))).is_err());
    assert!(exit_broadcast(None).is_err());
}

#[test]
fn destruction_carries_destroy_and_reason() {
    let ok = el(
        "<presence type='unavailable' from='r@conference.example.test/user2'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><destroy><reason>bye 9</reason></destroy></x></presence>",
    );
    assert!(destroyed(Some(&ok), "bye 9").is_ok());
    let plain = el(
        "<presence type='unavailable' from='r@conference.example.test/user2'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>",
    );
    let v = destroyed(Some(&plain), "bye 9").unwrap_err();
    assert!(v.actual.contains("without <destroy/>"), "{v:?}");
    let no_reason = el(
        "<presence type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><destroy/></x></presence>",
    );
    assert!(destroyed(Some(&no_reason), "bye 9").is_err());
    assert!(destroyed(None, "bye 9").is_err());
}

#[test]
fn configuration_form_and_submission() {
    let form = el(
        "<iq type='result' id='q1'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_maxusers' type='list-single'><value>20</value><option label='10'><value>10</value></option><option label='20'><value>20</value></option></field></x></query></iq>",
    );
    let fields = config_form(Some(&form)).expect("a form");
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[1].var, "muc#roomconfig_maxusers");
    assert_eq!(fields[1].options, vec!["10", "20"]);
    let empty = el("<iq type='result'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>");
    assert_eq!(config_form(Some(&empty)), Ok(Vec::new()));
    let forbidden = el(
        "<iq type='error'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    assert!(config_form(Some(&forbidden)).is_err());
    assert!(config_form(None).is_err());
    assert!(iq_result("the configuration", Some(&el("<iq type='result'/>"))).is_ok());
    let refused = el(
        "<iq type='error'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    let v = iq_result("the configuration", Some(&refused)).unwrap_err();
    assert!(v.actual.contains("not-acceptable"), "{v:?}");
}

#[test]
fn configuration_in_effect_after_submission() {
    let form = el(
        "<iq type='result'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_maxusers' type='list-single'><value>2</value></field><field var='muc#roomconfig_membersonly' type='boolean'><value>true</value></field></x></query></iq>",
    );
    let fields = config_form(Some(&form)).expect("a form");
    let members = [("muc#roomconfig_membersonly".to_string(), "1".to_string())];
    assert!(config_in_effect(&members, &fields).is_ok());
    // The service clamped the occupant limit the owner asked for.
    let max = [("muc#roomconfig_maxusers".to_string(), "3".to_string())];
    let v = config_in_effect(&max, &fields).unwrap_err();
    assert!(v.actual.contains("'2'"), "{v:?}");
    // Prosody leaves out the value of a false boolean (XEP-0004: false by default).
    let quiet = el(
        "<iq type='result'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_persistentroom' type='boolean'/></x></query></iq>",
    );
    let quiet = config_form(Some(&quiet)).expect("a form");
    let off = [("muc#roomconfig_persistentroom".to_string(), "0".to_string())];
    assert!(config_in_effect(&off, &quiet).is_ok());
    let on = [("muc#roomconfig_persistentroom".to_string(), "1".to_string())];
    assert!(config_in_effect(&on, &quiet).is_err());
    let gone = [("muc#roomconfig_moderatedroom".to_string(), "1".to_string())];
    assert!(config_in_effect(&gone, &fields).is_err());
}
