//! Managed Kamailio against hand-built SIP on loopback: start, provision, OPTIONS over UDP,
//! TCP and verified TLS, digest challenges, two contacts per address-of-record, a MESSAGE
//! forked to both, presence, stop/Drop leaving nothing behind — and every violation target
//! file in `fixtures/targets/violations/kamailio-*.toml` doing what its comment says. Tests
//! skip (with a message) when Kamailio is not installed (`scripts/install-targets.sh`).

mod ua;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use impress::scenario::{Endpoint, load_target};
use impress::target::{ManagedServer, ManagedSpec, ServerKind, TargetError};

use self::ua::{Msg, Origin, Req, Ua, render, stream_exchange};

const PASSWORD: &str = "s1p-s3cret'pw";

/// Whether `kamailio` is installed (on PATH or in an sbin dir).
fn installed() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .any(|d| d.join("kamailio").is_file())
}

macro_rules! require_kamailio {
    () => {
        if !installed() {
            eprintln!("SKIPPED: kamailio is not installed (run scripts/install-targets.sh)");
            return;
        }
    };
}

/// Starts the managed Kamailio a violation target file describes, with two accounts.
async fn start_file(name: &str) -> ManagedServer {
    let path = crate::common::root()
        .join("fixtures/targets/violations")
        .join(name);
    let plan = load_target(Some(path.to_str().expect("utf-8 path"))).expect("target file");
    let Endpoint::Managed(spec) = plan.endpoint else {
        panic!("{name} is not a managed target");
    };
    assert_eq!(spec.kind, ServerKind::Kamailio);
    start(&spec).await
}

async fn start(spec: &ManagedSpec) -> ManagedServer {
    let server = ManagedServer::start(spec).await.expect("start kamailio");
    server
        .provision("user", 2, PASSWORD)
        .await
        .expect("provision");
    server
}

/// Live child processes of `pid` (Kamailio's workers), from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").expect("/proc");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// Stops `server`; asserts every process is gone, the dir removed and the ports free.
async fn stop_and_check(server: ManagedServer) {
    let sip = server.sip().expect("a SIP server");
    let pids = server.process_ids();
    assert_eq!(pids[0], server.pid(), "the main process is stopped first");
    let workers = children_of(server.pid());
    assert!(workers.len() > 2, "kamailio runs workers: {workers:?}");
    for w in &workers {
        assert!(pids.contains(w), "worker {w} not tracked in {pids:?}");
    }
    let dir = server.dir().to_owned();
    server.stop().await.expect("stop");
    for pid in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} left after stop"
        );
    }
    assert!(!dir.exists(), "{} left after stop", dir.display());
    for addr in [Some(sip.tcp), sip.tls].into_iter().flatten() {
        TcpListener::bind(addr).unwrap_or_else(|e| panic!("tcp {addr} still taken: {e}"));
    }
    UdpSocket::bind(sip.udp).unwrap_or_else(|e| panic!("udp {} still taken: {e}", sip.udp));
}

/// OPTIONS to the server over a stream transport (`TCP` or `TLS`).
async fn options_over<S>(io: &mut S, local: SocketAddr, transport: &str, domain: &str) -> Msg
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = Req::new("OPTIONS", format!("sip:{domain}"));
    let origin = Origin {
        user: "user1",
        domain,
        local,
        transport,
        tag: "stream",
    };
    stream_exchange(io, &render(&req, &origin, "options-stream@impress-test", 1)).await
}

/// REGISTER over TCP without credentials.
async fn register_over_tcp(server: &ManagedServer) -> Msg {
    let (mut io, local) = ua::tcp(server.addr()).await;
    let domain = server.domain();
    let req = Req::new("REGISTER", format!("sip:{domain}")).header("Expires", "60");
    let req = Req {
        to: format!("<sip:user1@{domain}>"),
        ..req
    };
    let origin = Origin {
        user: "user1",
        domain,
        local,
        transport: "TCP",
        tag: "tcp-reg",
    };
    stream_exchange(&mut io, &render(&req, &origin, "reg-tcp@impress-test", 1)).await
}

/// The `tag` parameter of a To/From value.
fn tag(value: &str) -> Option<&str> {
    value.split(';').find_map(|p| p.trim().strip_prefix("tag="))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_answers_options_on_every_transport() {
    require_kamailio!();
    let server = start(&ManagedSpec::new(ServerKind::Kamailio)).await;
    let sip = server.sip().expect("sip endpoints");
    assert_eq!((sip.udp, sip.tcp), (server.addr(), server.addr()));
    assert_eq!(server.sip_auth(), Some(true));
    let mut u = Ua::new(&server, "user1").await;
    let r = u
        .transact(
            Req::new("OPTIONS", format!("sip:{}", server.domain())),
            None,
        )
        .await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    assert!(
        tag(r.header("to").unwrap_or_default()).is_some(),
        "{}",
        r.text
    );
    let (mut io, local) = ua::tcp(sip.tcp).await;
    let r = options_over(&mut io, local, "TCP", server.domain()).await;
    assert_eq!(r.status(), Some(200), "TCP: {}", r.text);
    drop(io);
    let tls = sip
        .tls
        .expect("a TLS listener (kamailio-tls-modules is installed)");
    let (mut io, local) = ua::tls(&server, tls).await;
    let r = options_over(&mut io, local, "TLS", server.domain()).await;
    assert_eq!(r.status(), Some(200), "TLS: {}", r.text);
    drop(io);
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_challenges_and_authenticates_registrations() {
    require_kamailio!();
    let server = start(&ManagedSpec::new(ServerKind::Kamailio)).await;
    let mut a = Ua::new(&server, "user1").await;
    let r = a.register(None, 60).await;
    assert_eq!(r.status(), Some(401), "{}", r.text);
    let challenge = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(
        challenge.starts_with("Digest") && challenge.contains("realm=\"example.test\""),
        "{challenge}"
    );
    let r = register_over_tcp(&server).await;
    assert_eq!(r.status(), Some(401), "TCP: {}", r.text);
    assert!(r.header("www-authenticate").is_some(), "{}", r.text);
    // Wrong password, unprovisioned user: challenged again, never registered.
    assert_eq!(a.register(Some("wrong"), 60).await.status(), Some(401));
    let mut stranger = Ua::new(&server, "user3").await;
    assert_eq!(
        stranger.register(Some(PASSWORD), 60).await.status(),
        Some(401)
    );
    let r = a.register(Some(PASSWORD), 60).await;
    assert_eq!(r.status(), Some(200), "{}\n{}", r.text, server.log_tail(20));
    stop_and_check(server).await;
}

/// Registers two devices of user1 and returns them with user2's UA.
async fn two_devices(server: &ManagedServer) -> (Ua, Ua, Ua) {
    let pw = server.sip_auth().unwrap_or(true).then_some(PASSWORD);
    let mut a = Ua::new(server, "user1").await;
    let mut b = Ua::new(server, "user1").await;
    assert_eq!(a.register(pw, 300).await.status(), Some(200));
    let r = b.register(pw, 300).await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    // One Contact header may list several bindings, comma-separated.
    let bindings: usize = r
        .all("contact")
        .iter()
        .map(|c| c.matches("<sip:").count())
        .sum();
    assert_eq!(bindings, 2, "both contacts listed: {}", r.text);
    (a, b, Ua::new(server, "user2").await)
}

const BODY: &str = "hello, devices";

/// `from` sends a MESSAGE to user1's address-of-record, registered by devices `a` and `b`;
/// the first device to get a copy answers 200. Returns the sender's final response (which
/// follows that answer) and which device answered (0: `a`, 1: `b`).
async fn message(server: &ManagedServer, a: &mut Ua, b: &mut Ua, from: &mut Ua) -> (Msg, usize) {
    let pw = server.sip_auth().unwrap_or(true).then_some(PASSWORD);
    let req = Req::new("MESSAGE", a.aor()).body("text/plain", BODY);
    let send = from.transact(req, pw);
    let first = async {
        let (who, m) = tokio::select! {
            m = a.request("MESSAGE") => (0, m),
            m = b.request("MESSAGE") => (1, m),
        };
        assert_eq!(m.body, BODY, "{}", m.text);
        let device = if who == 0 { &mut *a } else { &mut *b };
        device.ok(&m).await;
        who
    };
    tokio::join!(send, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_forks_message_to_every_contact() {
    require_kamailio!();
    let server = start(&ManagedSpec::new(ServerKind::Kamailio)).await;
    let (mut a, mut b, mut c) = two_devices(&server).await;
    let (r, first) = message(&server, &mut a, &mut b, &mut c).await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    // The other device gets its copy too (the test fails if it never comes).
    let other = if first == 0 { &mut b } else { &mut a };
    let m = other.request("MESSAGE").await;
    assert_eq!(m.body, BODY, "{}", m.text);
    other.ok(&m).await;
    let r = c
        .transact(
            Req::new("MESSAGE", "sip:user9@example.test"),
            Some(PASSWORD),
        )
        .await;
    assert_eq!(r.status(), Some(404), "unknown user: {}", r.text);
    stop_and_check(server).await;
}

/// user2 subscribes to user1's presence; returns the SUBSCRIBE's response and the NOTIFY.
async fn subscribe(server: &ManagedServer, event: &str) -> (Msg, Option<Msg>) {
    let mut w = Ua::new(server, "user2").await;
    let req = Req::new("SUBSCRIBE", "sip:user1@example.test")
        .header("Event", event)
        .header("Expires", "60");
    let r = w.transact(req, Some(PASSWORD)).await;
    if r.status() != Some(200)
        || !event.starts_with("presence")
        || server.sip_presence() != Some(true)
    {
        return (r, None);
    }
    let notify = w.request("NOTIFY").await;
    w.ok(&notify).await;
    (r, Some(notify))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_serves_presence() {
    require_kamailio!();
    let server = start(&ManagedSpec::new(ServerKind::Kamailio)).await;
    let (r, notify) = subscribe(&server, "presence").await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let notify = notify.expect("initial NOTIFY");
    let state = notify.header("subscription-state").unwrap_or_default();
    assert!(state.starts_with("active"), "{}", notify.text);
    assert_eq!(notify.header("content-type"), Some("application/pidf+xml"));
    let (r, _) = subscribe(&server, "no-such-package").await;
    assert_eq!(r.status(), Some(489), "{}", r.text);
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_kamailio_leaves_another_running() {
    require_kamailio!();
    let spec = ManagedSpec::new(ServerKind::Kamailio);
    let (a, b) = tokio::join!(ManagedServer::start(&spec), ManagedServer::start(&spec));
    let (a, b) = (a.expect("start a"), b.expect("start b"));
    assert_ne!(a.addr(), b.addr());
    stop_and_check(a).await;
    // Kamailio signals its whole process group on shutdown: b must not be in a's.
    let mut u = Ua::new(&b, "user1").await;
    let r = u
        .transact(Req::new("OPTIONS", format!("sip:{}", b.domain())), None)
        .await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    stop_and_check(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_kamailio_stops_it() {
    require_kamailio!();
    let server = ManagedServer::start(&ManagedSpec::new(ServerKind::Kamailio))
        .await
        .expect("start");
    let mut pids = server.process_ids();
    pids.extend(children_of(server.pid()));
    let dir = server.dir().to_owned();
    drop(server);
    assert!(
        pids.iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
    );
    assert!(!dir.exists());
}

/// Whether `pid` is gone or a zombie (exited, not yet reaped).
fn dead(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_kamailio_by_its_pids_leaves_no_worker() {
    require_kamailio!();
    let server = ManagedServer::start(&ManagedSpec::new(ServerKind::Kamailio))
        .await
        .expect("start");
    let workers = children_of(server.pid());
    assert!(workers.len() > 2, "{workers:?}");
    // What an aborted run does on a second Ctrl-C: SIGKILL to every listed PID at once.
    // SIGKILL on the main process alone would leave the workers running.
    impress::target::kill_now(&server.process_ids());
    let deadline = std::time::Instant::now() + ua::IO_TIMEOUT;
    while !workers.iter().all(|w| dead(*w)) {
        assert!(
            std::time::Instant::now() < deadline,
            "workers survived: {workers:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_kamailio_settings_fail_before_starting() {
    for (key, value) in [("WITH_NOPE", "1"), ("nosuchmodule.param", "1")] {
        let mut spec = ManagedSpec::new(ServerKind::Kamailio);
        spec.settings = vec![(key.to_owned(), value.to_owned())];
        let err = ManagedServer::start(&spec).await.expect_err("bad setting");
        assert!(matches!(err, TargetError::Spec(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains(key.split('.').next().unwrap_or(key)),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_config_error_is_reported() {
    require_kamailio!();
    let mut spec = ManagedSpec::new(ServerKind::Kamailio);
    spec.settings = vec![("children".to_owned(), "{ broken".to_owned())];
    let err = ManagedServer::start(&spec)
        .await
        .expect_err("a config Kamailio rejects must not start");
    let TargetError::NotReady { log_tail, .. } = &err else {
        panic!("expected NotReady, got {err:?}");
    };
    // The tail's `==> <dir>/kamailio.log <==` header names the instance dir.
    let dir = log_tail
        .lines()
        .find_map(|l| l.strip_prefix("==> ")?.split("/kamailio.log").next())
        .unwrap_or_else(|| panic!("no log file header in: {err}"));
    assert!(dir.contains("impress-kamailio-"), "{dir}");
    assert!(!Path::new(dir).exists(), "{dir} left after a failed start");
}

// ---- violation target files: each must do what its comment says ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_no_auth_registers_without_challenge() {
    require_kamailio!();
    let server = start_file("kamailio-no-auth.toml").await;
    assert_eq!(server.sip_auth(), Some(false));
    let mut a = Ua::new(&server, "user1").await;
    let r = a.register(None, 60).await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    assert_eq!(register_over_tcp(&server).await.status(), Some(200));
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_no_presence_refuses_subscribe_and_publish() {
    require_kamailio!();
    let server = start_file("kamailio-no-presence.toml").await;
    assert_eq!(server.sip_presence(), Some(false));
    let (r, _) = subscribe(&server, "presence").await;
    assert_eq!(r.status(), Some(489), "{}", r.text);
    let mut p = Ua::new(&server, "user1").await;
    let req = Req::new("PUBLISH", p.aor())
        .header("Event", "presence")
        .body("application/pidf+xml", "<presence/>");
    assert_eq!(p.transact(req, Some(PASSWORD)).await.status(), Some(489));
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_no_fork_delivers_to_one_contact() {
    require_kamailio!();
    let server = start_file("kamailio-no-fork.toml").await;
    let (mut a, mut b, mut c) = two_devices(&server).await;
    let (r, first) = message(&server, &mut a, &mut b, &mut c).await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    // A forking proxy sends every branch before it relays the first answer, so a copy for
    // the other device would already be queued there by now.
    let other = if first == 0 { &b } else { &a };
    assert!(!other.has_pending(), "the other device got a copy too");
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_one_contact_refuses_the_second_device() {
    require_kamailio!();
    let server = start_file("kamailio-one-contact.toml").await;
    let mut a = Ua::new(&server, "user1").await;
    let mut b = Ua::new(&server, "user1").await;
    assert_eq!(a.register(Some(PASSWORD), 300).await.status(), Some(200));
    let r = b.register(Some(PASSWORD), 300).await;
    assert_eq!(r.status(), Some(503), "{}", r.text);
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_min_expires_refuses_short_registrations() {
    require_kamailio!();
    let server = start_file("kamailio-min-expires-7200.toml").await;
    let mut a = Ua::new(&server, "user1").await;
    let r = a.register(Some(PASSWORD), 3600).await;
    assert_eq!(r.status(), Some(423), "{}", r.text);
    assert_eq!(r.header("min-expires"), Some("7200"), "{}", r.text);
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_max_expires_shortens_registrations() {
    require_kamailio!();
    let server = start_file("kamailio-max-expires-30.toml").await;
    let mut a = Ua::new(&server, "user1").await;
    let r = a.register(Some(PASSWORD), 3600).await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let contact = r.header("contact").unwrap_or_default();
    assert!(contact.contains("expires=30"), "{}", r.text);
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_options_reply_lacks_to_tag() {
    require_kamailio!();
    let server = start_file("kamailio-options-no-totag.toml").await;
    let mut u = Ua::new(&server, "user1").await;
    let r = u
        .transact(
            Req::new("OPTIONS", format!("sip:{}", server.domain())),
            None,
        )
        .await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    assert_eq!(tag(r.header("to").unwrap_or_default()), None, "{}", r.text);
    let (mut io, local) = ua::tcp(server.addr()).await;
    let r = options_over(&mut io, local, "TCP", server.domain()).await;
    assert_eq!(
        tag(r.header("to").unwrap_or_default()),
        None,
        "TCP: {}",
        r.text
    );
    drop(io);
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_notify_lacks_subscription_state() {
    require_kamailio!();
    let server = start_file("kamailio-notify-no-substate.toml").await;
    let (r, notify) = subscribe(&server, "presence").await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let notify = notify.expect("initial NOTIFY");
    assert_eq!(notify.header("event"), Some("presence"), "{}", notify.text);
    assert_eq!(notify.header("subscription-state"), None, "{}", notify.text);
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_unknown_event_is_accepted() {
    require_kamailio!();
    let server = start_file("kamailio-unknown-event-200.toml").await;
    let (r, _) = subscribe(&server, "no-such-package").await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    stop_and_check(server).await;
}
