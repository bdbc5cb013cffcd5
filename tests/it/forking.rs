//! Several devices per user against real servers: the forking suite passes on managed
//! Prosody and managed ejabberd (bare-JID messages forked to the equal "most available"
//! resources and never to the negative-priority one; XEP-0280 carbon copies where they
//! belong and nowhere else), the seed's server-side lock-in is recorded as a warning both
//! servers are expected to give, and the carbons checks FAIL against servers without
//! their carbons module. The clauses no server setting breaks fail on hand-written
//! stanzas in `src/checks/oracle_carbons_tests.rs`.

use crate::common::{counter, run_expecting, verdict};
use impress::checks::Verdict;
use impress::report::RunStatus;

const SUITE: &str = "suites/xmpp-forking.toml";
const LOCK_IN: &str = "xmpp/rfc6121/5.1-lock-in";
const ADVERTISED: &str = "xmpp/xep-0280/3-carbons-advertised";
const ENABLE: &str = "xmpp/xep-0280/4-enable-result";
const DISABLE: &str = "xmpp/xep-0280/5-disable-result";
/// Messages to a bare JID: 4 users × 3 (`fork`), and 2 initiators × (1 + 2) (`lock-in`).
const BARE_MESSAGES: u64 = 18;
/// Carbon copies: 4 users × 2 ordinary messages × 4 copies (`<sent/>` at the sender's
/// mobile and watch, `<received/>` at the addressee's), then 4 users × 1 × 2 once the
/// mobiles disabled carbons.
const COPIES: u64 = 40;

fn forking_passes(target: &str) {
    let (r, msg, dir) = run_expecting(SUITE, target, 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    for v in &r.verdicts {
        if v.id == LOCK_IN {
            // Both servers fork again after the reply: listed in fixtures/expect.
            assert_eq!(v.verdict, Verdict::Warn, "{}: {}", v.id, v.message);
            assert!(
                v.expected_failure.is_some(),
                "{LOCK_IN} is an expected warning"
            );
        } else {
            assert_eq!(v.verdict, Verdict::Pass, "{}: {}", v.id, v.message);
        }
    }
    // Both deliver to every resource of the highest priority, never to the watch.
    assert_eq!(
        counter(&r, "fork_all_most_available"),
        BARE_MESSAGES,
        "{msg}"
    );
    assert_eq!(counter(&r, "lock_in_forked"), 4, "{msg}");
    let fork = &r.ops["fork"];
    assert_eq!((fork.count, fork.errors), (2 * BARE_MESSAGES, 0), "{msg}");
    let carbon = &r.ops["carbon"];
    assert_eq!((carbon.count, carbon.errors), (COPIES, 0), "{msg}");
    assert_eq!(counter(&r, "carbons_unwatched"), 0, "{msg}");
    assert_eq!(r.accounting.total.lost + r.accounting.total.duplicated, 0);
    assert!(dir.path().join("carbon.hlog").exists());
}

#[test]
fn forking_suite_passes_on_managed_prosody() {
    forking_passes("managed:prosody");
}

#[test]
fn forking_suite_passes_on_managed_ejabberd() {
    forking_passes("managed:ejabberd");
}

/// Without the carbons module the feature, `<enable/>` and `<disable/>` fail with their
/// transcripts, and the copy checks cannot be judged; forking is unaffected.
fn carbons_missing(target: &str) {
    let (r, msg, _dir) = run_expecting(SUITE, target, 1);
    for id in [ADVERTISED, ENABLE, DISABLE] {
        assert_eq!(verdict(&r, id), Verdict::Fail, "{id}: {msg}");
        let v = r.verdicts.iter().find(|v| v.id == id).expect("verdict");
        let t = v
            .transcript
            .as_ref()
            .expect("a failure carries its transcript");
        assert!(!t.lines.is_empty(), "{id}");
    }
    for id in [
        "xmpp/xep-0280/7-received-copy",
        "xmpp/xep-0280/8-sent-copy",
        "xmpp/xep-0280/9-private-no-copies",
    ] {
        assert_eq!(verdict(&r, id), Verdict::Impossible, "{id}: {msg}");
    }
    assert_eq!(
        verdict(&r, "xmpp/rfc6121/8.5.2.1.1-no-negative-priority"),
        Verdict::Pass
    );
    assert_eq!(
        verdict(&r, "xmpp/rfc6121/8.5.3.1-full-jid-only"),
        Verdict::Pass
    );
}

#[test]
fn carbons_fail_without_prosody_mod_carbons() {
    carbons_missing("fixtures/targets/violations/prosody-no-carbons.toml");
}

#[test]
fn carbons_fail_without_ejabberd_mod_carboncopy() {
    carbons_missing("fixtures/targets/violations/ejabberd-no-carbons.toml");
}
