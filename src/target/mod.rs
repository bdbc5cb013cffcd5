//! Managed targets: real XMPP servers (Prosody 0.12, ejabberd 23.01) and a real SIP server
//! (Kamailio 5.6, see [`SipEndpoints`] and [`ManagedServer::sip`]) started for a test run.
//!
//! [`ManagedServer::start`] renders the server's config from the templates in
//! `fixtures/targets/<server>/` (compiled in, so the binary works from anywhere) into a fresh
//! temp dir, picks free loopback ports, mints a test CA and server certificate, starts the
//! server unprivileged (as its Debian system user when we are root), and waits until *the
//! PID we started* owns the LISTEN socket — a leftover server on the port does not count.
//! [`ManagedServer::provision`] creates accounts in bulk without going through the server's
//! slow paths. [`ManagedServer::stop`] (or dropping the value) stops every process by PID and
//! removes the temp dir.
//!
//! Requirements: Linux (`/proc`), the Debian packages (`scripts/install-targets.sh`), and for
//! ejabberd root (its `ejabberdctl` only runs as root or as the `ejabberd` user).

mod certs;
mod cluster;
mod deployment;
mod ejabberd;
mod kamailio;
mod node;
mod process;
mod prosody;

pub use self::deployment::{Deployment, Layout, federation_domains, layout_domains};
pub use self::kamailio::SipEndpoints;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use self::process::{ProcessSet, SystemUser, io_err};

/// Which server a managed target runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Prosody 0.12 (Debian `prosody`).
    Prosody,
    /// ejabberd 23.01 (Debian `ejabberd`).
    Ejabberd,
    /// Kamailio 5.6 (Debian `kamailio`): SIP registrar, presence and MESSAGE proxy.
    Kamailio,
}

impl ServerKind {
    /// The lowercase name used in target files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Prosody => "prosody",
            Self::Ejabberd => "ejabberd",
            Self::Kamailio => "kamailio",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServerKind {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "prosody" => Ok(Self::Prosody),
            "ejabberd" => Ok(Self::Ejabberd),
            "kamailio" => Ok(Self::Kamailio),
            other => Err(TargetError::Spec(format!(
                "unknown server kind `{other}` (expected `prosody`, `ejabberd` or `kamailio`)"
            ))),
        }
    }
}

/// What to start: the server, its domain and deviations from the default config.
#[derive(Debug, Clone)]
pub struct ManagedSpec {
    /// Which server.
    pub kind: ServerKind,
    /// The XMPP domain (default `example.test`); MUC runs on `conference.<domain>`.
    pub domain: String,
    /// Modules to switch off, in the server's own names: Prosody `"ping"`, ejabberd
    /// `"mod_ping"`.
    pub disable_modules: Vec<String>,
    /// Extra global config lines in the server's own syntax: Prosody `key = value`, ejabberd
    /// top-level `key: value` (replacing the template's block of that key). For ejabberd a key
    /// `c2s.<option>` sets an option of the c2s listener instead (e.g. `c2s.max_stanza_size`),
    /// and `<module>.<option>` an option of that module (e.g. `mod_stream_mgmt.resume_timeout`).
    pub settings: Vec<(String, String)>,
}

impl ManagedSpec {
    /// The default spec for `kind`: domain `example.test`, stock modules, no extra settings.
    pub fn new(kind: ServerKind) -> Self {
        Self {
            kind,
            domain: "example.test".to_owned(),
            disable_modules: Vec::new(),
            settings: Vec::new(),
        }
    }

    /// Rejects values that would break the rendered config (the caller's fault).
    fn validate(&self) -> Result<(), TargetError> {
        let d = &self.domain;
        let label_ok = |l: &str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-');
        let domain_ok = d.len() <= 253
            && d.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && d.split('.').all(label_ok);
        if !domain_ok {
            return Err(TargetError::Spec(format!(
                "domain `{d}` is not a lowercase DNS name (letters, digits, `-`, `.`)"
            )));
        }
        for m in &self.disable_modules {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(TargetError::Spec(format!(
                    "module name `{m}` is not a plain identifier"
                )));
            }
        }
        for (key, value) in &self.settings {
            let key_ok = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
            if !key_ok || value.trim().is_empty() {
                return Err(TargetError::Spec(format!(
                    "setting `{key}` = `{value}` is not `identifier = value`"
                )));
            }
        }
        Ok(())
    }
}

/// Why a managed target could not be started, provisioned or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A program or system user the target needs is missing (the machine's setup).
    #[error(
        "{program} is not installed: run scripts/install-targets.sh (as root) to install the managed target servers"
    )]
    NotInstalled {
        /// The missing program or user.
        program: String,
    },
    /// The spec or an argument is invalid (the caller's fault).
    #[error("invalid managed target request: {0}")]
    Spec(String),
    /// The machine cannot host the target as asked (e.g. not root, untraversable temp dir).
    #[error("this environment cannot run the managed target: {0}")]
    Environment(String),
    /// A process could not be spawned at all.
    #[error("could not start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server did not come up (it exited, or never listened in time); the server's fault
    /// or its config's — the log tail says which.
    #[error("{what}\n--- server log tail ---\n{log_tail}")]
    NotReady {
        /// What was awaited and what happened instead.
        what: String,
        /// The last lines of the server's logs.
        log_tail: String,
    },
    /// Creating accounts failed (the server or its tooling misbehaved).
    #[error("provisioning accounts failed: {0}")]
    Provision(String),
    /// Some process survived SIGKILL or the temp dir could not be removed.
    #[error("stopping the managed target failed: {0}")]
    Stop(String),
    /// Generating the test certificates failed (a bug in impress or rcgen).
    #[error("generating the test certificates failed: {0}")]
    Cert(String),
    /// A file-system or socket operation failed (the environment's fault).
    #[error("managed target i/o failed while {context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Server-specific state of a running instance.
#[derive(Debug)]
enum Backend {
    Prosody(prosody::Prosody),
    Ejabberd(ejabberd::Ejabberd),
    Kamailio(kamailio::Kamailio),
}

/// A running managed server. Stop it with [`stop`](Self::stop); dropping it also stops it
/// (synchronously, best effort) and removes its temp dir.
#[derive(Debug)]
pub struct ManagedServer {
    kind: ServerKind,
    domain: String,
    addr: SocketAddr,
    ca_file: PathBuf,
    /// The server process (Prosody itself; `beam.smp` for ejabberd).
    pid: u32,
    log_files: Vec<PathBuf>,
    backend: Backend,
    /// Declared before `dir`: fields drop in order, so processes die before files vanish.
    procs: ProcessSet,
    dir: tempfile::TempDir,
}

/// What every backend starts from: an empty temp dir, the test PKI and the CA file in it.
struct Workspace {
    dir: tempfile::TempDir,
    pki: certs::TestPki,
    ca_file: PathBuf,
    /// The system user the server runs as, when we are root.
    run_as: Option<SystemUser>,
}

impl Workspace {
    /// Creates a world-traversable temp dir (the server runs as another user) and the PKI.
    fn create(spec: &ManagedSpec, system_user: &str) -> Result<Self, TargetError> {
        Self::create_with(spec, system_user, None)
    }

    /// Like [`create`](Self::create), with the PKI `pki` (shared by a deployment's nodes)
    /// instead of a new one when given.
    fn create_with(
        spec: &ManagedSpec,
        system_user: &str,
        pki: Option<&certs::TestPki>,
    ) -> Result<Self, TargetError> {
        use std::os::unix::fs::PermissionsExt;
        let run_as = process::is_root()
            .then(|| SystemUser::lookup(system_user))
            .transpose()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("impress-{}-", spec.kind.name()))
            .tempdir()
            .map_err(|e| io_err("creating the instance temp dir", e))?;
        // The path goes into Lua, YAML and shell files unquoted: allow plain characters only.
        let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-');
        if !dir
            .path()
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .all(|&b| plain(b))
        {
            return Err(TargetError::Environment(format!(
                "the temp dir {} has characters unsafe in server configs: set TMPDIR to a plain path",
                dir.path().display()
            )));
        }
        if run_as.is_some() {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| io_err("making the instance temp dir traversable", e))?;
            process::check_traversable(dir.path(), system_user)?;
        }
        let pki = match pki {
            Some(p) => p.clone(),
            None => certs::TestPki::generate(&spec.domain)?,
        };
        let ca_file = pki.write_ca(dir.path())?;
        Ok(Self {
            dir,
            pki,
            ca_file,
            run_as,
        })
    }
}

/// Replaces every `@KEY@` of `vars` in `template`.
fn render(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_owned(), |text, (key, value)| {
        text.replace(&format!("@{key}@"), value)
    })
}

/// Writes a rendered config file.
fn write_file(path: &Path, text: &str) -> Result<(), TargetError> {
    std::fs::write(path, text).map_err(|e| io_err(format!("writing {}", path.display()), e))
}

/// Kills processes (a managed instance's [`ManagedServer::process_ids`]) with SIGKILL at
/// once, for an abort that cannot wait for [`ManagedServer::stop`]; errors (a process
/// already gone) are ignored and the temp dir stays behind.
pub fn kill_now(pids: &[u32]) {
    for &pid in pids {
        let _ = process::send_signal(pid, libc::SIGKILL);
    }
}

impl ManagedServer {
    /// Starts a server as `spec` says and waits until it listens (Prosody: well under 1 s;
    /// ejabberd: 2–5 s).
    pub async fn start(spec: &ManagedSpec) -> Result<Self, TargetError> {
        Self::start_node(spec, &node::NodeOpts::default()).await
    }

    /// Starts one node of a deployment (`opts`: shared PKI, cluster, federation).
    pub(crate) async fn start_node(
        spec: &ManagedSpec,
        opts: &node::NodeOpts,
    ) -> Result<Self, TargetError> {
        spec.validate()?;
        let t0 = Instant::now();
        let server = match spec.kind {
            ServerKind::Prosody => prosody::start(spec, opts).await?,
            ServerKind::Ejabberd => ejabberd::start(spec, opts).await?,
            ServerKind::Kamailio => kamailio::start(spec).await?,
        };
        tracing::info!(
            kind = %server.kind, pid = server.pid, addr = %server.addr, dir = %server.dir().display(),
            elapsed_ms = t0.elapsed().as_millis() as u64, "managed target ready"
        );
        Ok(server)
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The XMPP domain served (for Kamailio: the SIP domain, `sip:user1@<domain>`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The MUC service's domain.
    pub fn muc_domain(&self) -> String {
        format!("conference.{}", self.domain)
    }

    /// The c2s address (`127.0.0.1:<port>`): plaintext with STARTTLS offered. For Kamailio
    /// the SIP address, UDP and TCP alike ([`sip`](Self::sip) has TLS too).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate; clients verify TLS against it.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The server's OS process id (`beam.smp` for ejabberd).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the server process still runs (exited or zombie: no).
    pub fn is_running(&self) -> bool {
        process::pid_alive(self.pid)
    }

    /// Every process impress started for this instance, in stop order (the server first;
    /// for ejabberd also the `ejabberdctl` wrapper and the private `epmd`; for Kamailio its
    /// worker processes).
    pub fn process_ids(&self) -> Vec<u32> {
        self.procs.pids()
    }

    /// The instance's temp dir (config, data, logs); removed at stop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of each of the server's logs, `tail`-style with file headers.
    pub fn log_tail(&self, lines: usize) -> String {
        process::tail_files(&self.log_files, lines)
    }

    /// Creates (or resets) accounts `<prefix>1` … `<prefix><count>`, all with `password`.
    /// Fast: 1000 accounts take 0.1–1.5 s on either server (file creation and the Erlang
    /// control node dominate). The prefix must be lowercase (`a-z 0-9 . _ -`) because
    /// servers store nodeprep'd names; the password is stored un-SASLprep'd, so keep it
    /// printable ASCII. On Kamailio these are `subscriber` rows: SIP digest user name
    /// `<prefix><n>`, realm = the domain, address-of-record `sip:<prefix><n>@<domain>`.
    pub async fn provision(
        &self,
        prefix: &str,
        count: usize,
        password: &str,
    ) -> Result<(), TargetError> {
        let prefix_ok = !prefix.is_empty()
            && prefix.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if !prefix_ok {
            return Err(TargetError::Spec(format!(
                "account prefix `{prefix}` must be non-empty lowercase `a-z 0-9 . _ -`"
            )));
        }
        if password.is_empty() || password.chars().any(char::is_control) {
            return Err(TargetError::Spec(
                "the password must be non-empty without control characters".into(),
            ));
        }
        if count == 0 {
            return Ok(());
        }
        let t0 = Instant::now();
        match &self.backend {
            Backend::Prosody(p) => p.provision(self, prefix, count, password).await?,
            Backend::Ejabberd(e) => e.provision(self, prefix, count, password).await?,
            Backend::Kamailio(k) => k.provision(self, prefix, count, password).await?,
        }
        tracing::info!(kind = %self.kind, count, elapsed_ms = t0.elapsed().as_millis() as u64, "accounts provisioned");
        Ok(())
    }

    /// Stops every process of the instance by PID (SIGTERM, then SIGKILL after a timeout)
    /// and removes the temp dir.
    pub async fn stop(self) -> Result<(), TargetError> {
        let Self {
            kind,
            mut procs,
            dir,
            ..
        } = self;
        let t0 = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let killed = procs.shutdown();
            let path = dir.path().to_owned();
            let removed = dir.close();
            (killed, removed, path)
        })
        .await
        .map_err(|e| TargetError::Stop(format!("the stop task failed: {e}")))?;
        let (killed, removed, path) = outcome;
        killed.map_err(|left| TargetError::Stop(format!("left running: {}", left.join(", "))))?;
        removed.map_err(|e| TargetError::Stop(format!("removing {}: {e}", path.display())))?;
        tracing::info!(%kind, elapsed_ms = t0.elapsed().as_millis() as u64, "managed target stopped");
        Ok(())
    }
}

/// The c2s address for a port.
fn loopback(port: u16) -> std::net::SocketAddrV4 {
    std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The first `@NAME@` placeholder left in a rendered config, if any.
    pub(crate) fn leftover_placeholder(text: &str) -> Option<String> {
        text.split('@').skip(1).step_by(2).find_map(|inner| {
            let is_name =
                !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            is_name.then(|| format!("@{inner}@"))
        })
    }

    #[test]
    fn server_handles_cross_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<ManagedServer>();
        send_sync::<TargetError>();
    }

    #[test]
    fn kind_round_trips() {
        for kind in [
            ServerKind::Prosody,
            ServerKind::Ejabberd,
            ServerKind::Kamailio,
        ] {
            assert_eq!(kind.name().parse::<ServerKind>().unwrap(), kind);
        }
        assert!("openfire".parse::<ServerKind>().is_err());
    }

    #[test]
    fn spec_validation_rejects_config_breakers() {
        let mut spec = ManagedSpec::new(ServerKind::Prosody);
        assert!(spec.validate().is_ok());
        spec.domain = "Example.test\"".into();
        assert!(spec.validate().is_err());
        let mut spec = ManagedSpec::new(ServerKind::Prosody);
        spec.disable_modules.push("ping\"; os.exit()".into());
        assert!(spec.validate().is_err());
        let mut spec = ManagedSpec::new(ServerKind::Ejabberd);
        spec.settings.push(("a\nb".into(), "1".into()));
        assert!(spec.validate().is_err());
    }

    #[test]
    fn render_replaces_all_occurrences() {
        assert_eq!(render("@A@-@B@-@A@", &[("A", "x"), ("B", "y")]), "x-y-x");
    }
}
