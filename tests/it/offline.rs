//! XEP-0160 offline messages against real servers: the offline suite passes on managed
//! Prosody and managed ejabberd (stored, delivered at the next login, in order, with a
//! XEP-0203 delay), and offline storage switched off makes
//! `xmpp/xep-0160/2-offline-stored-delivered` a violation. The delay and ordering clauses,
//! which no server setting breaks, fail on hand-written stanzas in
//! `src/checks/oracle_offline_tests.rs`.

use crate::common::{counter, run_expecting, verdict};
use impress::checks::Verdict;
use impress::report::RunStatus;

const SUITE: &str = "suites/xmpp-offline.toml";
const MINI: &str = "tests/it/data/offline-mini.toml";
const STORED: &str = "xmpp/xep-0160/2-offline-stored-delivered";
/// Two recipients, each sent 5 then 3 messages.
const MESSAGES: u64 = 16;

fn offline_passes(target: &str) {
    let (r, msg, dir) = run_expecting(SUITE, target, 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    for v in &r.verdicts {
        assert_eq!(v.verdict, Verdict::Pass, "{}: {}", v.id, v.message);
    }
    assert_eq!(counter(&r, "offline_sent"), MESSAGES, "{msg}");
    assert_eq!(counter(&r, "offline_stored"), MESSAGES, "{msg}");
    assert_eq!(
        counter(&r, "offline_dropped") + counter(&r, "offline_bounced"),
        0
    );
    let offline = &r.ops["offline"];
    assert_eq!((offline.count, offline.errors), (MESSAGES, 0), "{msg}");
    assert_eq!(r.accounting.total.sent, MESSAGES, "{msg}");
    assert_eq!(r.accounting.total.lost + r.accounting.total.reordered, 0);
    assert!(dir.path().join("offline.hlog").exists());
}

#[test]
fn offline_suite_passes_on_managed_prosody() {
    offline_passes("managed:prosody");
}

#[test]
fn offline_suite_passes_on_managed_ejabberd() {
    offline_passes("managed:ejabberd");
}

/// Offline storage off: nothing is delivered at the login, which XEP-0160 (a SHOULD)
/// reports as `warn` with the transcript; the messages are accounted lost.
fn storage_disabled(target: &str) {
    // The undelivered messages are failed operations.
    let (r, msg, _dir) = run_expecting(MINI, target, 1);
    assert_eq!(verdict(&r, STORED), Verdict::Warn, "{msg}");
    let v = r.verdicts.iter().find(|v| v.id == STORED).expect("verdict");
    let actual = v.actual.as_deref().unwrap_or_default();
    assert!(actual.contains("3 of 3 not delivered"), "{actual}");
    assert!(!v.transcript.as_ref().expect("transcript").lines.is_empty());
    assert_eq!(counter(&r, "offline_stored"), 0, "{msg}");
    assert_eq!(r.accounting.total.lost, 3, "{msg}");
}

#[test]
fn offline_delivery_fails_without_prosody_mod_offline() {
    storage_disabled("fixtures/targets/violations/prosody-no-offline.toml");
}

#[test]
fn offline_delivery_fails_without_ejabberd_mod_offline() {
    storage_disabled("fixtures/targets/violations/ejabberd-no-offline.toml");
}
