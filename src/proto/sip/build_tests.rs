//! Builders produce messages the parser accepts, with the headers RFC 3261 §8.1.1 and
//! the extension RFCs require; responses copy what §8.2.6.2 says to copy.

use super::*;
use crate::proto::sip::SubState;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub(crate) fn alice() -> Local {
    Local {
        aor: NameAddr::parse("<sip:alice@kamailio.test>").unwrap(),
        contact: NameAddr::parse("<sip:alice@127.0.0.1:5070;transport=tcp>").unwrap(),
        transport: "TCP".into(),
        sent_by: "127.0.0.1:5070".into(),
        user_agent: Some("impress".into()),
    }
}

const IDS: Ids<'static> = Ids {
    call_id: "c1@127.0.0.1",
    from_tag: "ft1",
    branch: "z9hG4bK-b1",
    cseq: 1,
};

#[test]
fn register_and_unregister() {
    let r = register(&alice(), "sip:kamailio.test", &IDS, 600)
        .build()
        .unwrap();
    assert_eq!(r.method(), Some(&Method::Register));
    assert_eq!(r.to().unwrap().uri, "sip:alice@kamailio.test");
    assert_eq!(r.to_tag(), None);
    assert_eq!(r.from_tag().as_deref(), Some("ft1"));
    assert_eq!(r.expires(), Some(600));
    assert_eq!(r.header("Max-Forwards"), Some("70"));
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_eq!(r.branch().as_deref(), Some("z9hG4bK-b1"));
    let u = unregister(&alice(), "sip:kamailio.test", &IDS)
        .build()
        .unwrap();
    assert_eq!(u.contacts().unwrap()[0].expires(), Some(0));
    let all = unregister_all(&alice(), "sip:kamailio.test", &IDS)
        .build()
        .unwrap();
    assert!(all.contact_is_wildcard());
    assert_eq!(all.expires(), Some(0));
}

#[test]
fn subscribe_publish_message() {
    let bob = NameAddr::parse("<sip:bob@kamailio.test>").unwrap();
    let s = subscribe(&alice(), &bob, &IDS, "presence", 300)
        .build()
        .unwrap();
    assert_eq!(s.request_uri(), Some("sip:bob@kamailio.test"));
    assert_eq!(s.event().unwrap().unwrap().package, "presence");
    assert_eq!(s.header("Accept"), Some("application/pidf+xml"));
    let body = b"<presence/>".to_vec();
    let p = publish(
        &alice(),
        &IDS,
        "presence",
        60,
        None,
        Some(("application/pidf+xml", body.clone())),
    )
    .build()
    .unwrap();
    assert_eq!((p.body(), p.sip_if_match()), (&body[..], None));
    let refresh = publish(&alice(), &IDS, "presence", 60, Some("etag-1"), None)
        .build()
        .unwrap();
    assert_eq!(
        (refresh.sip_if_match(), refresh.body().len()),
        (Some("etag-1"), 0)
    );
    let m = message(&alice(), &bob, &IDS, "text/plain;charset=utf-8", "héllo")
        .build()
        .unwrap();
    assert_eq!(m.body(), "héllo".as_bytes());
    assert!(
        m.header("Contact").is_none(),
        "RFC 3428: no Contact in MESSAGE"
    );
    assert_eq!(m.media_type().as_deref(), Some("text/plain"));
}

#[test]
fn response_copies_headers_and_adds_to_tag() {
    let req = register(&alice(), "sip:kamailio.test", &IDS, 600)
        .header("Via", "SIP/2.0/UDP proxy.test;branch=z9hG4bK-p")
        .build()
        .unwrap();
    let resp = response(&req, 200, "OK", Some("tt9"))
        .header("Expires", "600")
        .build()
        .unwrap();
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.to_tag().as_deref(), Some("tt9"));
    assert_eq!(resp.vias().unwrap(), req.vias().unwrap());
    assert_eq!(
        (resp.call_id(), resp.header("CSeq")),
        (req.call_id(), req.header("CSeq"))
    );
    assert_eq!(resp.header("From"), req.header("From"));
    let trying = response(&req, 100, "Trying", Some("tt9")).build().unwrap();
    assert_eq!(trying.to_tag(), None, "no tag on 100 (Trying)");
}

#[test]
fn ids_are_well_formed_and_seeded() {
    let mut a = StdRng::seed_from_u64(7);
    let mut b = StdRng::seed_from_u64(7);
    let branch = new_branch(&mut a);
    assert!(branch.starts_with(MAGIC_COOKIE));
    assert_eq!(branch, new_branch(&mut b));
    assert!(new_call_id(&mut a, "127.0.0.1").ends_with("@127.0.0.1"));
    assert!(new_tag(&mut a).len() >= 8);
    let _ = SubState::Active;
}
