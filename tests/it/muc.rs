//! XEP-0045 Multi-User Chat against real servers: the MUC suite passes on managed Prosody
//! and managed ejabberd (with their known deviations), and its checks FAIL against servers
//! configured to violate them: no room service, a one-room service, a service capping rooms
//! below the suite's occupant limit, no room history, every user a service admin. The
//! clauses no setting breaks fail on hand-written stanzas in `src/checks/oracle_muc_tests.rs`.

use crate::common::{counter, run_expecting, verdict};
use impress::checks::Verdict;
use impress::report::{RunReport, RunStatus};

const SUITE: &str = "suites/xmpp-muc.toml";
const VIOLATIONS: &str = "fixtures/targets/violations";
const DEFAULT_ROLE: &str = "xmpp/xep-0045/5.1.2-default-role";
const OCCUPANT_PRESENCE: &str = "xmpp/xep-0045/7.2.2-occupant-presence";
const SELF_PRESENCE: &str = "xmpp/xep-0045/7.2.2-self-presence-110";
const MEMBERS_ONLY: &str = "xmpp/xep-0045/7.2.6-members-only";
const MAX_USERS: &str = "xmpp/xep-0045/7.2.9-max-users";
const HISTORY: &str = "xmpp/xep-0045/7.2.14-history-maxstanzas";
const ROOM_CREATED: &str = "xmpp/xep-0045/10.1.1-room-created-201";
const CONFIG_IN_EFFECT: &str = "xmpp/xep-0045/10.2-config-in-effect";

fn actual(r: &RunReport, id: &str) -> String {
    let v = r.verdicts.iter().find(|v| v.id == id).expect("verdict");
    v.actual.clone().unwrap_or_default()
}

/// Runs the MUC suite: exit 0, and every check passes but those listed in `other`.
fn muc_passes(target: &str, other: &[(&str, Verdict)]) -> RunReport {
    let (r, msg, dir) = run_expecting(SUITE, target, 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    for v in &r.verdicts {
        let want = other
            .iter()
            .find(|(id, _)| *id == v.id)
            .map_or(Verdict::Pass, |(_, w)| *w);
        assert_eq!(v.verdict, want, "{}: {}", v.id, v.message);
    }
    // 6 rooms created, 12 joins; 24 messages posted, 48 copies: 6 history posts, 36 in the
    // full lobbies, 6 from the stage owners (their visitors are refused).
    let join = &r.ops["muc_join"];
    assert_eq!((join.count, join.errors), (18, 0), "{msg}");
    let chat = &r.ops["groupchat"];
    assert_eq!((chat.count, chat.errors), (48, 0), "{msg}");
    assert_eq!(counter(&r, "groupchat_sent"), 24, "{msg}");
    assert_eq!(counter(&r, "groupchat_lost"), 0, "{msg}");
    assert!(dir.path().join("groupchat.hlog").exists());
    r
}

#[test]
fn muc_suite_passes_on_managed_prosody() {
    // Prosody 0.12's rooms have no occupant limit: its form offers no maxusers field.
    let r = muc_passes("managed:prosody", &[(MAX_USERS, Verdict::Impossible)]);
    assert!(actual(&r, MAX_USERS).is_empty());
}

#[test]
fn muc_suite_passes_on_managed_ejabberd() {
    let r = muc_passes("managed:ejabberd", &[(MAX_USERS, Verdict::Warn)]);
    let v = r
        .verdicts
        .iter()
        .find(|v| v.id == MAX_USERS)
        .expect("verdict");
    assert!(v.expected_failure.is_some(), "listed in fixtures/expect");
    assert!(actual(&r, MAX_USERS).contains("resource-constraint"));
}

/// Runs the MUC suite against a violating target: exit 1, and each of `failing` fails
/// with the transcript that proves it.
fn violated(target: &str, failing: &[&str]) -> RunReport {
    let (r, msg, _dir) = run_expecting(SUITE, &format!("{VIOLATIONS}/{target}"), 1);
    for id in failing {
        assert_eq!(verdict(&r, id), Verdict::Fail, "{id}: {msg}");
        let v = r.verdicts.iter().find(|v| v.id == *id).expect("verdict");
        let t = v
            .transcript
            .as_ref()
            .expect("a failure carries its transcript");
        assert!(!t.lines.is_empty(), "{id}: empty transcript");
    }
    r
}

#[test]
fn muc_fails_without_ejabberd_mod_muc() {
    let r = violated("ejabberd-muc-disabled.toml", &[SELF_PRESENCE, ROOM_CREATED]);
    assert!(actual(&r, ROOM_CREATED).contains("remote-server-not-found"));
    // No room exists, so no outsider can be refused.
    assert_eq!(verdict(&r, MEMBERS_ONLY), Verdict::Impossible);
}

#[test]
fn room_creation_fails_on_prosody_holding_one_room() {
    let r = violated(
        "prosody-muc-max-rooms-1.toml",
        &[SELF_PRESENCE, ROOM_CREATED],
    );
    assert!(actual(&r, ROOM_CREATED).contains("resource-constraint"));
}

#[test]
fn configuration_fails_on_ejabberd_capping_rooms_at_2() {
    let r = violated(
        "ejabberd-muc-max-users-2.toml",
        &[CONFIG_IN_EFFECT, SELF_PRESENCE, OCCUPANT_PRESENCE],
    );
    let a = actual(&r, CONFIG_IN_EFFECT);
    assert!(a.contains("muc#roomconfig_maxusers = '2'"), "{a}");
}

#[test]
fn history_fails_on_ejabberd_keeping_none() {
    let r = violated("ejabberd-muc-history-0.toml", &[HISTORY]);
    assert!(actual(&r, HISTORY).starts_with("0 history messages"));
}

#[test]
fn history_fails_on_prosody_keeping_none() {
    let r = violated("prosody-muc-history-0.toml", &[HISTORY]);
    assert!(actual(&r, HISTORY).starts_with("0 history messages"));
}

/// Every user a MUC service admin owns every room: the outsider enters full and
/// members-only rooms, and newcomers moderate instead of participating or visiting.
#[test]
fn room_limits_fail_on_ejabberd_where_everyone_is_admin() {
    let r = violated("ejabberd-muc-everyone-admin.toml", &[MEMBERS_ONLY]);
    assert!(actual(&r, MEMBERS_ONLY).starts_with("admitted"));
    assert_eq!(verdict(&r, MAX_USERS), Verdict::Warn);
    assert!(actual(&r, MAX_USERS).starts_with("admitted"));
    assert_eq!(verdict(&r, DEFAULT_ROLE), Verdict::Warn);
    assert!(actual(&r, DEFAULT_ROLE).contains("role='moderator'"));
}
