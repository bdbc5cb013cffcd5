//! The SIP suites against managed Kamailio (UDP and TCP fleets), the mixed XMPP + SIP suite,
//! and SIP checks failing against a Kamailio configured to violate them.

use crate::common::{impress, report, run, text, verdict};
use impress::checks::Verdict;
use impress::report::{RunReport, RunStatus};

/// Runs a suite and asserts it passes; returns the report.
fn passes(suite: &str, args: &[&str]) -> RunReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().to_str().expect("utf-8").to_string();
    let mut all = vec!["run", suite, "--out", &out_dir];
    all.extend_from_slice(args);
    let out = impress(&all);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(0), "{suite}: {msg}");
    let r = report(dir.path());
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    r
}

#[test]
fn sip_smoke_passes_over_udp() {
    let r = passes("suites/sip-smoke.toml", &[]);
    assert_eq!(r.ops["sip_register"].count, 20);
    let acc = &r.accounting.total;
    // 5 pairs x 2 senders x 3 messages, each to both devices of the partner.
    assert_eq!((acc.sent, acc.delivered, acc.lost), (60, 60, 0));
    assert_eq!(r.ops["sip_message"].count, 60);
    for id in [
        "sip/rfc3261/8.2.6.2-to-tag",
        "sip/rfc3261/10.3-contacts-with-expires",
        "sip/rfc3261/22.2-www-authenticate",
        "sip/rfc3261/17.2.2-retransmission-same-response",
        "sip/rfc3265/3.1.6.1-bad-event-489",
        "sip/rfc3261/16.6-forked-to-every-contact",
        "sip/rfc3261/16.6-body-unmodified",
        "sip/rfc3428/7-2xx-no-body",
    ] {
        assert_eq!(verdict(&r, id), Verdict::Pass, "{id}");
    }
}

#[test]
fn sip_presence_passes_over_tcp() {
    let r = passes(
        "suites/sip-presence.toml",
        &["--target", "managed:kamailio"],
    );
    for id in [
        "sip/rfc6665/4.1.3-subscription-state",
        "sip/rfc3903/6-sip-etag",
        "sip/rfc3903/6-new-etag",
        "sip/rfc3856/6.5-pidf-body",
        "sip/rfc6665/4.1.2.3-final-notify-terminated",
    ] {
        assert_eq!(verdict(&r, id), Verdict::Pass, "{id}");
    }
    assert!(r.ops["sip_notify"].count >= 10, "{:?}", r.ops);
}

#[test]
fn sip_message_forking_passes_over_udp_tcp_and_tls() {
    let r = passes("suites/sip-message-forking.toml", &[]);
    let acc = &r.accounting.total;
    // 16 users x 5 messages, each to the partner's 3 devices.
    assert_eq!((acc.sent, acc.delivered), (240, 240));
}

#[test]
fn mixed_xmpp_and_sip_suite_passes() {
    let r = passes(
        "suites/mixed-xmpp-sip.toml",
        &["--target", "managed:prosody"],
    );
    assert!(
        r.run.target.contains("managed:kamailio"),
        "{}",
        r.run.target
    );
    assert!(r.ops["login"].count > 0 && r.ops["sip_register"].count > 0);
}

/// Runs `suite` against a violating Kamailio: exit 1 and every `(id, verdict)` as given.
fn violated(suite: &str, target: &str, want: &[(&str, Verdict)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(suite, target, dir.path());
    let msg = text(&out);
    let r = report(dir.path());
    for (id, v) in want {
        assert_eq!(verdict(&r, id), *v, "{id} against {target}: {msg}");
        let rec = r.verdicts.iter().find(|x| x.id == *id).expect("verdict");
        assert!(
            rec.transcript.as_ref().is_some_and(|t| !t.lines.is_empty()),
            "{id}: a finding carries its transcript"
        );
    }
    if want.iter().any(|(_, v)| *v == Verdict::Fail) {
        assert_eq!(out.status.code(), Some(1), "{msg}");
    }
}

const V: &str = "fixtures/targets/violations/";

#[test]
fn to_tag_fails_when_kamailio_answers_without_one() {
    let t = format!("{V}kamailio-options-no-totag.toml");
    violated(
        "suites/sip-smoke.toml",
        &t,
        &[("sip/rfc3261/8.2.6.2-to-tag", Verdict::Fail)],
    );
}

#[test]
fn bad_event_warns_when_kamailio_accepts_unknown_events() {
    let t = format!("{V}kamailio-unknown-event-200.toml");
    let id = "sip/rfc3265/3.1.6.1-bad-event-489";
    violated("suites/sip-smoke.toml", &t, &[(id, Verdict::Warn)]);
}

#[test]
fn subscription_state_fails_when_kamailio_strips_it() {
    let t = format!("{V}kamailio-notify-no-substate.toml");
    let id = "sip/rfc6665/4.1.3-subscription-state";
    violated("suites/sip-presence.toml", &t, &[(id, Verdict::Fail)]);
}

#[test]
fn forking_warns_when_kamailio_keeps_one_contact() {
    let t = format!("{V}kamailio-no-fork.toml");
    let id = "sip/rfc3261/16.6-forked-to-every-contact";
    violated(
        "suites/sip-message-forking.toml",
        &t,
        &[(id, Verdict::Warn)],
    );
}

#[test]
fn registrar_contacts_fail_with_one_contact_per_aor() {
    let t = format!("{V}kamailio-one-contact.toml");
    let id = "sip/rfc3261/10.3-contacts-with-expires";
    violated("suites/sip-smoke.toml", &t, &[(id, Verdict::Fail)]);
}

#[test]
fn dialog_and_etag_probes_fail_without_presence() {
    let t = format!("{V}kamailio-no-presence.toml");
    violated(
        "suites/sip-presence.toml",
        &t,
        &[
            ("sip/rfc3261/12.2.2-unknown-dialog-481", Verdict::Fail),
            ("sip/rfc3903/6-unknown-etag-412", Verdict::Fail),
        ],
    );
}

/// An external SIP deployment over TLS, described by a target file (`sip_tls_port`,
/// `[tls] ca_file`): the certificate is verified and the devices register and message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_sip_target_over_tls() {
    use impress::target::{ManagedServer, ManagedSpec, ServerKind};
    let server = ManagedServer::start(&ManagedSpec::new(ServerKind::Kamailio))
        .await
        .expect("start kamailio");
    server
        .provision("ext", 2, "ext-pw-1")
        .await
        .expect("provision");
    let tls = server.sip().and_then(|s| s.tls).expect("a TLS listener");
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        "name = \"external tls\"\nchecks = [\"sip/rfc3261/10.3-contacts-with-expires\", \
         \"sip/rfc3261/16.6-body-unmodified\"]\n[[fleet]]\nname = \"f\"\nprotocol = \"sip\"\n\
         transport = \"tls\"\nusers = 2\naccount = \"ext{n}\"\n[[step]]\ndo = \"sip-register\"\n\
         [[step]]\ndo = \"sip-message\"\n[[step]]\ndo = \"sip-unregister\"\n",
    )
    .expect("write suite");
    let target = dir.path().join("target.toml");
    let t = format!(
        "name = \"external sip\"\ndomain = \"{}\"\n[[node]]\nhost = \"127.0.0.1\"\nport = {}\n\
         sip_tls_port = {}\n[tls]\nca_file = {:?}\n[accounts]\npassword = \"ext-pw-1\"\n",
        server.domain(),
        server.addr().port(),
        tls.port(),
        server.ca_file().display().to_string()
    );
    std::fs::write(&target, t).expect("write target");
    let out_dir = dir.path().join("report");
    let args = [
        "run".to_string(),
        suite.display().to_string(),
        "--target".into(),
        target.display().to_string(),
        "--out".into(),
        out_dir.display().to_string(),
    ];
    let out = tokio::task::block_in_place(|| {
        impress(&args.iter().map(String::as_str).collect::<Vec<_>>())
    });
    server.stop().await.expect("stop");
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(0), "{msg}");
    let r = report(&out_dir);
    assert_eq!(r.accounting.total.delivered, 2, "{msg}");
}
