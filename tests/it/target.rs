//! Managed targets against the real servers: start, bulk-provision, log in over raw XMPP,
//! STARTTLS verified against the instance CA, disabled modules, two instances at once, stop
//! and Drop leaving nothing behind. Tests skip (with a message) when a server is not
//! installed; CI installs them with `scripts/install-targets.sh`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use impress::target::{ManagedServer, ManagedSpec, ServerKind};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "s3cret-pw";
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether `program` is on PATH (or in an sbin dir).
fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(program).is_file())
}

fn euid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|r| r.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false)
}

/// `Some(reason)` when `kind` cannot run here, so the test should skip.
fn skip_reason(kind: ServerKind) -> Option<String> {
    let program = match kind {
        ServerKind::Prosody => "prosody",
        ServerKind::Ejabberd => "ejabberdctl",
        ServerKind::Kamailio => "kamailio",
    };
    if !installed(program) {
        return Some(format!(
            "{program} is not installed (run scripts/install-targets.sh)"
        ));
    }
    (kind == ServerKind::Ejabberd && !euid_is_root())
        .then(|| "a managed ejabberd needs root".to_owned())
}

macro_rules! require {
    ($kind:expr) => {
        if let Some(reason) = skip_reason($kind) {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
}

/// Whether anything listens on TCP port `port` (any address), from /proc/net/tcp{,6}.
fn tcp_port_listening(port: u16) -> bool {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3
                    && f[3] == "0A"
                    && f[1]
                        .rsplit_once(':')
                        .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                        == Some(port)
            })
    })
}

/// Asserts that none of `pids` exists any more and `dir` is gone.
fn assert_gone(pids: &[u32], dir: &Path, after: &str) {
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still exists after {after}"
        );
    }
    assert!(!dir.exists(), "{} not removed by {after}", dir.display());
}

/// Stops `server` and checks that its processes and temp dir are gone.
async fn stop_and_check(server: ManagedServer) {
    let (pids, dir) = (server.process_ids(), server.dir().to_owned());
    assert_eq!(pids[0], server.pid(), "the server is listed first");
    let t0 = Instant::now();
    server.stop().await.expect("stop");
    eprintln!("stopped in {:?}", t0.elapsed());
    assert_gone(&pids, &dir, "stop");
}

/// A raw XMPP byte stream with a text buffer of what has been read but not yet consumed.
struct Raw<S> {
    io: S,
    buf: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    async fn send(&mut self, text: &str) {
        self.io.write_all(text.as_bytes()).await.expect("write");
    }

    /// Reads until `done(buffer)`; returns and clears the buffer.
    async fn read_until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut chunk = [0u8; 4096];
        while !done(&self.buf) {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, self.io.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; got: {}", self.buf))
                .expect("read");
            assert!(
                n > 0,
                "connection closed waiting for {what}; got: {}",
                self.buf
            );
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        std::mem::take(&mut self.buf)
    }

    /// Sends a stream header and returns everything up to the end of `<stream:features>`.
    async fn open_stream(&mut self, domain: &str) -> String {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' \
             xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        ))
        .await;
        let got = self
            .read_until("<stream:features>", |b| b.contains("</stream:features>"))
            .await;
        assert!(
            got.contains("<stream:features"),
            "no stream features: {got}"
        );
        got
    }

    /// SASL PLAIN; returns the server's answer (`<success…` or `<failure…`).
    async fn auth_plain(&mut self, user: &str, password: &str) -> String {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        ))
        .await;
        self.read_until("SASL outcome", |b| {
            b.contains("<success") || b.contains("</failure>")
        })
        .await
    }

    /// After SASL success: stream restart and resource binding.
    async fn bind(&mut self, domain: &str) {
        self.open_stream(domain).await;
        self.send(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        )
        .await;
        let got = self
            .read_until("bind result", |b| b.contains("</iq>"))
            .await;
        assert!(got.contains("<jid>"), "bind failed: {got}");
    }

    /// An XEP-0199 ping to `to`; returns the `<iq …>` reply.
    async fn ping(&mut self, to: &str) -> String {
        self.send(&format!(
            "<iq type='get' id='ping1' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
        self.read_until("ping reply", |b| {
            b.contains("ping1") && (b.contains("</iq>") || b.trim_end().ends_with("/>"))
        })
        .await
    }
}

/// Opens a plaintext c2s connection.
async fn connect(addr: SocketAddr) -> Raw<TcpStream> {
    let io = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect timeout")
        .expect("connect");
    Raw {
        io,
        buf: String::new(),
    }
}

fn is_error(stanza: &str) -> bool {
    stanza.contains("type='error'") || stanza.contains("type=\"error\"")
}

/// PLAIN login of `user` over plaintext plus binding; panics unless it works.
async fn login(server: &ManagedServer, user: &str) -> Raw<TcpStream> {
    let mut c = connect(server.addr()).await;
    let features = c.open_stream(server.domain()).await;
    assert!(features.contains("PLAIN"), "PLAIN not offered: {features}");
    let outcome = c.auth_plain(user, PASSWORD).await;
    assert!(
        outcome.contains("<success"),
        "login of {user} failed: {outcome}\n{}",
        server.log_tail(20)
    );
    c.bind(server.domain()).await;
    c
}

/// STARTTLS, verifying the server certificate for the domain against `ca_file()`, then a
/// stream restart over TLS.
async fn starttls_verified(server: &ManagedServer) {
    let mut c = connect(server.addr()).await;
    let features = c.open_stream(server.domain()).await;
    assert!(
        features.contains("<starttls"),
        "STARTTLS not offered: {features}"
    );
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await;
    c.read_until("<proceed/>", |b| b.contains("<proceed")).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.ca_file()).expect("read ca_file") {
        roots.add(cert.expect("parse ca_file")).expect("add CA");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(server.domain().to_owned()).expect("server name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, c.io)
        .await
        .expect("TLS handshake verified against ca_file");
    let mut t = Raw {
        io: tls,
        buf: String::new(),
    };
    let features = t.open_stream(server.domain()).await;
    assert!(
        features.contains("<mechanisms"),
        "no SASL after TLS: {features}"
    );
}

/// The full life cycle for one server kind.
async fn life_cycle(kind: ServerKind) {
    let t0 = Instant::now();
    let server = ManagedServer::start(&ManagedSpec::new(kind))
        .await
        .expect("start");
    eprintln!(
        "{kind}: started in {:?} (pid {}, {})",
        t0.elapsed(),
        server.pid(),
        server.addr()
    );
    assert_eq!(server.kind(), kind);
    assert_eq!(server.muc_domain(), "conference.example.test");
    let t0 = Instant::now();
    server
        .provision("user", 1000, PASSWORD)
        .await
        .expect("provision");
    eprintln!("{kind}: provisioned 1000 users in {:?}", t0.elapsed());

    let mut c = login(&server, "user1000").await;
    let pong = c.ping(server.domain()).await;
    assert!(
        !is_error(&pong),
        "ping failed with mod ping enabled: {pong}"
    );
    login(&server, "user1").await;
    let mut bad = connect(server.addr()).await;
    bad.open_stream(server.domain()).await;
    let outcome = bad.auth_plain("user1001", PASSWORD).await;
    assert!(
        outcome.contains("<failure"),
        "unprovisioned user logged in: {outcome}"
    );
    starttls_verified(&server).await;
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_life_cycle() {
    require!(ServerKind::Prosody);
    life_cycle(ServerKind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_life_cycle() {
    require!(ServerKind::Ejabberd);
    let epmd_before = tcp_port_listening(4369);
    life_cycle(ServerKind::Ejabberd).await;
    if !epmd_before {
        assert!(
            !tcp_port_listening(4369),
            "something now listens on port 4369 (a global epmd?)"
        );
    }
}

/// Starts `spec`, provisions one user, and returns the reply to a ping of the domain.
async fn ping_reply(spec: &ManagedSpec) -> String {
    let server = ManagedServer::start(spec).await.expect("start");
    server
        .provision("user", 1, PASSWORD)
        .await
        .expect("provision");
    let mut c = login(&server, "user1").await;
    let reply = c.ping(server.domain()).await;
    stop_and_check(server).await;
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_disabled_module_takes_effect() {
    require!(ServerKind::Prosody);
    let mut spec = ManagedSpec::new(ServerKind::Prosody);
    spec.disable_modules = vec!["ping".to_owned()];
    let reply = ping_reply(&spec).await;
    assert!(
        is_error(&reply),
        "ping answered although mod_ping is disabled: {reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_disabled_module_takes_effect() {
    require!(ServerKind::Ejabberd);
    let epmd_before = tcp_port_listening(4369);
    let mut spec = ManagedSpec::new(ServerKind::Ejabberd);
    spec.disable_modules = vec!["mod_ping".to_owned()];
    spec.domain = "other.test".to_owned();
    let reply = ping_reply(&spec).await;
    assert!(
        is_error(&reply),
        "ping answered although mod_ping is disabled: {reply}"
    );
    if !epmd_before {
        assert!(
            !tcp_port_listening(4369),
            "something now listens on port 4369 (a global epmd?)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prosody_instances_run_at_once() {
    require!(ServerKind::Prosody);
    let spec = ManagedSpec::new(ServerKind::Prosody);
    let (a, b) = tokio::join!(ManagedServer::start(&spec), ManagedServer::start(&spec));
    let (a, b) = (a.expect("start a"), b.expect("start b"));
    assert_ne!(a.addr(), b.addr());
    assert_ne!(a.pid(), b.pid());
    assert_ne!(a.dir(), b.dir());
    // Accounts are per instance: a user provisioned on `a` only exists there.
    a.provision("alice", 1, PASSWORD)
        .await
        .expect("provision a");
    b.provision("bob", 1, PASSWORD).await.expect("provision b");
    login(&a, "alice1").await;
    login(&b, "bob1").await;
    let mut c = connect(b.addr()).await;
    c.open_stream(b.domain()).await;
    assert!(c.auth_plain("alice1", PASSWORD).await.contains("<failure"));
    stop_and_check(a).await;
    stop_and_check(b).await;
}

/// What a panicking test does: no stop(), just drop.
async fn drop_and_check(kind: ServerKind) {
    let server = ManagedServer::start(&ManagedSpec::new(kind))
        .await
        .expect("start");
    let (pids, dir) = (server.process_ids(), server.dir().to_owned());
    let t0 = Instant::now();
    drop(server);
    eprintln!("{kind}: dropped in {:?}", t0.elapsed());
    assert_gone(&pids, &dir, "Drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_prosody_stops_it() {
    require!(ServerKind::Prosody);
    drop_and_check(ServerKind::Prosody).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_ejabberd_stops_it() {
    require!(ServerKind::Ejabberd);
    drop_and_check(ServerKind::Ejabberd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_change_the_config() {
    require!(ServerKind::Prosody);
    let mut spec = ManagedSpec::new(ServerKind::Prosody);
    // Violates the 256 KiB requirement on purpose: the server must now reject a big stanza.
    spec.settings = vec![("c2s_stanza_size_limit".to_owned(), "4096".to_owned())];
    let server = ManagedServer::start(&spec).await.expect("start");
    server
        .provision("user", 1, PASSWORD)
        .await
        .expect("provision");
    let mut c = login(&server, "user1").await;
    let body = "x".repeat(8192);
    c.send(&format!(
        "<message to='user1@{}'><body>{body}</body></message>",
        server.domain()
    ))
    .await;
    let got = c
        .read_until("stream error", |b| {
            b.contains("</stream:stream>") || b.contains("policy-violation")
        })
        .await;
    assert!(
        got.contains("policy-violation"),
        "oversized stanza not rejected: {got}"
    );
    stop_and_check(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_fail_before_starting() {
    let mut spec = ManagedSpec::new(ServerKind::Ejabberd);
    spec.disable_modules = vec!["ping".to_owned()];
    let err = ManagedServer::start(&spec)
        .await
        .expect_err("unknown ejabberd module");
    assert!(err.to_string().contains("mod_ping"), "{err}");
    let mut spec = ManagedSpec::new(ServerKind::Prosody);
    spec.domain = "Not A Domain".to_owned();
    assert!(ManagedServer::start(&spec).await.is_err());
}

/// A config the server rejects must fail `start` with its log, leaving nothing behind.
async fn broken_config_fails(kind: ServerKind, setting: (&str, &str)) {
    let mut spec = ManagedSpec::new(kind);
    spec.settings = vec![(setting.0.to_owned(), setting.1.to_owned())];
    let err = ManagedServer::start(&spec)
        .await
        .expect_err("broken config must not start");
    eprintln!("{kind}: {err}");
    let impress::target::TargetError::NotReady { log_tail, .. } = &err else {
        panic!("expected NotReady, got {err:?}");
    };
    // The tail's `==> <dir>/console.log <==` headers name the instance dir.
    let dir = log_tail
        .lines()
        .find_map(|l| l.strip_prefix("==> ")?.split("/console.log").next())
        .unwrap_or_else(|| panic!("no log file header in: {err}"));
    assert!(dir.contains(&format!("impress-{kind}-")), "{dir}");
    assert!(
        !Path::new(dir).exists(),
        "{dir} left behind after a failed start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_config_error_is_reported() {
    require!(ServerKind::Prosody);
    broken_config_fails(ServerKind::Prosody, ("broken", "{ unclosed")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_config_error_is_reported() {
    require!(ServerKind::Ejabberd);
    broken_config_fails(ServerKind::Ejabberd, ("no_such_option", "42")).await;
}
