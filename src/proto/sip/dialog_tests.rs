//! SUBSCRIBE dialogs formed from a 2xx or a NOTIFY, in-dialog matching, CSeq ordering and
//! routing of refreshes (RFC 3261 §12, RFC 6665 §4.4.1).

use super::*;
use crate::proto::sip::build::tests::alice;
use crate::proto::sip::build::{Ids, subscribe};
use bytes::Bytes;

fn parse(s: &str) -> Message {
    Message::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
}

fn sub() -> Message {
    let bob = NameAddr::parse("<sip:bob@kamailio.test>").unwrap();
    let ids = Ids {
        call_id: "sub-1",
        from_tag: "a1",
        branch: "z9hG4bK-s1",
        cseq: 10,
    };
    subscribe(&alice(), &bob, &ids, "presence", 300)
        .build()
        .unwrap()
}

const NOTIFY: &str = "NOTIFY sip:alice@127.0.0.1:5070;transport=tcp SIP/2.0\r\n\
Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-n1\r\n\
Record-Route: <sip:127.0.0.1:5060;transport=tcp;lr>\r\n\
From: <sip:bob@kamailio.test>;tag=ps-77\r\nTo: <sip:alice@kamailio.test>;tag=a1\r\n\
Call-ID: sub-1\r\nCSeq: 3 NOTIFY\r\nContact: <sip:127.0.0.1:5060;transport=tcp>\r\n\
Event: presence\r\nSubscription-State: active;expires=300\r\nContent-Length: 0\r\n\r\n";

#[test]
fn notify_creates_and_matches_the_dialog() {
    let s = sub();
    let n = parse(NOTIFY);
    assert!(notify_matches_subscribe(&s, &n));
    let mut d = Dialog::from_notify(&s, &n).unwrap();
    assert_eq!(d.id.remote_tag, "ps-77");
    assert_eq!(d.id.local_tag, "a1");
    assert_eq!(d.remote_seq, Some(3));
    assert_eq!(d.remote_target, "sip:127.0.0.1:5060;transport=tcp");
    assert!(d.matches(&n));
    let later = parse(&NOTIFY.replace("CSeq: 3", "CSeq: 4"));
    assert!(d.on_request(&later).is_ok());
    let stale = parse(&NOTIFY.replace("CSeq: 3", "CSeq: 2"));
    assert_eq!(
        d.on_request(&stale),
        Err(DialogError::OutOfOrder { got: 2, last: 4 })
    );
    let other = parse(&NOTIFY.replace("tag=ps-77", "tag=zz"));
    assert!(!d.matches(&other));
    let wrong_event = parse(&NOTIFY.replace("Event: presence", "Event: dialog"));
    assert!(!notify_matches_subscribe(&s, &wrong_event));
}

#[test]
fn unsubscribe_goes_through_the_route_set_with_next_cseq() {
    let s = sub();
    let mut d = Dialog::from_notify(&s, &parse(NOTIFY)).unwrap();
    let u = d
        .subscribe(&alice(), "z9hG4bK-s2", "presence", 0)
        .build()
        .unwrap();
    assert_eq!(u.request_uri(), Some("sip:127.0.0.1:5060;transport=tcp"));
    assert_eq!(
        u.header("Route"),
        Some("<sip:127.0.0.1:5060;transport=tcp;lr>")
    );
    assert_eq!(u.cseq().unwrap().seq, 11);
    assert_eq!(u.to_tag().as_deref(), Some("ps-77"));
    assert_eq!(u.expires(), Some(0));
}

#[test]
fn two_hundred_creates_dialog_with_reversed_record_route() {
    let s = sub();
    let ok = parse(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-s1\r\n\
Record-Route: <sip:p2;lr>\r\nRecord-Route: <sip:p1;lr>\r\n\
From: <sip:alice@kamailio.test>;tag=a1\r\nTo: <sip:bob@kamailio.test>;tag=ps-77\r\n\
Call-ID: sub-1\r\nCSeq: 10 SUBSCRIBE\r\nContact: <sip:ps@127.0.0.1>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
    );
    let d = Dialog::from_response(&s, &ok).unwrap();
    let routes: Vec<_> = d.route_set.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(routes, ["sip:p1;lr", "sip:p2;lr"]);
    let no_contact = parse(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK-s1\r\n\
From: <sip:alice@kamailio.test>;tag=a1\r\nTo: <sip:bob@kamailio.test>;tag=x\r\n\
Call-ID: sub-1\r\nCSeq: 10 SUBSCRIBE\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        Dialog::from_response(&s, &no_contact),
        Err(DialogError::MissingContact)
    );
}

#[test]
fn strict_route_puts_the_target_last() {
    let s = sub();
    let n = parse(&NOTIFY.replace(";lr>", ">"));
    let mut d = Dialog::from_notify(&s, &n).unwrap();
    let r = d
        .request(Method::Subscribe, &alice(), "z9hG4bK-x")
        .build()
        .unwrap();
    assert_eq!(r.request_uri(), Some("sip:127.0.0.1:5060;transport=tcp"));
    assert_eq!(
        r.header("Route"),
        Some("<sip:127.0.0.1:5060;transport=tcp>")
    );
}
