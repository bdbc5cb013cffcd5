//! The SIP user agent against a real managed Kamailio, over UDP and TCP: digest-challenged
//! REGISTER of three devices, a MESSAGE to an address-of-record forked to both of its
//! contacts, SUBSCRIBE to presence with its initial NOTIFY, and a PUBLISH whose state
//! reaches the watcher in a NOTIFY. TLS verifies the server certificate.

use impress::proto::sip::build;
use impress::proto::sip::pidf::{Basic, Pidf};
use impress::proto::sip::{Method, NameAddr, Timers};
use impress::scenario::Secret;
use impress::session::sip::{SipSettings, SipTransport, SipUa};
use impress::target::{ManagedServer, ManagedSpec, ServerKind};
use impress::transport::{TlsSettings, client_config};
use std::time::{Duration, Instant};

const PASSWORD: &str = "sip-ua-pw-1";

fn settings(server: &ManagedServer) -> SipSettings {
    let sip = server.sip().expect("kamailio endpoints");
    let config = client_config(Some(server.ca_file()), false).expect("tls config");
    let tls = TlsSettings::new(config, server.domain()).expect("tls settings");
    SipSettings {
        addr: sip.udp,
        tls_addr: sip.tls,
        domain: server.domain().to_string(),
        tls: Some(tls),
        timers: Timers::default(),
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(5),
        max_message_bytes: 64 * 1024,
        transcript_frames: 64,
        inbox_cap: 64,
    }
}

async fn ua(s: &SipSettings, t: SipTransport, user: &str, device: &str) -> SipUa {
    let label = format!("{user}/{device}");
    SipUa::connect(s, t, user, Secret::new(PASSWORD), label, None)
        .await
        .expect("connect")
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

async fn exercise(t: SipTransport) {
    let server = ManagedServer::start(&ManagedSpec::new(ServerKind::Kamailio))
        .await
        .expect("start kamailio");
    server
        .provision("sipu", 2, PASSWORD)
        .await
        .expect("provision");
    let s = settings(&server);
    let alice = ua(&s, t, "sipu1", "desk").await;
    let bob_a = ua(&s, t, "sipu2", "phone").await;
    let bob_b = ua(&s, t, "sipu2", "laptop").await;
    for d in [&alice, &bob_a, &bob_b] {
        let r = d.register(300).await.expect("register");
        assert_eq!(r.status(), 200, "{}", r.response.raw_text());
        assert!(r.challenge.is_some(), "Kamailio challenges REGISTER");
    }
    let bob = NameAddr::new(format!("sip:sipu2@{}", server.domain()));
    let local = alice.local().clone();
    let target = bob.clone();
    let r = alice
        .request_new(|ids| build::message(&local, &target, ids, "text/plain", "hello fork"))
        .await
        .expect("message");
    assert!(
        (200..300).contains(&r.status()),
        "{}",
        r.response.raw_text()
    );
    for d in [&bob_a, &bob_b] {
        let got = d
            .take(|m| m.method() == Some(&Method::Message), soon())
            .await
            .unwrap_or_else(|| panic!("{} did not get the forked MESSAGE", d.label()));
        assert_eq!(got.msg.body(), b"hello fork");
    }

    let (local, target) = (alice.local().clone(), bob.clone());
    let r = alice
        .request_new(|ids| build::subscribe(&local, &target, ids, "presence", 300))
        .await
        .expect("subscribe");
    assert!(
        (200..300).contains(&r.status()),
        "{}",
        r.response.raw_text()
    );
    let first = alice
        .take(|m| m.method() == Some(&Method::Notify), soon())
        .await
        .expect("initial NOTIFY");
    assert!(first.msg.subscription_state().is_some());

    let doc = Pidf::single(
        &format!("sip:sipu2@{}", server.domain()),
        "t1",
        Basic::Open,
        Some("here"),
    );
    let local = bob_a.local().clone();
    let body = doc.to_xml().into_bytes();
    let r = bob_a
        .request_new(|ids| {
            build::publish(
                &local,
                ids,
                "presence",
                300,
                None,
                Some(("application/pidf+xml", body.clone())),
            )
        })
        .await
        .expect("publish");
    assert!(
        (200..300).contains(&r.status()),
        "{}",
        r.response.raw_text()
    );
    assert!(
        r.response.sip_etag().is_some(),
        "PUBLISH 2xx carries SIP-ETag"
    );
    let notify = alice
        .take(
            |m| m.method() == Some(&Method::Notify) && !m.body().is_empty(),
            soon(),
        )
        .await
        .expect("NOTIFY with the published state");
    let got = Pidf::parse(notify.msg.body()).expect("pidf");
    assert_eq!(got.basic(), Some(Basic::Open), "{}", notify.msg.raw_text());
    for d in [&alice, &bob_a, &bob_b] {
        let r = d.register(0).await.expect("unregister");
        assert_eq!(r.status(), 200);
        d.close().await;
    }
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_ua_over_udp() {
    exercise(SipTransport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_ua_over_tcp() {
    exercise(SipTransport::Tcp).await;
}

/// TLS, the certificate verified against the instance's CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_ua_over_tls() {
    exercise(SipTransport::Tls).await;
}
