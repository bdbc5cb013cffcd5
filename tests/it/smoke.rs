//! The smoke suite (100 users × 2 devices) passes every check against managed Prosody and
//! managed ejabberd, and writes every output file.

use crate::common::{report, run, text};
use impress::checks::{CATALOGUE, Verdict};
use impress::report::RunStatus;

fn smoke(target: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run("suites/xmpp-smoke.toml", target, dir.path());
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(0), "{msg}");
    let r = report(dir.path());
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    assert_eq!((r.run.users, r.run.sessions), (100, 200));
    assert!(
        r.run.tls_verified,
        "managed targets are verified against their CA"
    );
    assert_eq!(r.verdicts.len(), CATALOGUE.len());
    for v in &r.verdicts {
        // Stream management has its own suite (suites/xmpp-sm.toml).
        let want = if v.id.starts_with("xmpp/xep-0198/") {
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
