//! Failover suites against real servers: a node killed, hung, restarted or partitioned in
//! the middle of a chat, clients coming back (resumption, else re-login to the next node
//! after a random wait), and the report's recovery section with its verdict, which FAILS
//! when the standby dies too. The hook tests start their own active/standby pair (two
//! Prosody instances provisioned alike, sharing one data directory as a pair with a shared
//! database would) and describe it in an external target file whose `[[node]]` entries
//! name `kill`/`hang`/`resume` shell hooks.

use crate::common::{impress, run_expecting, text};
use impress::metrics::recovery::{RecoveryReport, RecoveryVerdict};
use impress::report::{RunReport, RunStatus};
use impress::target::{ManagedServer, ManagedSpec, ServerKind};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PASSWORD: &str = "failover-s3cret";

/// Two Prosody servers provisioned alike with `user1 … userN`, node 1 reading node 0's
/// data (accounts, rosters), and a target file with hooks for both.
struct HookPair {
    servers: Vec<ManagedServer>,
    target: PathBuf,
    _dir: tempfile::TempDir,
}

impl HookPair {
    async fn start(users: usize) -> Self {
        let spec = ManagedSpec::new(ServerKind::Prosody);
        let mut servers = Vec::new();
        for _ in 0..2 {
            servers.push(ManagedServer::start(&spec).await.expect("prosody starts"));
        }
        servers[0]
            .provision("user", users, PASSWORD)
            .await
            .expect("provision");
        // A shared database: node 1 serves node 0's accounts and rosters.
        let data1 = servers[1].dir().join("data");
        std::fs::remove_dir_all(&data1).expect("remove node 1 data");
        std::os::unix::fs::symlink(servers[0].dir().join("data"), &data1).expect("symlink");
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("pair.toml");
        std::fs::write(&target, target_file(&servers, dir.path())).expect("target file");
        Self {
            servers,
            target,
            _dir: dir,
        }
    }

    fn target(&self) -> &str {
        self.target.to_str().expect("utf-8 path")
    }

    async fn stop(self) {
        for s in self.servers {
            // A node the suite killed is already gone; stopping it still removes its dir.
            let _ = s.stop().await;
        }
    }
}

/// The external target file: one CA bundle, the password, both nodes with their hooks.
fn target_file(servers: &[ManagedServer], dir: &Path) -> String {
    let bundle = dir.join("ca.pem");
    let pems: Vec<String> = servers
        .iter()
        .map(|s| std::fs::read_to_string(s.ca_file()).expect("CA"))
        .collect();
    std::fs::write(&bundle, pems.concat()).expect("CA bundle");
    let mut t = format!(
        "name = \"prosody pair (hooks)\"\ndomain = \"{}\"\n[tls]\nca_file = \"{}\"\n\
         [accounts]\npattern = \"user{{n}}\"\npassword = \"{PASSWORD}\"\n",
        servers[0].domain(),
        bundle.display()
    );
    for (i, s) in servers.iter().enumerate() {
        let pid = s.pid();
        let _ = write!(
            t,
            "[[node]]\nname = \"node{i}\"\nhost = \"127.0.0.1\"\nport = {}\n\
             kill = \"kill -KILL {pid}\"\nhang = \"kill -STOP {pid}\"\nresume = \"kill -CONT {pid}\"\n",
            s.addr().port()
        );
    }
    t
}

/// Runs `suite` against a fresh hook pair of `users` users, expecting exit `code`.
fn with_hook_pair(suite: &str, users: usize, code: i32) -> (RunReport, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let pair = rt.block_on(HookPair::start(users));
    let (r, msg, _dir) = run_expecting(suite, pair.target(), code);
    rt.block_on(pair.stop());
    (r, msg)
}

/// The one recovery section of a report.
fn recovery(r: &RunReport, msg: &str) -> RecoveryReport {
    assert_eq!(r.recovery.len(), 1, "{msg}");
    r.recovery[0].clone()
}

/// Every message of the run is delivered or counted lost, with its id.
fn all_accounted(r: &RunReport, msg: &str) {
    let a = &r.accounting;
    assert!(a.total.sent > 0, "{msg}");
    assert_eq!(a.total.sent, a.total.delivered + a.total.lost, "{msg}");
    assert_eq!(a.lost.len() as u64, a.total.lost.min(1000), "{msg}");
}

/// Every user lost its connection, came back, and ended on node 1 of 2.
fn all_moved(rec: &RecoveryReport, users: usize, msg: &str) {
    assert_eq!(rec.verdict, RecoveryVerdict::Pass, "{}: {msg}", rec.reason);
    assert_eq!((rec.disconnected, rec.recovered), (users, users), "{msg}");
    assert_eq!(rec.nodes_after, vec![0, users], "{msg}");
    assert!(
        rec.time_to_all_back_ms.is_some_and(|t| t <= rec.bound_ms),
        "{msg}"
    );
}

#[test]
fn kill_moves_every_user_to_the_standby_of_a_managed_pair() {
    let (r, msg, dir) = run_expecting("suites/failover-kill.toml", "managed:prosody-pair", 0);
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    let rec = recovery(&r, &msg);
    all_moved(&rec, 10, &msg);
    assert_eq!(rec.fault.as_deref(), Some("kill node0"), "{msg}");
    assert_eq!(rec.relogins, 10, "{msg}");
    marked(&r, "fault kill node0", &msg);
    assert_eq!(r.ops["outage"].count, 10, "{msg}");
    assert_eq!(r.ops["detection"].count, 10, "{msg}");
    all_accounted(&r, &msg);
    assert!(
        msg.contains("recovery (step 4 chat-through): PASS"),
        "{msg}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("Failover recovery"));
}

/// The run's timeline has the mark `label` (a fault as it fired).
fn marked(r: &RunReport, label: &str, msg: &str) {
    assert!(
        r.timeline.iter().any(|m| m.label == label),
        "no mark `{label}`: {msg}"
    );
}

#[test]
fn hang_through_shell_hooks_is_detected_by_ping_and_presence_reconverges() {
    let (r, msg) = with_hook_pair("suites/failover-hang.toml", 10, 0);
    let rec = recovery(&r, &msg);
    all_moved(&rec, 10, &msg);
    assert_eq!(rec.fault.as_deref(), Some("hang node0"), "{msg}");
    assert!(rec.detected_within_bound, "{msg}");
    // Node 1 shares node 0's rosters: every partner sees its user available again.
    assert_eq!(rec.presence_converged, 10, "{msg}");
    marked(&r, "fault resume node0", &msg);
    all_accounted(&r, &msg);
}

#[test]
fn restart_brings_users_back_to_the_same_single_node() {
    let (r, msg, _dir) = run_expecting("suites/failover-restart.toml", "managed:prosody", 0);
    let rec = recovery(&r, &msg);
    assert_eq!(rec.verdict, RecoveryVerdict::Pass, "{}: {msg}", rec.reason);
    assert_eq!((rec.disconnected, rec.recovered), (10, 10), "{msg}");
    assert_eq!(rec.nodes_after, vec![10], "{msg}");
    marked(&r, "fault restart node0", &msg);
    all_accounted(&r, &msg);
}

#[test]
fn partition_is_detected_within_ping_interval_plus_timeout_and_reported() {
    let (r, msg, _dir) = run_expecting("suites/failover-partition.toml", "managed:prosody-pair", 0);
    let rec = recovery(&r, &msg);
    all_moved(&rec, 10, &msg);
    assert_eq!(rec.fault.as_deref(), Some("blackhole node0"), "{msg}");
    assert_eq!(rec.detection_bound_ms, 3000, "{msg}");
    assert_eq!(rec.detection.count, 10, "{msg}");
    assert!(rec.detected_within_bound, "{msg}");
    assert!(
        msg.contains("ping_interval + ping_timeout: within"),
        "{msg}"
    );
    marked(&r, "fault heal node0", &msg);
    all_accounted(&r, &msg);
}

/// The standby is killed too: nobody can come back, and the recovery verdict fails.
const BOTH_DIE: &str = r#"
name = "failover: both nodes die"
seed = 66
checks = ["xmpp/rfc6120/7.6.1-bind-full-jid"]
[timeouts]
connect = "1s"
response = "2s"
delivery = "2s"
[recovery]
lower = "500ms"
upper = "1s"
slack = "1s"
[[fleet]]
name = "users"
protocol = "xmpp"
users = 6
[[step]]
do = "login"
[[step]]
do = "fault"
action = "kill"
node = 1
[[step]]
do = "fault"
action = "kill"
node = 0
after = "1s"
[[step]]
do = "chat-through"
duration = "4s"
"#;

#[test]
fn recovery_fails_when_the_standby_is_dead_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("both.toml");
    std::fs::write(&suite, BOTH_DIE).expect("suite");
    let (r, msg) = with_hook_pair(suite.to_str().expect("utf-8"), 6, 1);
    assert_eq!(r.status, RunStatus::Failed, "{msg}");
    let rec = recovery(&r, &msg);
    assert_eq!(rec.verdict, RecoveryVerdict::Fail, "{msg}");
    assert_eq!((rec.disconnected, rec.recovered), (6, 0), "{msg}");
    assert_eq!(rec.time_to_all_back_ms, None, "{msg}");
    assert!(rec.relogin_attempts > 0, "{msg}");
    assert!(
        r.status_reason
            .as_deref()
            .is_some_and(|s| s.contains("never came back")),
        "{msg}"
    );
}

/// Stream management on, the node's traffic cut and healed half a second later: every
/// session resumes (no re-login) and no message is lost.
const CUT_RESUME: &str = r#"
name = "failover: cut and resume"
seed = 65
checks = ["xmpp/xep-0198/3-enabled-resumable"]
[timeouts]
connect = "2s"
response = "3s"
delivery = "5s"
[recovery]
lower = "3s"
upper = "4s"
[[fleet]]
name = "users"
protocol = "xmpp"
users = 6
[[step]]
do = "login"
[[step]]
do = "sm-enable"
[[step]]
do = "fault"
action = "cut"
node = 0
after = "2s"
[[step]]
do = "fault"
action = "heal"
node = 0
after = "2.5s"
[[step]]
do = "chat-through"
duration = "8s"
"#;

#[test]
fn sessions_resume_after_a_cut_instead_of_logging_in_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("cut.toml");
    std::fs::write(&suite, CUT_RESUME).expect("suite");
    let (r, msg, _out) = run_expecting(suite.to_str().expect("utf-8"), "managed:prosody", 0);
    let rec = recovery(&r, &msg);
    assert_eq!(rec.verdict, RecoveryVerdict::Pass, "{msg}");
    assert_eq!((rec.disconnected, rec.resumed), (6, 6), "{msg}");
    assert_eq!((rec.resume_successes, rec.relogins), (6, 0), "{msg}");
    assert_eq!(r.accounting.total.lost, 0, "{msg}");
    all_accounted(&r, &msg);
}

/// `impress validate` names the file, line and field of a bad fault step.
#[test]
fn bad_fault_steps_are_usage_errors_naming_line_and_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "action = \"explode\"",
            "line 9: step `fault`: field `action`",
        ),
        (
            "action = \"delay\"",
            "line 7: step `fault`: field `delay` is required",
        ),
        (
            "action = \"kill\"\nnode = 2",
            "line 7: step `fault`: field `node`: node 2 does not exist",
        ),
    ];
    for (fields, want) in cases {
        let suite = dir.path().join("bad.toml");
        let body = format!(
            "name = \"bad\"\n[[fleet]]\nname = \"u\"\nprotocol = \"xmpp\"\nusers = 2\n\n[[step]]\ndo = \"fault\"\n{fields}\n"
        );
        std::fs::write(&suite, body).expect("suite");
        let out = impress(&[
            "validate",
            suite.to_str().expect("utf-8"),
            "--target",
            "managed:prosody",
        ]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains(want), "want {want:?} in {t}");
    }
}

/// CI: 200 users on a two-node ejabberd cluster, node 0 killed mid-chat; re-login limits
/// from the `25000-as` HA profile (R = 16/s: upper = 1 + round(200/16) = 14 s).
const CLUSTER_200: &str = r#"
name = "failover: 200 users, cluster, kill node 0"
seed = 67
checks = ["xmpp/rfc6120/7.6.1-bind-full-jid"]
[timeouts]
connect = "5s"
response = "10s"
delivery = "10s"
[recovery]
profile = "25000-as"
service_down_delay = "1s"
slack = "5s"
[[fleet]]
name = "users"
protocol = "xmpp"
users = 200
[[step]]
do = "login"
rate = 100
[[step]]
do = "subscribe"
[[step]]
do = "fault"
action = "kill"
node = 0
after = "3s"
[[step]]
do = "chat-through"
duration = "22s"
interval = "1s"
ping_interval = "1s"
ping_timeout = "3s"
"#;

#[test]
fn cluster_of_two_survives_a_kill_with_200_users() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("cluster.toml");
    std::fs::write(&suite, CLUSTER_200).expect("suite");
    let (r, msg, _out) = run_expecting(
        suite.to_str().expect("utf-8"),
        "managed:ejabberd-cluster",
        0,
    );
    let rec = recovery(&r, &msg);
    all_moved(&rec, 200, &msg);
    assert_eq!((rec.lower_ms, rec.upper_ms), (1000, 14000), "{msg}");
    assert_eq!(rec.backoff, "profile 25000-as", "{msg}");
    all_accounted(&r, &msg);
}
