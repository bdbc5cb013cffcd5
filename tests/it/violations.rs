//! Checks FAIL against real servers configured to violate them (a module disabled). The
//! checks that no server setting can break are shown failing on recorded bytes in
//! `src/checks/oracle_tests.rs`.

use crate::common::{run_expecting, verdict};
use impress::checks::Verdict;

/// Runs the mini suite against a violating target and asserts exit 1 and the failures.
fn violated(target: &str, failing: &[&str]) {
    let (r, msg, dir) = run_expecting("tests/it/data/mini.toml", target, 1);
    for id in failing {
        assert_eq!(
            verdict(&r, id),
            Verdict::Fail,
            "{id} must fail against {target}: {msg}"
        );
        let v = r.verdicts.iter().find(|v| v.id == *id).expect("verdict");
        let t = v
            .transcript
            .as_ref()
            .expect("a failed verdict carries its transcript");
        assert!(!t.lines.is_empty(), "{id}: empty transcript");
    }
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<failure"), "junit shows the failure");
}

#[test]
fn ping_fails_without_prosody_mod_ping() {
    violated(
        "fixtures/targets/violations/prosody-no-ping.toml",
        &["xmpp/xep-0199/4.2-server-ping"],
    );
}

#[test]
fn ping_fails_without_ejabberd_mod_ping() {
    violated(
        "fixtures/targets/violations/ejabberd-no-ping.toml",
        &["xmpp/xep-0199/4.2-server-ping"],
    );
}

#[test]
fn disco_identity_fails_without_prosody_mod_disco() {
    violated(
        "fixtures/targets/violations/prosody-no-disco.toml",
        &["xmpp/xep-0030/3.1-disco-info-identity"],
    );
}

#[test]
fn disco_identity_fails_without_ejabberd_mod_disco() {
    violated(
        "fixtures/targets/violations/ejabberd-no-disco.toml",
        &["xmpp/xep-0030/3.1-disco-info-identity"],
    );
}

#[test]
fn roster_get_fails_without_prosody_mod_roster() {
    violated(
        "fixtures/targets/violations/prosody-no-roster.toml",
        &[
            "xmpp/rfc6121/2.1.3-roster-get",
            "xmpp/rfc6121/3.1.6-subscribed-delivered",
        ],
    );
}

#[test]
fn presence_clauses_fail_without_prosody_mod_presence() {
    violated(
        "fixtures/targets/violations/prosody-no-presence.toml",
        &[
            "xmpp/rfc6121/2.1.6-roster-push-both",
            "xmpp/rfc6121/3.1.6-subscribed-delivered",
            "xmpp/rfc6121/4.4.2-presence-broadcast",
            "xmpp/rfc6121/4.5.2-unavailable-broadcast",
        ],
    );
}

#[test]
fn message_routing_fails_without_prosody_mod_message() {
    violated(
        "fixtures/targets/violations/prosody-no-message.toml",
        &[
            "xmpp/rfc6121/8.5.2.1.1-bare-jid-chat",
            "xmpp/rfc6121/8.5.3.1-full-jid-only",
        ],
    );
}
