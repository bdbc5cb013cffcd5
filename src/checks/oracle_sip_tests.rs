//! Every SIP oracle on recorded-style wire bytes (as Kamailio writes them): one server
//! answer that satisfies the clause and one that violates it, so every SIP check is shown
//! able to fail.

use super::*;
use bytes::Bytes;

/// Parses a template written with LF line ends; Content-Length is set to the body.
fn msg(s: &str) -> Message {
    let (head, body) = s.split_once("\n\n").expect("a header block");
    let head: Vec<String> = head
        .lines()
        .map(|l| match l.starts_with("Content-Length:") {
            true => format!("Content-Length: {}", body.len()),
            false => l.to_owned(),
        })
        .collect();
    let wire = format!("{}\r\n\r\n{body}", head.join("\r\n"));
    Message::parse(Bytes::from(wire)).expect("test bytes parse")
}

const REGISTER: &str = "REGISTER sip:kamailio.test SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r2;rport
Max-Forwards: 70
From: <sip:alice@kamailio.test>;tag=f1
To: <sip:alice@kamailio.test>
Call-ID: reg-1@127.0.0.1
CSeq: 2 REGISTER
Contact: <sip:alice@127.0.0.1:5070>
Expires: 600
Content-Length: 0

";

/// Kamailio's 200 OK: received/rport added to the Via, To tag, bindings with expires.
const REGISTER_200: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r2;rport=5070;received=127.0.0.1
From: <sip:alice@kamailio.test>;tag=f1
To: <sip:alice@kamailio.test>;tag=8f3b2d0a
Call-ID: reg-1@127.0.0.1
CSeq: 2 REGISTER
Contact: <sip:alice@127.0.0.1:5070>;expires=600, <sip:alice@127.0.0.1:5071>;expires=412
Content-Length: 0

";

fn with(base: &str, from: &str, to: &str) -> Message {
    assert!(base.contains(from), "{from:?} not in the template");
    msg(&base.replacen(from, to, 1))
}

#[test]
fn to_tag_8_2_6_2() {
    let req = msg(REGISTER);
    assert!(to_tag(&req, &msg(REGISTER_200)).is_ok());
    let untagged = with(REGISTER_200, ";tag=8f3b2d0a", "");
    assert!(
        to_tag(&req, &untagged)
            .unwrap_err()
            .actual
            .contains("no To tag")
    );
    let trying = with(
        &REGISTER_200.replace(";tag=8f3b2d0a", ""),
        "200 OK",
        "100 Trying",
    );
    assert!(to_tag(&req, &trying).is_ok(), "100 (Trying) may omit it");
    let other_uri = with(REGISTER_200, "To: <sip:alice@", "To: <sip:eve@");
    assert!(to_tag(&req, &other_uri).is_err());
}

#[test]
fn from_callid_cseq_8_2_6_2() {
    let req = msg(REGISTER);
    assert!(from_callid_cseq(&req, &msg(REGISTER_200)).is_ok());
    for (from, to) in [
        (";tag=f1", ";tag=zz"),
        ("reg-1@", "reg-9@"),
        ("2 REGISTER", "3 REGISTER"),
    ] {
        assert!(
            from_callid_cseq(&req, &with(REGISTER_200, from, to)).is_err(),
            "{to}"
        );
    }
}

#[test]
fn via_copied_8_2_6_2() {
    let proxied = with(
        REGISTER,
        "Max-Forwards",
        "Via: SIP/2.0/TCP edge.test;branch=z9hG4bK-e\nMax-Forwards",
    );
    let both = with(
        REGISTER_200,
        "From:",
        "Via: SIP/2.0/TCP edge.test;branch=z9hG4bK-e\nFrom:",
    );
    assert!(
        via_copied(&proxied, &both).is_ok(),
        "received/rport on the top Via are allowed"
    );
    assert!(
        via_copied(&proxied, &msg(REGISTER_200)).is_err(),
        "second Via dropped"
    );
    let swapped = msg(&REGISTER_200.replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r2;rport=5070;received=127.0.0.1\n",
        "Via: SIP/2.0/TCP edge.test;branch=z9hG4bK-e\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r2\n",
    ));
    assert!(via_copied(&proxied, &swapped).is_err(), "order changed");
    let rebranched = with(REGISTER_200, "branch=z9hG4bK-r2", "branch=z9hG4bK-xx");
    assert!(via_copied(&msg(REGISTER), &rebranched).is_err());
}

#[test]
fn register_contacts_10_3() {
    let ours = "sip:alice@127.0.0.1:5070";
    assert!(register_contacts(ours, Some(&msg(REGISTER_200))).is_ok());
    let no_expires = with(REGISTER_200, ";expires=412", "");
    assert!(
        register_contacts(ours, Some(&no_expires))
            .unwrap_err()
            .actual
            .contains("without expires")
    );
    let missing = with(REGISTER_200, "<sip:alice@127.0.0.1:5070>;expires=600, ", "");
    assert!(register_contacts(ours, Some(&missing)).is_err());
    assert!(
        register_contacts(
            ours,
            Some(&with(REGISTER_200, "200 OK", "500 Server Error"))
        )
        .is_err()
    );
    assert!(register_contacts(ours, None).is_err());
}

#[test]
fn binding_removed_10_3() {
    let gone = with(REGISTER_200, "<sip:alice@127.0.0.1:5070>;expires=600, ", "");
    assert!(binding_removed("sip:alice@127.0.0.1:5070", Some(&gone)).is_ok());
    let still = binding_removed("sip:alice@127.0.0.1:5070", Some(&msg(REGISTER_200)));
    assert!(still.unwrap_err().actual.contains("still bound"));
}

const CHALLENGE_401: &str = "SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1;rport=5070
From: <sip:alice@kamailio.test>;tag=f1
To: <sip:alice@kamailio.test>;tag=b27e1a1d33761e85846fc98f5f3a7e58.1c5a
Call-ID: reg-1@127.0.0.1
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm=\"kamailio.test\", nonce=\"ZfA1xGXwNJjeLQv4\", qop=\"auth\"
Content-Length: 0

";

#[test]
fn challenges_22_2_22_3_and_qop_22_4() {
    let c401 = msg(CHALLENGE_401);
    assert!(www_authenticate(&c401).is_ok());
    assert!(qop_in_challenge(&c401).is_ok());
    let bare = msg(&CHALLENGE_401.replace("WWW-Authenticate: Digest realm=\"kamailio.test\", nonce=\"ZfA1xGXwNJjeLQv4\", qop=\"auth\"\n", ""));
    assert!(
        www_authenticate(&bare)
            .unwrap_err()
            .actual
            .contains("no WWW-Authenticate")
    );
    let no_qop = with(CHALLENGE_401, ", qop=\"auth\"", "");
    assert!(qop_in_challenge(&no_qop).is_err());
    let c407 = msg(&CHALLENGE_401
        .replace("401 Unauthorized", "407 Proxy Authentication Required")
        .replace("WWW-", "Proxy-"));
    assert!(proxy_authenticate(&c407).is_ok());
    assert!(qop_in_challenge(&c407).is_ok());
    let bare407 = msg(&CHALLENGE_401
        .replace("401 Unauthorized", "407 Proxy Authentication Required")
        .replace("WWW-Authenticate", "X-Not-A-Challenge"));
    assert!(proxy_authenticate(&bare407).is_err());
    assert!(proxy_authenticate(&c401).is_err(), "not a 407");
}

#[test]
fn same_response_17_2_2() {
    let first = msg(REGISTER_200);
    assert!(same_response(&first, Some(&msg(REGISTER_200))).is_ok());
    let retagged = with(REGISTER_200, "tag=8f3b2d0a", "tag=0000");
    assert!(same_response(&first, Some(&retagged)).is_err());
    assert!(same_response(&first, Some(&with(REGISTER_200, "200 OK", "500 Busy"))).is_err());
    assert!(same_response(&first, None).is_err());
}

#[test]
fn status_oracles_481_489_412() {
    let answer = |code: &str| with(REGISTER_200, "200 OK", code);
    assert!(unknown_dialog_481(Some(&answer("481 Call/Transaction Does Not Exist"))).is_ok());
    assert!(unknown_dialog_481(Some(&answer("200 OK"))).is_err());
    assert!(bad_event_489(Some(&answer("489 Bad Event"))).is_ok());
    assert!(bad_event_489(Some(&answer("400 Bad Request"))).is_err());
    assert!(unknown_etag_412(Some(&answer("412 Conditional Request Failed"))).is_ok());
    assert!(unknown_etag_412(Some(&answer("200 OK"))).is_err());
    assert!(unknown_etag_412(None).is_err());
}

const NOTIFY: &str = "NOTIFY sip:alice@127.0.0.1:5070 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1
From: <sip:bob@kamailio.test>;tag=ps-77
To: <sip:alice@kamailio.test>;tag=a1
Call-ID: sub-1
CSeq: 3 NOTIFY
Contact: <sip:127.0.0.1:5060>
Event: presence
Subscription-State: active;expires=300
Content-Type: application/pidf+xml
Content-Length: 0

<?xml version='1.0'?><presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:bob@kamailio.test'><tuple id='t'><status><basic>open</basic></status></tuple></presence>
";

#[test]
fn subscription_state_6665_4_1_3() {
    let n = msg(NOTIFY);
    assert!(subscription_state(&n).is_ok());
    assert!(terminated_without_expires(&n).is_ok());
    let none = with(NOTIFY, "Subscription-State: active;expires=300\n", "");
    assert!(subscription_state(&none).is_err());
    let broken = with(NOTIFY, "active;expires=300", ";;");
    assert!(subscription_state(&broken).is_err());
    let term_exp = with(NOTIFY, "active;expires=300", "terminated;expires=0");
    assert!(terminated_without_expires(&term_exp).is_err());
    let term = with(NOTIFY, "active;expires=300", "terminated;reason=timeout");
    assert!(terminated_without_expires(&term).is_ok());
    assert!(final_notify_terminated(Some(&term)).is_ok());
    assert!(
        final_notify_terminated(Some(&n)).is_err(),
        "active after unsubscribe"
    );
    assert!(final_notify_terminated(None).is_err());
}

const PUBLISH_200: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-p1
From: <sip:alice@kamailio.test>;tag=f1
To: <sip:alice@kamailio.test>;tag=3c8ae2
Call-ID: pub-1
CSeq: 1 PUBLISH
Expires: 600
SIP-ETag: a.1700000000.1234.1.0
Content-Length: 0

";

#[test]
fn publish_6_etag() {
    let ok = msg(PUBLISH_200);
    assert!(publish_etag(&ok).is_ok());
    assert!(publish_etag(&with(PUBLISH_200, "SIP-ETag: a.1700000000.1234.1.0\n", "")).is_err());
    assert!(publish_etag(&with(PUBLISH_200, "Expires: 600\n", "")).is_err());
    assert!(
        publish_etag(&with(
            PUBLISH_200,
            "SIP-ETag: a.1700000000.1234.1.0",
            "SIP-ETag: a, b"
        ))
        .is_err()
    );
    assert!(new_etag("a.1699.1", &ok).is_ok());
    assert!(
        new_etag("a.1700000000.1234.1.0", &ok).is_err(),
        "etag reused"
    );
}

const MESSAGE_200: &str = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-m1
From: <sip:alice@kamailio.test>;tag=f1
To: <sip:bob@kamailio.test>;tag=9a
Call-ID: msg-1
CSeq: 1 MESSAGE
Content-Length: 0

";

#[test]
fn message_7_2xx() {
    assert!(message_2xx(&msg(MESSAGE_200)).is_ok());
    let with_contact = with(
        MESSAGE_200,
        "Content-Length",
        "Contact: <sip:bob@127.0.0.1:5071>\nContent-Length",
    );
    assert!(
        message_2xx(&with_contact)
            .unwrap_err()
            .actual
            .contains("Contact")
    );
    let with_body = with(
        MESSAGE_200,
        "Content-Length: 0\n\n",
        "Content-Type: text/plain\nContent-Length: 2\n\nok",
    );
    assert!(message_2xx(&with_body).unwrap_err().actual.contains("body"));
    assert!(message_2xx(&with(MESSAGE_200, "200 OK", "404 Not Found")).is_err());
}

#[test]
fn pidf_body_3856_6_5() {
    let n = msg(NOTIFY);
    assert!(pidf_body(&n, "sip:bob@kamailio.test").is_ok());
    assert!(
        pidf_body(&n, "sip:carol@kamailio.test").is_err(),
        "wrong entity"
    );
    let xpidf = with(NOTIFY, "application/pidf+xml", "application/xpidf+xml");
    assert!(pidf_body(&xpidf, "sip:bob@kamailio.test").is_err());
    let doc = NOTIFY.split_once("\n\n").expect("body").1;
    let not_xml = with(NOTIFY, doc, "oops");
    assert!(pidf_body(&not_xml, "sip:bob@kamailio.test").is_err());
    let empty = with(NOTIFY, doc, "");
    assert!(
        pidf_body(&empty, "sip:bob@kamailio.test").is_ok(),
        "no state yet: not judged"
    );
}

#[test]
fn same_uri_rules() {
    assert!(same_uri(
        "sip:alice@127.0.0.1:5070;transport=UDP;ob",
        "sip:alice@127.0.0.1:5070;ob;transport=udp"
    ));
    assert!(
        !same_uri("sip:Alice@h", "sip:alice@h"),
        "user part is case-sensitive"
    );
    assert!(same_uri("SIP:alice@H.test", "sip:alice@h.test"));
}
