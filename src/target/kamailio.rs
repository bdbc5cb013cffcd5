//! Managed Kamailio 5.6: a SIP registrar, location service, presence server (SUBSCRIBE,
//! NOTIFY, PUBLISH for `presence`) and MESSAGE proxy forking to every registered contact, from
//! `fixtures/targets/kamailio/kamailio.cfg` (targets.md §5.1). One free loopback port serves
//! UDP and TCP, another TLS (when the tls module is installed) with the run's own certificate.
//! Digest authentication checks the `subscriber` table of an SQLite database in the instance
//! dir, which impress creates and fills with the `sqlite3` CLI (10 000 accounts in ~0.3 s).
//!
//! Started as `kamailio -f <dir>/kamailio.cfg -DD -E …` (via `setpriv` as the `kamailio` user
//! when we are root, which execs, so the spawned PID is Kamailio's main process; it forks the
//! workers). Ready when a child of it owns the TCP (and TLS) LISTEN sockets — the `tcp main`
//! process, which Kamailio forks last, so every worker exists by then — and an OPTIONS over
//! UDP is answered.

mod config;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::process::{self, ProcessSet, SystemUser, io_err};
use super::{
    Backend, ManagedServer, ManagedSpec, ServerKind, TargetError, Workspace, loopback, write_file,
};

/// Kamailio answers within ~0.1 s; this only bounds a hung start (generously: on a loaded
/// 2-core machine forking and initialising its ~14 processes has taken over 20 s).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Kamailio stops its workers and exits within ~2 s of SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// A worker exits at once on SIGTERM.
const WORKER_GRACE: Duration = Duration::from_secs(2);
/// Bounds one `sqlite3` run (schema creation or provisioning; it waits up to 10 s for locks).
const SQL_TIMEOUT: Duration = Duration::from_secs(120);
/// Where `kamailio-sqlite-modules` ships the table definitions matching its modules.
const SCHEMA_DIR: &str = "/usr/share/kamailio/db_sqlite";
/// The tables the config uses: `version`, `subscriber` (auth_db), presence's.
const SCHEMAS: [&str; 3] = [
    "standard-create.sql",
    "auth_db-create.sql",
    "presence-create.sql",
];
/// Shared and per-process memory of the instance, MiB (`-m`, `-M`): room for tens of
/// thousands of registrations and subscriptions.
const SHM_MB: &str = "256";
const PKG_MB: &str = "16";

/// Where a managed Kamailio listens, all on 127.0.0.1. UDP and TCP share one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipEndpoints {
    /// SIP over UDP.
    pub udp: SocketAddr,
    /// SIP over TCP (the same port as UDP).
    pub tcp: SocketAddr,
    /// SIP over TLS, with a certificate for the domain signed by the instance CA
    /// ([`ManagedServer::ca_file`]); `None` when the tls module is not installed or the target
    /// file switched TLS off.
    pub tls: Option<SocketAddr>,
}

/// Kamailio-specific state of a running instance.
#[derive(Debug)]
pub(super) struct Kamailio {
    endpoints: SipEndpoints,
    /// The SQLite database (`subscriber`, presence tables).
    db: PathBuf,
    sqlite3: PathBuf,
    /// The user `sqlite3` runs as, so files it creates stay the server's (when we are root).
    run_as: Option<SystemUser>,
    /// Whether REGISTER and out-of-dialog requests are challenged.
    auth: bool,
    /// Whether SUBSCRIBE/PUBLISH are served.
    presence: bool,
}

impl ManagedServer {
    /// The SIP listeners of a managed Kamailio; `None` for the XMPP servers.
    /// [`addr`](Self::addr) is the UDP/TCP address.
    pub fn sip(&self) -> Option<SipEndpoints> {
        match &self.backend {
            Backend::Kamailio(k) => Some(k.endpoints),
            _ => None,
        }
    }

    /// Whether a managed Kamailio challenges requests with digest authentication (on unless
    /// the target file switched `WITH_AUTH` off); `None` for the XMPP servers.
    pub fn sip_auth(&self) -> Option<bool> {
        match &self.backend {
            Backend::Kamailio(k) => Some(k.auth),
            _ => None,
        }
    }

    /// Whether a managed Kamailio serves presence (SUBSCRIBE/PUBLISH); `None` for the XMPP
    /// servers.
    pub fn sip_presence(&self) -> Option<bool> {
        match &self.backend {
            Backend::Kamailio(k) => Some(k.presence),
            _ => None,
        }
    }
}

/// Starts Kamailio for `spec` and waits until it serves SIP.
pub(super) async fn start(spec: &ManagedSpec) -> Result<ManagedServer, TargetError> {
    let mut opts = config::Options::from_spec(spec)?;
    let program = process::find_program("kamailio")?;
    let sqlite3 = process::find_program("sqlite3")?;
    if process::is_root() {
        process::find_program("setpriv")?;
    }
    check_modules(&program, &mut opts)?;
    let ws = Workspace::create(spec, "kamailio")?;
    let dir = ws.dir.path().to_owned();
    let endpoints = prepare(spec, &opts, &ws, &sqlite3).await?;

    let mut cmd = match &ws.run_as {
        Some(user) => user.command(&program.to_string_lossy()),
        None => Command::new(&program),
    };
    cmd.arg("-f").arg(dir.join("kamailio.cfg"));
    cmd.arg("-P").arg(dir.join("kamailio.pid"));
    cmd.arg("-Y").arg(&dir).arg("-w").arg(&dir);
    // -DD: stay in the foreground (the PID we spawn is the main process); -E: log to stderr.
    cmd.args(["-DD", "-E", "-m", SHM_MB, "-M", PKG_MB]);
    let log = dir.join("kamailio.log");
    let child = process::spawn(cmd, "kamailio", &log, &dir)?;
    let pid = child.id();
    let mut boot = Booting {
        procs: ProcessSet::default(),
        pid,
        done: false,
    };
    boot.procs.push_child("kamailio", child, STOP_GRACE);
    let log_files = vec![log];
    wait_ready(&mut boot.procs, pid, spec, &endpoints, &log_files).await?;
    let procs = boot.ready();
    Ok(ManagedServer {
        kind: ServerKind::Kamailio,
        domain: spec.domain.clone(),
        addr: endpoints.udp,
        ca_file: ws.ca_file,
        pid,
        log_files,
        backend: Backend::Kamailio(Kamailio {
            endpoints,
            db: dir.join("kamailio.sqlite"),
            sqlite3,
            run_as: ws.run_as,
            auth: opts.is_on("WITH_AUTH"),
            presence: opts.is_on("WITH_PRESENCE"),
        }),
        procs,
        dir: ws.dir,
    })
}

/// The processes of a Kamailio that is starting. Stopping it then needs care: its main process
/// keeps forking workers until start-up is complete, and a worker forked after the stop looked
/// for them would live on, orphaned, holding the ports (and spinning on locks its dead
/// siblings held). So when a start fails or is abandoned, dropping this freezes the main
/// process (SIGSTOP), tracks every worker by PID, and kills the main process before
/// [`ProcessSet`] stops the rest.
struct Booting {
    procs: ProcessSet,
    pid: u32,
    done: bool,
}

impl Booting {
    /// Start-up is complete: every worker exists. They are tracked by PID as well, stopped
    /// after the main process (which normally stops them), so that they still die if the main
    /// process dies first or an abort SIGKILLs only the listed PIDs (`kill_now`).
    fn ready(mut self) -> ProcessSet {
        self.done = true;
        let mut procs = std::mem::take(&mut self.procs);
        track_workers(&mut procs, self.pid);
        procs
    }
}

impl Drop for Booting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = process::send_signal(self.pid, libc::SIGSTOP);
        // The signal takes effect when the process next leaves the kernel (a fork in flight
        // completes first): wait until it shows as stopped, or is gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while process::pid_alive(self.pid)
            && !stopped(self.pid)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        track_workers(&mut self.procs, self.pid);
        let _ = process::send_signal(self.pid, libc::SIGKILL);
        // `procs` drops next and stops the workers by PID.
    }
}

/// Whether `pid` is stopped (state `T`).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('T'))
    })
}

/// Adds every live descendant of `pid` not yet tracked, to be stopped last.
fn track_workers(procs: &mut ProcessSet, pid: u32) {
    let known = procs.pids();
    for worker in process::descendants(pid) {
        if !known.contains(&worker) {
            procs.push_pid_stopped_last("kamailio worker", worker, WORKER_GRACE);
        }
    }
}

/// Every module the config loads must be installed; TLS is left out (unless asked for) when
/// its module is missing.
fn check_modules(program: &Path, opts: &mut config::Options) -> Result<(), TargetError> {
    let dirs = module_dirs(program)?;
    let installed = |m: &str| dirs.iter().any(|d| d.join(format!("{m}.so")).is_file());
    if opts.tls() && !installed("tls") {
        opts.drop_tls()?;
        tracing::info!("the Kamailio tls module is not installed: no TLS listener");
    }
    match opts.loaded_modules().into_iter().find(|m| !installed(m)) {
        Some(m) => Err(TargetError::NotInstalled {
            program: format!(
                "Kamailio module {m}.so (Debian package {})",
                config::package_of(&m)
            ),
        }),
        None => Ok(()),
    }
}

/// Kamailio's compiled-in module directories, from `kamailio -I`.
fn module_dirs(program: &Path) -> Result<Vec<PathBuf>, TargetError> {
    let out = Command::new(program)
        .arg("-I")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| TargetError::Spawn {
            program: "kamailio -I".into(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let dirs: Vec<PathBuf> = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Default paths to modules:"))
        .map(|paths| paths.split(':').map(|p| PathBuf::from(p.trim())).collect())
        .unwrap_or_default();
    if dirs.is_empty() {
        return Err(TargetError::Environment(format!(
            "`kamailio -I` names no module directory ({}): {}",
            out.status,
            text.trim()
        )));
    }
    Ok(dirs)
}

/// Fills the workspace: ports, database, certificate, config, ownership.
async fn prepare(
    spec: &ManagedSpec,
    opts: &config::Options,
    ws: &Workspace,
    sqlite3: &Path,
) -> Result<SipEndpoints, TargetError> {
    let dir = ws.dir.path();
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs)
        .map_err(|e| io_err(format!("creating {}", certs.display()), e))?;
    ws.pki.write_prosody(&certs, &spec.domain)?;
    let sip_port = free_sip_port()?;
    let tls_port = process::free_ports(1)?[0];
    write_file(
        &dir.join("kamailio.cfg"),
        &opts.render(&spec.domain, dir, sip_port, tls_port),
    )?;
    create_db(sqlite3, &dir.join("kamailio.sqlite")).await?;
    if let Some(user) = &ws.run_as {
        user.chown_tree(dir)?;
    }
    let udp = SocketAddr::from(loopback(sip_port));
    Ok(SipEndpoints {
        udp,
        tcp: udp,
        tls: opts.tls().then(|| loopback(tls_port).into()),
    })
}

/// A loopback port free for both TCP and UDP (SIP serves both on one port).
fn free_sip_port() -> Result<u16, TargetError> {
    for _ in 0..100 {
        let port = process::free_ports(1)?[0];
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io_err(
        "finding a loopback port free for both TCP and UDP",
        io::Error::other("every candidate port was taken for UDP"),
    ))
}

/// Creates the database from the package's table definitions, in WAL mode so that
/// provisioning (another process) never blocks Kamailio's reads.
async fn create_db(sqlite3: &Path, db: &Path) -> Result<(), TargetError> {
    let mut sql = String::new();
    for name in SCHEMAS {
        let path = Path::new(SCHEMA_DIR).join(name);
        let text = std::fs::read_to_string(&path).map_err(|_| TargetError::NotInstalled {
            program: format!(
                "{} (Debian package kamailio-sqlite-modules)",
                path.display()
            ),
        })?;
        sql.push_str(&text);
        sql.push('\n');
    }
    sql.push_str("PRAGMA journal_mode=WAL;\n");
    run_sql(sqlite3, db, None, sql)
        .await
        .map_err(|e| TargetError::Environment(format!("creating the Kamailio database: {e}")))
}

/// Runs `sql` through `sqlite3 -bail` on `db` (as `run_as` when given). The SQL goes in on
/// stdin, so a password in it never shows in `ps`.
async fn run_sql(
    sqlite3: &Path,
    db: &Path,
    run_as: Option<&SystemUser>,
    sql: String,
) -> Result<(), String> {
    let program = sqlite3.to_string_lossy();
    let mut cmd = match run_as {
        Some(user) => user.command(&program),
        None => Command::new(program.as_ref()),
    };
    // -init /dev/null: a ~/.sqliterc must not change what the script does.
    cmd.args(["-bail", "-batch", "-init", "/dev/null"]).arg(db);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let run = async {
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not run sqlite3: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(sql.as_bytes())
                .await
                .map_err(|e| format!("writing to sqlite3: {e}"))?;
        }
        child
            .wait_with_output()
            .await
            .map_err(|e| format!("waiting for sqlite3: {e}"))
    };
    let out = tokio::time::timeout(SQL_TIMEOUT, run)
        .await
        .map_err(|_| format!("sqlite3 did not finish within {SQL_TIMEOUT:?}"))??;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "sqlite3 failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Waits until processes of ours own the TCP (and TLS) LISTEN sockets and a worker answers
/// an OPTIONS over UDP; fails at once if Kamailio exits.
async fn wait_ready(
    procs: &mut ProcessSet,
    pid: u32,
    spec: &ManagedSpec,
    ep: &SipEndpoints,
    logs: &[PathBuf],
) -> Result<(), TargetError> {
    let listeners: Vec<SocketAddrV4> = [Some(ep.tcp), ep.tls]
        .into_iter()
        .flatten()
        .filter_map(|a| match a {
            SocketAddr::V4(v4) => Some(v4),
            SocketAddr::V6(_) => None,
        })
        .collect();
    let mut probe = OptionsProbe::new(ep.udp, &spec.domain)?;
    let mut listening = false;
    let ready = process::wait_for(READY_TIMEOUT, || {
        if let Some(status) = procs.exit_status(pid) {
            return Err(TargetError::NotReady {
                what: format!("kamailio (pid {pid}) exited ({status}) before serving SIP"),
                log_tail: process::tail_files(logs, 40),
            });
        }
        listening = listening || listeners.iter().all(|&a| owned_by_child(pid, a));
        if !listening {
            return Ok(None);
        }
        probe
            .poll()
            .map_err(|e| io_err("probing Kamailio with OPTIONS", e))
    })
    .await?;
    ready.ok_or_else(|| TargetError::NotReady {
        what: format!(
            "kamailio (pid {pid}) did not {} within {READY_TIMEOUT:?}",
            if listening {
                format!("answer an OPTIONS on udp {}", ep.udp)
            } else {
                format!("listen on {listeners:?}")
            }
        ),
        log_tail: process::tail_files(logs, 40),
    })
}

/// Whether a descendant of `pid` owns a LISTEN socket on `addr`. The main process opens the
/// TCP listeners early and hands them to its `tcp main` child, which it forks after every
/// other process: a child owning them means start-up is complete.
fn owned_by_child(pid: u32, addr: SocketAddrV4) -> bool {
    process::descendants(pid)
        .into_iter()
        .any(|p| process::owns_listen_socket(p, addr))
}

/// A non-blocking UDP socket that sends OPTIONS to the server now and then and reports the
/// first response.
struct OptionsProbe {
    socket: UdpSocket,
    request: Vec<u8>,
    polls: u32,
}

impl OptionsProbe {
    fn new(server: SocketAddr, domain: &str) -> Result<Self, TargetError> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.connect(server).map(|()| s))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|e| io_err("opening the OPTIONS probe socket", e))?;
        let local = socket
            .local_addr()
            .map_err(|e| io_err("reading the probe's address", e))?;
        let request = format!(
            "OPTIONS sip:{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-impress-ready;rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:impress-ready@{domain}>;tag=impress-ready\r\n\
             To: <sip:{server}>\r\n\
             Call-ID: impress-ready-{local}\r\n\
             CSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        );
        Ok(Self {
            socket,
            request: request.into_bytes(),
            polls: 0,
        })
    }

    /// Resends every 10th poll (UDP may be dropped while workers start); `Some` once any
    /// SIP response came back.
    fn poll(&mut self) -> io::Result<Option<()>> {
        if self.polls.is_multiple_of(10) {
            match self.socket.send(&self.request) {
                Ok(_) => {}
                // Nothing bound yet (ICMP port unreachable) or the buffer is full: next time.
                Err(e) if transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        self.polls += 1;
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => Ok(buf[..n].starts_with(b"SIP/2.0 ").then_some(())),
            Err(e) if transient(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted
    )
}

impl Kamailio {
    /// Inserts (or replaces) `subscriber` rows `<prefix>1` … `<prefix><count>` of the domain,
    /// all with `password`, in one transaction. Kamailio reads the table on every
    /// authentication, so a running server sees them at once.
    pub(super) async fn provision(
        &self,
        server: &ManagedServer,
        prefix: &str,
        count: usize,
        password: &str,
    ) -> Result<(), TargetError> {
        let sql = provision_sql(prefix, server.domain(), count, password);
        run_sql(&self.sqlite3, &self.db, self.run_as.as_ref(), sql)
            .await
            .map_err(TargetError::Provision)
    }
}

/// The SQL that provisions the accounts. `prefix` and `domain` are validated plain names; the
/// password is a quoted SQL literal.
fn provision_sql(prefix: &str, domain: &str, count: usize, password: &str) -> String {
    let password = password.replace('\'', "''");
    format!(
        ".timeout 10000\n\
         BEGIN;\n\
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})\n\
         INSERT OR REPLACE INTO subscriber (username, domain, password)\n\
         SELECT '{prefix}' || i, '{domain}', '{password}' FROM n;\n\
         COMMIT;\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_sql_quotes_the_password() {
        let sql = provision_sql("user", "example.test", 3, "it's");
        assert!(sql.contains("WHERE i < 3)"), "{sql}");
        assert!(
            sql.contains("SELECT 'user' || i, 'example.test', 'it''s' FROM n;"),
            "{sql}"
        );
        assert!(sql.starts_with(".timeout 10000\nBEGIN;\n") && sql.ends_with("COMMIT;\n"));
    }

    #[test]
    fn sip_port_is_free_for_udp_and_tcp() {
        let port = free_sip_port().unwrap();
        UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}
