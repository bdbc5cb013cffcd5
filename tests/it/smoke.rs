//! The smoke suite (100 users × 2 devices) passes every check against managed Prosody and
//! managed ejabberd, and writes every output file.

use crate::common::run_expecting;
use impress::checks::{CATALOGUE, Verdict};
use impress::report::RunStatus;

fn smoke(target: &str) {
    let (r, msg, dir) = run_expecting("suites/xmpp-smoke.toml", target, 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    assert_eq!((r.run.users, r.run.sessions), (100, 200));
    assert!(
        r.run.tls_verified,
        "managed targets are verified against their CA"
    );
    let xmpp_checks = CATALOGUE
        .iter()
        .filter(|c| c.id.starts_with("xmpp/"))
        .count();
    assert_eq!(
        r.verdicts.len(),
        xmpp_checks,
        "an XMPP suite judges the XMPP checks"
    );
    for v in &r.verdicts {
        // Stream management, offline messages, limits and chat rooms have their own suites
        // (suites/xmpp-sm.toml, xmpp-offline.toml, xmpp-limits.toml, xmpp-muc.toml), and so
        // have several devices with priorities and carbons (suites/xmpp-forking.toml).
        let elsewhere = [
            "xmpp/xep-0198/",
            "xmpp/xep-0160/",
            "xmpp/xep-0203/",
            "xmpp/xep-0045/",
            "xmpp/xep-0280/",
            "xmpp/xep-0334/",
        ]
        .iter()
        .any(|p| v.id.starts_with(p))
            || v.id == "xmpp/rfc6120/10.1-offline-in-order"
            || v.id == "xmpp/rfc6121/2.3.2-roster-max-refused"
            || v.id == "xmpp/rfc6121/8.5.2.1.1-no-negative-priority"
            || v.id == "xmpp/rfc6121/5.1-lock-in";
        let want = if elsewhere {
            Verdict::NotApplicable
        } else {
            Verdict::Pass
        };
        assert_eq!(v.verdict, want, "{}: {}", v.id, v.message);
    }
    for op in [
        "login",
        "subscribe",
        "presence",
        "message",
        "ping",
        "disco",
        "logout",
    ] {
        let s = &r.ops[op];
        assert!(s.count > 0 && s.errors == 0, "{op}: {s:?}");
        assert!(dir.path().join(format!("{op}.hlog")).exists(), "{op}.hlog");
    }
    assert_eq!(r.ops["login"].count, 200);
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<testsuite") && junit.contains("xmpp/rfc6120/7.6.1-bind-full-jid"));
    assert!(msg.contains("p99"), "terminal summary printed: {msg}");
}

#[test]
fn smoke_passes_on_managed_prosody() {
    smoke("managed:prosody");
}

#[test]
fn smoke_passes_on_managed_ejabberd() {
    smoke("managed:ejabberd");
}
