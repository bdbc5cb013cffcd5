//! The offline and limit oracles on hand-written server stanzas: one that satisfies each
//! clause and ones that violate it, so every check is shown able to fail, including those
//! no server setting can break (delay stamp and from, in-order delivery).

use super::*;
use crate::proto::xmpp::NsContext;
use crate::proto::xmpp::element::parse;

fn el(xml: &str) -> Element {
    parse(xml.as_bytes(), &NsContext::client()).expect("test bytes parse")
}

/// 2024-05-01T12:00:00Z.
const SENT_MS: i64 = 1_714_564_800_000;

fn sent(n: u32) -> Vec<SentOffline> {
    (0..n)
        .map(|k| SentOffline {
            seq: k,
            id: format!("offline-1-{k}"),
            sent_unix_ms: SENT_MS,
        })
        .collect()
}

fn ids(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|k| format!("offline-1-{k}")).collect()
}

fn bounced(range: std::ops::Range<u32>, condition: &str) -> Vec<Bounce> {
    range
        .map(|k| Bounce {
            id: format!("offline-1-{k}"),
            condition: condition.into(),
        })
        .collect()
}

/// Prosody 0.12 mod_offline's delivery (recorded shape).
const PROSODY_OFFLINE: &str = "<message type='chat' id='offline-1-0' to='user1@example.test' from='user2@example.test/impress'><body>impress offline 0</body><delay xmlns='urn:xmpp:delay' from='example.test' stamp='2024-05-01T12:00:00Z'/></message>";
/// ejabberd 23.01 mod_offline's delivery (recorded shape, microsecond stamp).
const EJABBERD_OFFLINE: &str = "<message type='chat' id='offline-1-0' to='user1@example.test' from='user2@example.test/impress' xml:lang='en'><body>impress offline 0</body><delay xmlns='urn:xmpp:delay' from='example.test' stamp='2024-05-01T12:00:00.481215Z'>Offline Storage</delay></message>";

fn with_delay(delay: &str) -> Element {
    el(&format!(
        "<message type='chat' id='offline-1-0' from='user2@example.test/impress'><body>x</body>{delay}</message>"
    ))
}

#[test]
fn stored_messages_must_all_arrive() {
    assert!(offline_stored(&sent(3), &ids(0..3), &[]).is_ok());
    let v =
        offline_stored(&sent(3), &ids(0..1), &bounced(1..2, "service-unavailable")).unwrap_err();
    assert_eq!(
        v.actual,
        "2 of 3 not delivered: 1 bounced with <service-unavailable/>, 1 dropped without an error"
    );
}

#[test]
fn delay_must_be_added() {
    assert!(delay_added(&el(PROSODY_OFFLINE)).is_ok());
    assert!(delay_added(&el(EJABBERD_OFFLINE)).is_ok());
    let live = el("<message type='chat' id='a'><body>x</body></message>");
    assert!(
        delay_added(&live)
            .unwrap_err()
            .actual
            .contains("without <delay/>")
    );
    let legacy = with_delay("<x xmlns='jabber:x:delay' stamp='20240501T12:00:00'/>");
    assert!(delay_added(&legacy).is_err(), "XEP-0091 is not XEP-0203");
}

#[test]
fn delay_stamp_is_a_utc_datetime_of_the_send_time() {
    let delivered = SENT_MS + 2_000;
    assert!(delay_stamp(&el(PROSODY_OFFLINE), SENT_MS + 400, delivered).is_ok());
    assert!(delay_stamp(&el(EJABBERD_OFFLINE), SENT_MS + 400, delivered).is_ok());
    let cases = [
        (
            "<delay xmlns='urn:xmpp:delay' from='example.test'/>",
            "without a 'stamp'",
        ),
        (
            "<delay xmlns='urn:xmpp:delay' stamp='20240501T12:00:00'/>",
            "XEP-0082",
        ),
        (
            "<delay xmlns='urn:xmpp:delay' stamp='2024-05-01 12:00:00Z'/>",
            "XEP-0082",
        ),
        (
            "<delay xmlns='urn:xmpp:delay' stamp='2024-02-30T12:00:00Z'/>",
            "no valid date",
        ),
        (
            "<delay xmlns='urn:xmpp:delay' stamp='2024-05-01T14:00:00+02:00'/>",
            "not in UTC",
        ),
        (
            "<delay xmlns='urn:xmpp:delay' stamp='1970-01-01T00:00:00Z'/>",
            "from the send time",
        ),
        (
            "<delay xmlns='urn:xmpp:delay' stamp='2024-05-02T12:00:00Z'/>",
            "from the send time",
        ),
    ];
    for (delay, why) in cases {
        let v = delay_stamp(&with_delay(delay), SENT_MS, delivered).unwrap_err();
        assert!(v.actual.contains(why), "{delay}: {v:?}");
    }
    let two = format!(
        "{0}{0}",
        "<delay xmlns='urn:xmpp:delay' stamp='2024-05-01T12:00:00Z'/>"
    );
    let v = delay_stamp(&with_delay(&two), SENT_MS, delivered).unwrap_err();
    assert!(v.actual.contains("2 <delay/>"), "{v:?}");
    let none = el("<message type='chat' id='a'><body>x</body></message>");
    assert!(
        delay_stamp(&none, SENT_MS, delivered).is_ok(),
        "delay_added judges that"
    );
}

#[test]
fn delay_from_names_the_server_or_the_sender() {
    let sender: Jid = "user2@example.test/impress".parse().expect("jid");
    assert!(delay_from(&el(PROSODY_OFFLINE), "example.test", &sender).is_ok());
    let by_sender = with_delay(
        "<delay xmlns='urn:xmpp:delay' from='user2@example.test' stamp='2024-05-01T12:00:00Z'/>",
    );
    assert!(delay_from(&by_sender, "example.test", &sender).is_ok());
    let anonymous = with_delay("<delay xmlns='urn:xmpp:delay' stamp='2024-05-01T12:00:00Z'/>");
    let v = delay_from(&anonymous, "example.test", &sender).unwrap_err();
    assert!(v.actual.contains("without 'from'"));
    let stranger = with_delay(
        "<delay xmlns='urn:xmpp:delay' from='other.example' stamp='2024-05-01T12:00:00Z'/>",
    );
    assert!(delay_from(&stranger, "example.test", &sender).is_err());
}

#[test]
fn offline_messages_arrive_in_the_order_sent() {
    assert!(in_order(&[0, 1, 2, 3]).is_ok());
    assert!(in_order(&[]).is_ok());
    let v = in_order(&[0, 2, 1, 3]).unwrap_err();
    assert!(v.actual.contains("[0, 2, 1, 3]"));
}

#[test]
fn a_full_queue_bounces_with_service_unavailable() {
    let s = sent(8);
    let note = queue_full(5, &s, &ids(0..5), &bounced(5..8, "service-unavailable"))
        .expect("XEP-0160 behaviour");
    assert_eq!(
        note,
        "limit 5: 5 of 8 stored; overflow: 3 bounced with <service-unavailable/>"
    );
    // ejabberd's recorded behaviour: the right limit, another condition.
    let v = queue_full(5, &s, &ids(0..5), &bounced(5..8, "resource-constraint")).unwrap_err();
    assert!(
        v.actual.contains("3 bounced with <resource-constraint/>"),
        "{v:?}"
    );
    // Prosody with mod_mam: the overflow is neither stored nor bounced.
    let v = queue_full(5, &s, &ids(0..5), &[]).unwrap_err();
    assert!(v.actual.contains("3 dropped without an error"), "{v:?}");
    // A store larger than the deployment's limit.
    let v = queue_full(5, &s, &ids(0..8), &[]).unwrap_err();
    assert!(v.actual.contains("8 of 8 stored"), "{v:?}");
    // The oldest evicted instead of the newest refused: losses without an error.
    let v = queue_full(5, &s, &ids(3..8), &[]).unwrap_err();
    assert!(v.actual.contains("dropped without an error"), "{v:?}");
}

fn fill<'a>(
    refused_early: Option<(usize, &'a Element)>,
    beyond: Option<&'a Element>,
    items: usize,
) -> RosterFill<'a> {
    RosterFill {
        max: 5,
        refused_early,
        beyond,
        final_items: Some(items),
    }
}

#[test]
fn the_add_beyond_the_maximum_is_refused() {
    let refused = el(
        "<iq type='error' id='q7'><query xmlns='jabber:iq:roster'/><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    );
    let accepted = el("<iq type='result' id='q7'/>");
    let how = roster_max(&fill(None, Some(&refused), 5)).expect("refused");
    assert_eq!(
        how,
        "the add of contact 6 was refused with <not-allowed/> (type 'cancel')"
    );
    let v = roster_max(&fill(None, Some(&accepted), 6)).unwrap_err();
    assert!(v.actual.contains("contact 6 accepted"), "{v:?}");
    let v = roster_max(&fill(Some((3, &refused)), None, 2)).unwrap_err();
    assert!(v.actual.contains("contact 3 was refused"), "{v:?}");
    let v = roster_max(&fill(None, None, 5)).unwrap_err();
    assert!(v.actual.contains("no answer"), "{v:?}");
    let v = roster_max(&fill(None, Some(&refused), 6)).unwrap_err();
    assert!(v.actual.contains("holds 6 items"), "{v:?}");
}

#[test]
fn bounces_are_read_off_error_messages() {
    let b = bounce(&el(
        "<message type='error' id='offline-1-6' from='user1@example.test'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Your contact offline message queue is full.</text></error></message>",
    ));
    assert_eq!(
        b,
        Some(Bounce {
            id: "offline-1-6".into(),
            condition: "resource-constraint".into()
        })
    );
    assert_eq!(bounce(&el(PROSODY_OFFLINE)), None);
}

#[test]
fn xep0082_datetimes() {
    assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Ok((0, true)));
    assert_eq!(parse_datetime("2024-05-01T12:00:00Z"), Ok((SENT_MS, true)));
    assert_eq!(
        parse_datetime("2024-05-01T12:00:00.5Z"),
        Ok((SENT_MS + 500, true))
    );
    assert_eq!(
        parse_datetime("2024-05-01T14:00:00+02:00"),
        Ok((SENT_MS, false))
    );
    assert_eq!(
        parse_datetime("2024-05-01T12:00:00-00:00"),
        Ok((SENT_MS, true))
    );
    assert_eq!(
        parse_datetime("2000-02-29T00:00:00Z").map(|p| p.0),
        Ok(951_782_400_000)
    );
    for bad in [
        "",
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00.Z",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00+2:00",
        "２０24-05-01T12:00:00Z",
    ] {
        assert!(parse_datetime(bad).is_err(), "{bad}");
    }
    assert_eq!(format_unix_ms(SENT_MS + 999), "2024-05-01T12:00:00Z");
    assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00Z");
}
