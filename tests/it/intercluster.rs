//! Intercluster failover (HA-12): deployment A is an active/standby Prosody pair serving
//! a.example.test (the standby shares the active node's data dir), federated with B
//! (b.example.test). Killing A's active node mid-chat moves A's users to A's standby only;
//! B's watchers see them available again, and every message across deployments is
//! accounted for.

use impress::metrics::recovery::RecoveryVerdict;
use impress::report::RunStatus;
use impress::scenario::load_target;
use impress::target::Layout;

use crate::common::run_expecting;

/// Whether Prosody is installed (else the server test is skipped, with a message).
fn prosody_missing() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|d| d.join("prosody").is_file());
    if !found {
        eprintln!("SKIPPED: prosody is not installed (scripts/install-targets.sh)");
    }
    !found
}

#[test]
fn a_failover_in_a_is_seen_recovering_by_bs_watchers() {
    if prosody_missing() {
        return;
    }
    let (r, msg, _dir) = run_expecting(
        "suites/intercluster-failover.toml",
        "managed:federation-standby",
        0,
    );
    assert_eq!(r.status, RunStatus::Passed, "{msg}");
    assert_eq!(r.recovery.len(), 1, "{msg}");
    let rec = &r.recovery[0];
    assert_eq!(rec.verdict, RecoveryVerdict::Pass, "{}: {msg}", rec.reason);
    assert_eq!(rec.fault.as_deref(), Some("kill node0"), "{msg}");
    // A's 5 users lost their connection and came back on A's standby (node 2), never on
    // B (node 1), whose 5 users stayed.
    assert_eq!((rec.disconnected, rec.recovered), (5, 5), "{msg}");
    assert_eq!(rec.nodes_after, vec![0, 5, 5], "{msg}");
    // B's watchers saw every A user available again; the figure is reported.
    let w = rec.remote.as_ref().expect("remote view");
    assert_eq!(w.watched_disconnected, 5, "{msg}");
    assert_eq!(w.seen_available_again, 5, "{msg}");
    assert_eq!(w.presence_outage.count, 5, "{msg}");
    assert!(msg.contains("remote avail"), "{msg}");
    // Every message across deployments (B -> A while A was down included) is delivered
    // or counted lost with its id; none is duplicated.
    let (m, t) = (&w.messages_during_outage, &w.messages_total);
    assert!(m.sent > 0, "{msg}");
    assert_eq!(m.sent, m.delivered + m.lost, "{msg}");
    assert_eq!(m.lost as usize, w.lost_ids.len(), "{msg}");
    assert_eq!((t.sent, t.duplicated), (t.delivered + t.lost, 0), "{msg}");
    let a = &r.accounting.total;
    assert_eq!(a.sent, a.delivered + a.lost, "{msg}");
    assert_eq!(a.lost as usize, r.accounting.lost.len().min(1000), "{msg}");
}

/// The layout comes from a shortcut or a target file, with 3 nodes and no other count.
#[test]
fn federation_standby_is_a_three_node_layout() {
    let plan = load_target(Some("managed:federation-standby")).expect("shortcut");
    assert_eq!(
        (plan.layout, plan.layout_nodes, plan.domain.as_str()),
        (Layout::FederationStandby, 3, "a.example.test")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |nodes: &str| {
        let p = dir.path().join("t.toml");
        let text = format!(
            "domain = \"a.example.test\"\n[managed]\nserver = \"prosody\"\n\
             layout = \"federation-standby\"\n{nodes}"
        );
        std::fs::write(&p, text).expect("target written");
        p.to_string_lossy().into_owned()
    };
    let plan = load_target(Some(&file(""))).expect("target file");
    assert_eq!(
        (plan.layout, plan.layout_nodes),
        (Layout::FederationStandby, 3)
    );
    let err = load_target(Some(&file("nodes = 2\n"))).expect_err("2 nodes");
    assert!(err.to_string().contains("managed.layout/nodes"), "{err}");
}
