//! Deployment limits against real servers: the offline store limit (XEP-0160 §2) and the
//! contact-list maximum (RFC 6121 §2.3.2). Each managed server runs the limits suite with
//! its limit set to 5 (`fixtures/targets/<server>-limits.toml`); what it does with the
//! overflow is recorded, and its known deviations are expected failures
//! (`fixtures/expect/<server>.toml`). A target whose limit differs from the suite's
//! violates the store-limit check.

use crate::common::{counter, run_expecting, verdict};
use impress::checks::Verdict;
use impress::report::{RunReport, RunStatus, VerdictRecord};

const SUITE: &str = "suites/xmpp-limits.toml";
const STORED: &str = "xmpp/xep-0160/2-offline-stored-delivered";
const QUEUE_FULL: &str = "xmpp/xep-0160/2-queue-full-error";
const ROSTER_MAX: &str = "xmpp/rfc6121/2.3.2-roster-max-refused";

fn record<'a>(r: &'a RunReport, id: &str) -> &'a VerdictRecord {
    r.verdicts.iter().find(|v| v.id == id).expect("verdict")
}

/// Runs the limits suite; the deviations are listed expected failures, so the run passes.
fn limits(target: &str) -> RunReport {
    let (r, msg, _dir) = run_expecting(SUITE, target, 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    assert_eq!(verdict(&r, STORED), Verdict::Pass, "{msg}");
    assert_eq!(counter(&r, "offline_sent"), 8, "{msg}");
    // Neither server has a roster size limit: the 6th contact is accepted.
    let roster = record(&r, ROSTER_MAX);
    assert_eq!(roster.verdict, Verdict::Fail, "{msg}");
    assert!(roster.expected_failure.is_some(), "{msg}");
    let actual = roster.actual.as_deref().unwrap_or_default();
    assert!(actual.contains("contact 6 accepted"), "{actual}");
    assert!(roster.transcript.is_some());
    r
}

/// The queue-full check's verdict (a SHOULD: `warn`), as an expected failure.
fn overflow(r: &RunReport) -> String {
    let v = record(r, QUEUE_FULL);
    assert_eq!(v.verdict, Verdict::Warn, "{}", v.message);
    assert!(v.expected_failure.is_some(), "{}", v.message);
    v.actual.clone().unwrap_or_default()
}

#[test]
fn prosody_keeps_five_and_drops_the_overflow_silently() {
    let r = limits("fixtures/targets/prosody-limits.toml");
    assert_eq!(counter(&r, "offline_stored"), 5);
    assert_eq!(counter(&r, "offline_dropped"), 3);
    let actual = overflow(&r);
    assert!(actual.contains("5 of 8 stored"), "{actual}");
    assert!(actual.contains("3 dropped without an error"), "{actual}");
}

#[test]
fn ejabberd_keeps_five_and_bounces_the_overflow_with_resource_constraint() {
    let r = limits("fixtures/targets/ejabberd-limits.toml");
    assert_eq!(counter(&r, "offline_stored"), 5);
    assert_eq!(counter(&r, "offline_bounced"), 3);
    let actual = overflow(&r);
    assert!(actual.contains("5 of 8 stored"), "{actual}");
    assert!(
        actual.contains("3 bounced with <resource-constraint/>"),
        "{actual}"
    );
}

/// A deployment whose store holds more than the suite's limit (Prosody's default 10000)
/// violates the store-limit check: everything is stored.
#[test]
fn a_store_larger_than_the_limit_violates_the_queue_full_check() {
    let r = limits("managed:prosody");
    assert_eq!(counter(&r, "offline_stored"), 8);
    let actual = overflow(&r);
    assert!(actual.contains("8 of 8 stored"), "{actual}");
}
