//! XEP-0198 Stream Management against real servers: the SM suite passes on managed Prosody
//! and managed ejabberd, and its checks FAIL against servers configured to violate them
//! (stream management disabled; a resumption timeout shorter than the suite's outage).

use crate::common::{counter, run_expecting, verdict};
use impress::checks::Verdict;
use impress::report::{RunReport, RunStatus};

const SUITE: &str = "suites/xmpp-sm.toml";
const ADVERTISED: &str = "xmpp/xep-0198/2-sm-advertised";
const RESUMED: &str = "xmpp/xep-0198/5-resumed";
const RETRANSMIT: &str = "xmpp/xep-0198/5-retransmit-unhandled";
/// Users 1, 3, 5, 7, 9 are cut; each partner sends 5 messages during the outage.
const OUTAGE_MESSAGES: u64 = 25;

fn sm_passes(target: &str) {
    let (r, msg, dir) = run_expecting(SUITE, target, 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    for v in &r.verdicts {
        assert_eq!(v.verdict, Verdict::Pass, "{}: {}", v.id, v.message);
    }
    assert!(r.verdicts.iter().any(|v| v.id == RETRANSMIT));
    assert_eq!(counter(&r, "sm_redelivered"), OUTAGE_MESSAGES, "{msg}");
    let acc = &r.accounting.total;
    assert_eq!(
        (acc.duplicated, acc.lost, acc.reordered),
        (0, 0, 0),
        "{msg}"
    );
    assert_eq!(acc.sent, acc.delivered, "{msg}");
    // 3 + 5 (outage, to the 5 cut sessions) + 2 messages per sender, 10 users.
    assert_eq!(acc.sent, 10 * 3 + 5 * 5 + 10 * 2, "{msg}");
    // 5 cut-and-resume plus 10 resumptions while the old stream was open.
    let resume = &r.ops["resume"];
    assert_eq!((resume.count, resume.errors), (15, 0), "{msg}");
    assert!(dir.path().join("resume.hlog").exists());
}

#[test]
fn sm_suite_passes_on_managed_prosody() {
    sm_passes("managed:prosody");
}

#[test]
fn sm_suite_passes_on_managed_ejabberd() {
    sm_passes("managed:ejabberd");
}

/// Runs the SM suite against a violating target: exit 1 and `failing` fails with evidence.
fn violated(target: &str, failing: &str) -> RunReport {
    let (r, msg, _dir) = run_expecting(SUITE, target, 1);
    assert_eq!(verdict(&r, failing), Verdict::Fail, "{failing}: {msg}");
    let v = r
        .verdicts
        .iter()
        .find(|v| v.id == failing)
        .expect("verdict");
    let t = v
        .transcript
        .as_ref()
        .expect("a failure carries its transcript");
    assert!(!t.lines.is_empty());
    r
}

#[test]
fn sm_checks_fail_without_prosody_smacks() {
    let r = violated(
        "fixtures/targets/violations/prosody-no-smacks.toml",
        ADVERTISED,
    );
    for v in r
        .verdicts
        .iter()
        .filter(|v| v.id.starts_with("xmpp/xep-0198/"))
    {
        if v.id != ADVERTISED {
            assert_eq!(v.verdict, Verdict::Impossible, "{}: {}", v.id, v.message);
        }
    }
    // Nobody was cut, so the partners' messages were simply delivered.
    assert_eq!(r.accounting.total.lost, 0);
}

/// A resumption after the server's timeout fails; the messages sent during the outage then
/// follow the server's offline policy. Both managed servers store them offline and deliver
/// them at the fresh login that follows (none bounced, none lost).
fn resume_fails_after_timeout(target: &str) {
    let r = violated(target, RESUMED);
    let v = r
        .verdicts
        .iter()
        .find(|v| v.id == RESUMED)
        .expect("verdict");
    let actual = v.actual.as_deref().unwrap_or_default();
    assert!(actual.contains("<failed/>"), "{actual}");
    assert!(actual.contains("max='1'"), "{actual}");
    assert_eq!(verdict(&r, RETRANSMIT), Verdict::Impossible);
    assert_eq!(counter(&r, "sm_delivered_without_resume"), OUTAGE_MESSAGES);
    assert_eq!(counter(&r, "bounced") + r.accounting.total.lost, 0);
    assert_eq!(r.ops["resume"].errors, 5);
}

#[test]
fn resume_fails_after_prosody_hibernation_timeout() {
    resume_fails_after_timeout("fixtures/targets/violations/prosody-sm-timeout-1s.toml");
}

#[test]
fn resume_fails_after_ejabberd_resume_timeout() {
    resume_fails_after_timeout("fixtures/targets/violations/ejabberd-sm-timeout-1s.toml");
}
