//! Multi-node managed deployments against the real servers: a two-node ejabberd cluster
//! (cross-node messages, a kill survived by the other node, restarts that rejoin), pairs of
//! independent servers provisioned alike (hang/cont, restart), two federated Prosody
//! deployments (a message over s2s and its reply), and stop leaving nothing behind, also with
//! a node hung. Tests log in with impress's own session code. They skip (with a message)
//! when a server is not installed or ejabberd cannot run (it needs root).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use impress::events::Events;
use impress::proto::xmpp::sasl::SaltedPasswordCache;
use impress::proto::xmpp::{Element, FramerConfig, ns, stanza};
use impress::scenario::Secret;
use impress::session::{Credentials, Observer, Session, SessionError, Settings};
use impress::target::{Deployment, Layout, ManagedSpec, ServerKind};
use impress::transport::{SourceAddrs, TlsSettings, client_config};

const PASSWORD: &str = "dep-s3cret";
const WAIT: Duration = Duration::from_secs(15);

/// `Some(reason)` when `kind` cannot run here.
fn skip_reason(kind: ServerKind) -> Option<String> {
    let program = match kind {
        ServerKind::Ejabberd => "ejabberdctl",
        _ => kind.name(),
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(program).is_file());
    if !found {
        return Some(format!(
            "{program} is not installed (scripts/install-targets.sh)"
        ));
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|r| r.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false);
    (kind == ServerKind::Ejabberd && !root).then(|| "a managed ejabberd needs root".to_owned())
}

macro_rules! require {
    ($kind:expr) => {
        if let Some(reason) = skip_reason($kind) {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
}

/// Lets every stanza through to the session's inbox.
#[derive(Debug)]
struct Inbox;

impl Observer for Inbox {
    fn message(&self, _: &str, _: &Element, _: &[u8], _: Instant) -> bool {
        false
    }
    fn presence(&self, _: &str, _: &Element, _: &[u8], _: Instant) -> bool {
        false
    }
}

/// Session settings for node `node` of `d`: STARTTLS verified against the deployment's CA.
fn settings(d: &Deployment, node: usize, response: Duration) -> Settings {
    let config = client_config(Some(d.ca_file()), false).expect("client config");
    let addr = d.addr(node);
    Settings {
        addr,
        domain: d.domain(node).to_owned(),
        tls: Some(TlsSettings::new(config, d.domain(node)).expect("tls settings")),
        allow_plain: false,
        connect_timeout: Duration::from_secs(5),
        response_timeout: response,
        framer: FramerConfig::default(),
        transcript_frames: 16,
        inbox_cap: 64,
        sasl_cache: Arc::new(SaltedPasswordCache::new()),
        sources: SourceAddrs::new(Vec::new()),
        nodes: vec![addr],
        domains: Vec::new(),
    }
}

/// Logs `user` in on node `node` (with initial presence) or says why not.
async fn try_login(
    d: &Deployment,
    node: usize,
    user: &str,
    response: Duration,
) -> Result<Session, SessionError> {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let events = Events::new(tx);
    let creds = Credentials {
        username: user.to_owned(),
        password: Secret::new(PASSWORD),
        resource: format!("node{node}"),
    };
    let label = format!("{user}@node{node}");
    let s = Session::connect(
        &settings(d, node, response),
        &creds,
        label,
        &events,
        Arc::new(Inbox),
        Instant::now(),
    )
    .await?;
    s.send(&stanza::presence(None, None)).await?;
    Ok(s)
}

async fn login(d: &Deployment, node: usize, user: &str) -> Session {
    try_login(d, node, user, WAIT).await.unwrap_or_else(|e| {
        panic!(
            "{user} cannot log in on node {node} ({}): {e}",
            d.addr(node)
        )
    })
}

/// Sends a chat message from `from` to `to`'s full JID and waits until `to` has it.
async fn deliver(from: &Session, to: &Session, body: &str) -> Element {
    let msg = stanza::message("chat", body, &to.jid().to_string(), body);
    from.send(&msg).await.expect("send");
    let has_body = |el: &Element| {
        el.name == "message"
            && el
                .child("body", ns::CLIENT)
                .is_some_and(|b| b.text() == body)
    };
    let got = to.take(has_body, Instant::now() + WAIT).await;
    got.unwrap_or_else(|| panic!("{body}: {} never received it", to.label()))
        .el
}

/// Stops `d` and asserts its processes and dirs are gone.
async fn stop_and_check(d: Deployment) {
    let pids = d.process_ids();
    let dirs: Vec<PathBuf> = (0..d.len()).map(|i| d.server(i).dir().to_owned()).collect();
    let t0 = Instant::now();
    d.stop().await.expect("stop");
    eprintln!("stopped in {:?}", t0.elapsed());
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, r)| r.starts_with('Z'));
        assert!(
            stat.is_empty() || zombie,
            "pid {pid} still runs after stop: {stat}"
        );
    }
    for dir in dirs {
        assert!(!Path::new(&dir).exists(), "{} not removed", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_cluster_shares_users_survives_a_kill_and_rejoins() {
    require!(ServerKind::Ejabberd);
    let t0 = Instant::now();
    let spec = ManagedSpec::new(ServerKind::Ejabberd);
    let d = Deployment::start(&spec, Layout::Cluster, 2)
        .await
        .expect("cluster starts");
    eprintln!("cluster up in {:?}", t0.elapsed());
    assert_eq!((d.len(), d.layout()), (2, Layout::Cluster));
    assert_ne!(d.addr(0), d.addr(1));
    d.provision("user", 3, PASSWORD).await.expect("provision");
    // A user on node 0 messages a user on node 1 (routed between the nodes).
    let a = login(&d, 0, "user1").await;
    let b = login(&d, 1, "user2").await;
    deliver(&a, &b, "across-the-cluster").await;
    // Node 0 dies: the same account logs in on node 1 and messages flow there.
    let old = d.pid(0);
    d.kill(0).expect("kill");
    let a1 = login(&d, 1, "user1").await;
    assert!(!d.is_running(0));
    deliver(&a1, &b, "after-the-kill").await;
    // Node 0 comes back (rejoined): it serves logins and routes to node 1 again.
    d.restart(0).await.expect("restart after kill");
    assert_ne!(d.pid(0), old);
    let a0 = login(&d, 0, "user3").await;
    deliver(&a0, &b, "after-the-restart").await;
    // Hang then kill node 1, restart it: it serves again and sees node 0's users.
    d.hang(1).expect("hang");
    d.kill(1).expect("kill hung");
    d.restart(1).await.expect("restart after hang+kill");
    let b1 = login(&d, 1, "user2").await;
    deliver(&a0, &b1, "after-hang-kill-restart").await;
    eprintln!("cluster scenario done in {:?}", t0.elapsed());
    stop_and_check(d).await;
}

/// Both nodes of a pair accept the same account; a hung node answers nobody until it is
/// continued; a killed node restarts on its port.
async fn pair_behaves(kind: ServerKind) {
    let t0 = Instant::now();
    let d = Deployment::start(&ManagedSpec::new(kind), Layout::Pair, 2)
        .await
        .expect("pair starts");
    eprintln!("{kind} pair up in {:?}", t0.elapsed());
    assert_eq!(d.domain(0), d.domain(1));
    d.provision("user", 2, PASSWORD).await.expect("provision");
    let a = login(&d, 0, "user1").await;
    let b = login(&d, 1, "user1").await;
    drop((a, b));
    d.hang(0).expect("hang");
    let hung = try_login(&d, 0, "user2", Duration::from_secs(1)).await;
    assert!(hung.is_err(), "a hung {kind} node must not log anyone in");
    login(&d, 1, "user2").await;
    d.cont(0).expect("cont");
    login(&d, 0, "user2").await;
    d.kill(1).expect("kill");
    d.restart(1).await.expect("restart");
    login(&d, 1, "user1").await;
    // Stop copes with a hung node.
    d.hang(1).expect("hang before stop");
    eprintln!("{kind} pair scenario done in {:?}", t0.elapsed());
    stop_and_check(d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_pair_shares_accounts_hangs_and_restarts() {
    require!(ServerKind::Prosody);
    pair_behaves(ServerKind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_pair_shares_accounts_hangs_and_restarts() {
    require!(ServerKind::Ejabberd);
    pair_behaves(ServerKind::Ejabberd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_carries_a_message_and_its_reply_over_s2s() {
    require!(ServerKind::Prosody);
    let mut spec = ManagedSpec::new(ServerKind::Prosody);
    spec.domain = "a.example.test".into();
    let d = Deployment::start(&spec, Layout::Federation, 2)
        .await
        .expect("federation starts");
    assert_eq!(
        (d.domain(0), d.domain(1)),
        ("a.example.test", "b.example.test")
    );
    d.provision("user", 1, PASSWORD).await.expect("provision");
    let a = login(&d, 0, "user1").await;
    let b = login(&d, 1, "user1").await;
    let got = deliver(&a, &b, "hello-from-a").await;
    assert_eq!(got.attr("from"), Some(a.jid().to_string().as_str()));
    let reply = stanza::message("chat", "r1", &a.jid().to_string(), "reply-from-b");
    b.send(&reply).await.expect("reply");
    let back = a
        .take(
            |el| {
                el.child("body", ns::CLIENT)
                    .is_some_and(|x| x.text() == "reply-from-b")
            },
            Instant::now() + WAIT,
        )
        .await;
    assert!(back.is_some(), "the reply never came back over s2s");
    stop_and_check(d).await;
}

/// A small suite: two users log in, subscribe, exchange messages, log out.
const TINY_SUITE: &str = r#"
name = "deployment wiring"
seed = 1
[[fleet]]
name = "u"
protocol = "xmpp"
users = 2
[[step]]
do = "login"
[[step]]
do = "subscribe"
pairs = "adjacent"
[[step]]
do = "message"
to = "partner.bare"
count = 2
every = "50ms"
[[step]]
do = "logout"
"#;

/// `impress run` starts every node of a multi-node shortcut, plays on node 0, and stops
/// them all.
#[test]
fn impress_run_plays_on_a_managed_prosody_pair() {
    require!(ServerKind::Prosody);
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("tiny.toml");
    std::fs::write(&suite, TINY_SUITE).expect("suite written");
    let (r, msg, _out) =
        crate::common::run_expecting(suite.to_str().expect("utf-8"), "managed:prosody-pair", 0);
    assert_eq!(r.status, impress::report::RunStatus::Passed, "{msg}");
    assert_eq!(r.accounting.total.sent, 4, "{msg}");
    assert_eq!(r.accounting.total.delivered, 4, "{msg}");
}

/// Target files choose a layout and its nodes; the shortcuts map to layouts; a layout the
/// server cannot run is a usage error naming the field.
#[test]
fn layouts_come_from_target_files_and_shortcuts() {
    use impress::scenario::load_target;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str, server: &str, layout: &str| {
        let p = dir.path().join(name);
        let text = format!("[managed]\nserver = \"{server}\"\nlayout = \"{layout}\"\nnodes = 3\n");
        std::fs::write(&p, text).expect("target written");
        p.to_string_lossy().into_owned()
    };
    let plan = load_target(Some(&file("c.toml", "ejabberd", "cluster"))).expect("cluster");
    assert_eq!((plan.layout, plan.layout_nodes), (Layout::Cluster, 3));
    let err = load_target(Some(&file("p.toml", "prosody", "cluster"))).expect_err("no cluster");
    assert!(err.to_string().contains("managed.layout"), "{err}");
    for (arg, layout) in [
        ("managed:ejabberd-cluster", Layout::Cluster),
        ("managed:ejabberd-pair", Layout::Pair),
        ("managed:prosody-pair", Layout::Pair),
        ("managed:federation", Layout::Federation),
        ("managed:prosody", Layout::Single),
    ] {
        let plan = load_target(Some(arg)).expect(arg);
        assert_eq!(
            (plan.layout, plan.layout_nodes),
            (layout, layout.default_nodes()),
            "{arg}"
        );
    }
    assert_eq!(
        load_target(Some("managed:federation")).unwrap().domain,
        "a.example.test"
    );
}

/// `suites/intercluster.toml` on two federated deployments: users of A subscribe to and
/// message users of B over s2s; remote and local messages are measured apart.
#[test]
fn intercluster_suite_passes_on_managed_federation() {
    require!(ServerKind::Prosody);
    let (r, msg, _dir) =
        crate::common::run_expecting("suites/intercluster.toml", "managed:federation", 0);
    assert_eq!(r.status, impress::report::RunStatus::Passed, "{msg}");
    // 8 users send 5 messages to a partner on the other deployment, then 5 to a local one.
    let (remote, local) = (&r.ops["remote_message"], &r.ops["message"]);
    assert_eq!((remote.count, remote.errors), (40, 0), "{msg}");
    assert_eq!((local.count, local.errors), (40, 0), "{msg}");
    let acc = &r.accounting.total;
    assert_eq!((acc.sent, acc.delivered, acc.lost), (80, 80, 0), "{msg}");
}

/// A fleet naming a deployment the target does not have is a usage error naming the field.
#[test]
fn a_fleet_on_a_missing_deployment_is_a_usage_error() {
    // Refused before any server starts.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = crate::common::run("suites/intercluster.toml", "managed:prosody", dir.path());
    let text = crate::common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("field `deployment`"), "{text}");
}
