//! Load phases against managed Prosody: the closed and open models of
//! `suites/xmpp-load.toml` pass; an open phase schedules exactly the per-user sequences
//! the seed defines; and a generator asked for far more than the machine can do ends the
//! run INVALID (exit 3) with the lag reason instead of blaming the target.

use crate::common::{report, run, run_expecting, text};
use impress::fleet::schedule::{Arrival, Content, Profile, Schedule, Slot, Stage, user_plan};
use impress::report::RunStatus;
use std::path::Path;
use std::time::Duration;

/// Writes `suite` into `dir` and returns its path.
fn suite_file(dir: &Path, suite: &str) -> String {
    let path = dir.join("suite.toml");
    std::fs::write(&path, suite).expect("suite written");
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn closed_and_open_load_phases_pass_on_managed_prosody() {
    let (r, msg, dir) = run_expecting("suites/xmpp-load.toml", "managed:prosody", 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    assert_eq!(r.run.seed, 42, "the seed is recorded");
    let c = |name: &str| r.counters.get(name).copied().unwrap_or(0);
    assert!(c("actions_scheduled") > 0, "{:?}", r.counters);
    assert_eq!(c("actions_dropped"), 0, "{:?}", r.counters);
    assert_eq!(c("actions_started"), c("actions_scheduled"));
    // 50 pings/s for 2 s, evenly spaced: exactly 100.
    assert_eq!(r.ops["ping"].count, 100, "{:?}", r.ops);
    let m = &r.ops["message"];
    assert!(m.count > 0 && m.errors == 0, "{m:?}");
    assert_eq!(r.service_ops["message"].count, m.count);
    let t = &r.accounting.total;
    assert_eq!(
        (t.sent, t.delivered, t.lost),
        (m.count, m.count, 0),
        "{t:?}"
    );
    assert!(
        r.ops["scheduler_lag"].count > 0,
        "the generator watched itself"
    );
    assert!(c("generator_cpu_ms") > 0, "{:?}", r.counters);
    assert!(dir.path().join("scheduler_lag.hlog").exists());
    assert!(msg.contains("scheduler_lag"), "{msg}");
}

const OPEN: &str = r#"
name = "open poisson"
seed = 9
[timeouts]
delivery = "5s"
[[fleet]]
name = "f"
protocol = "xmpp"
users = 6
[[step]]
do = "login"
[[step]]
do = "subscribe"
[[step]]
do = "load"
model = "open"
arrival = "poisson"
rate = 30
duration = "2s"
[[step]]
do = "logout"
"#;

#[test]
fn an_open_phase_plays_the_sequence_the_seed_defines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = suite_file(dir.path(), OPEN);
    let out_dir = dir.path().join("out");
    let out = run(&suite, "managed:prosody", &out_dir);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(0), "{msg}");
    let r = report(&out_dir);
    assert_eq!(r.run.seed, 9);
    // The same plan, computed here from the seed: every user's arrivals.
    let schedule = Schedule::Open {
        arrival: Arrival::Poisson,
        profile: Profile {
            start_rate: 30.0,
            stages: vec![Stage {
                rate: 30.0,
                duration: Duration::from_secs(2),
            }],
        },
    };
    let content = Content {
        partners: 1,
        body_min: 32,
        body_max: 32,
    };
    let plan = |seed, gid| {
        let slot = Slot {
            position: gid,
            acting: 6,
        };
        user_plan(&schedule, seed, gid, slot, content, usize::MAX)
    };
    let planned: usize = (0..6).map(|gid| plan(9, gid).len()).sum();
    assert_eq!(r.counters["actions_scheduled"], planned as u64, "{msg}");
    assert_eq!(r.counters["actions_started"], planned as u64, "{msg}");
    assert_eq!(r.ops["message"].count, planned as u64, "{:?}", r.ops);
    for gid in 0..6 {
        assert_eq!(
            plan(9, gid),
            plan(9, gid),
            "the same seed replays user {gid}"
        );
        assert_ne!(
            plan(9, gid),
            plan(10, gid),
            "another seed changes user {gid}"
        );
    }
}

const SATURATED: &str = r#"
name = "saturated generator"
seed = 5
[timeouts]
delivery = "3s"
[limits]
max_scheduler_lag = "20ms"
[[fleet]]
name = "f"
protocol = "xmpp"
users = 4
[[step]]
do = "login"
[[step]]
do = "load"
model = "open"
arrival = "constant"
rate = 1000000
duration = "2s"
[[step]]
do = "logout"
"#;

#[test]
fn a_saturated_generator_makes_the_run_invalid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = suite_file(dir.path(), SATURATED);
    let out_dir = dir.path().join("out");
    let out = run(&suite, "managed:prosody", &out_dir);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(3), "{msg}");
    let r = report(&out_dir);
    assert_eq!(r.status, RunStatus::Invalid, "{msg}");
    let why = r.status_reason.as_deref().unwrap_or_default();
    assert!(
        why.starts_with("generator fell behind: scheduler lag p99"),
        "{why}"
    );
    assert!(why.contains("> limit 20.0ms"), "{why}");
    assert!(r.counters["actions_dropped"] > 0, "{:?}", r.counters);
    assert_eq!(r.counters["actions_scheduled"], 2_000_000);
    assert!(r.ops["scheduler_lag"].count > 0);
    assert!(msg.contains("INVALID"), "{msg}");
}
