//! `impress serve`: a managed server on its own, so that other load generators (Tsung) and
//! impress runs can hit the same instance.
//!
//! It starts the server ([`ManagedServer::start`]), provisions `<prefix>1 … <prefix>N` with
//! one random password, and writes next to the info file `<stem>.json`:
//! - `<stem>.password` (mode 0600): the password; it never appears on argv or stdout;
//! - `<stem>.ca.pem`: the CA that signed the server certificate;
//! - `<stem>.target.toml`: an impress target file (STARTTLS, verified against that CA);
//! - `<stem>.plain.target.toml`: the same without TLS (SASL PLAIN allowed in the clear);
//! - `<stem>.json` itself, last (its appearance means "ready"): address, domain, account
//!   scheme, the paths above, the server's PIDs.
//!
//! For managed Kamailio (SIP) `port` serves UDP and TCP, the info file's `sip` object names
//! the UDP, TCP and TLS ports, the target file carries `sip_tls_port` (TLS verified against
//! the CA) and the plaintext one leaves it out; the accounts are SIP digest subscribers, so
//! SIPp and impress can register the same users on one instance.
//!
//! It then waits for SIGINT or SIGTERM, removes those files, and stops the server by PID. A
//! second signal during the stop kills the server at once (exit 130). If the server dies on
//! its own, serve removes the files and exits 3.

use crate::error::{EXIT_ABORTED, EXIT_INVALID, EXIT_OK, Error};
use crate::scenario::{Endpoint, Secret, load_target};
use crate::target::ManagedServer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// What `impress serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// `managed:prosody`, `managed:ejabberd`, `managed:kamailio`, or a target file with
    /// `[managed]`.
    pub target: String,
    /// Accounts to provision.
    pub accounts: usize,
    /// Account prefix: accounts are `<prefix>1 … <prefix>N`.
    pub prefix: String,
    /// The info file; the other files are named after its stem.
    pub info: PathBuf,
}

/// The files serve writes, all beside the info file.
#[derive(Debug, Clone)]
pub struct ServeFiles {
    /// The info file (JSON).
    pub info: PathBuf,
    /// The password (0600).
    pub password: PathBuf,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// Target file with STARTTLS.
    pub target: PathBuf,
    /// Target file without TLS.
    pub plain_target: PathBuf,
}

impl ServeFiles {
    /// Names every file after the info file's stem (`run/serve.json` → `run/serve.password`
    /// …), with absolute paths so the info file can be read from anywhere.
    pub fn beside(info: &Path) -> Result<Self, Error> {
        let name = info
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::Usage(format!("--info {}: not a file name", info.display())))?;
        let stem = name.strip_suffix(".json").unwrap_or(name);
        let parent = match info.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::fs::canonicalize(&parent).map_err(|e| {
            Error::Usage(format!(
                "--info {}: directory {}: {e}",
                info.display(),
                parent.display()
            ))
        })?;
        let at = |suffix: &str| dir.join(format!("{stem}{suffix}"));
        Ok(Self {
            info: dir.join(name),
            password: at(".password"),
            ca: at(".ca.pem"),
            target: at(".target.toml"),
            plain_target: at(".plain.target.toml"),
        })
    }

    fn all(&self) -> [&Path; 5] {
        [
            &self.info,
            &self.password,
            &self.ca,
            &self.target,
            &self.plain_target,
        ]
    }

    /// Removes every file (missing ones are fine).
    fn remove(&self) {
        for p in self.all() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs `impress serve` until a signal; returns the exit code.
pub async fn serve(args: &ServeArgs) -> Result<i32, Error> {
    let target = load_target(Some(&args.target))?;
    let Endpoint::Managed(spec) = &target.endpoint else {
        return Err(Error::Usage(format!(
            "serve {}: needs a managed target (managed:prosody, managed:ejabberd, \
             managed:kamailio, or a target file with [managed])",
            args.target
        )));
    };
    let files = ServeFiles::beside(&args.info)?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Target(e.to_string()))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::Target(e.to_string()))?;
    let server = tokio::select! {
        r = ManagedServer::start(spec) => r.map_err(|e| Error::Target(format!(
            "managed {} did not start: {e}", spec.kind
        )))?,
        _ = int.recv() => return Ok(EXIT_INVALID),
        _ = term.recv() => return Ok(EXIT_INVALID),
    };
    let ready = tokio::select! {
        r = publish(&server, args, &files) => r,
        _ = int.recv() => Err(Error::Target("interrupted while provisioning".into())),
        _ = term.recv() => Err(Error::Target("interrupted while provisioning".into())),
    };
    let code = match ready {
        Ok(()) => {
            announce(&server, args, &files);
            watch(&server, &mut int, &mut term).await
        }
        Err(e) => {
            files.remove();
            stop(server, int, term).await;
            return Err(e);
        }
    };
    files.remove();
    stop(server, int, term).await;
    Ok(code)
}

/// Provisions the accounts and writes every file, the info file last.
async fn publish(
    server: &ManagedServer,
    args: &ServeArgs,
    files: &ServeFiles,
) -> Result<(), Error> {
    let password = Secret::random();
    server
        .provision(&args.prefix, args.accounts, password.expose())
        .await
        .map_err(|e| match e {
            crate::target::TargetError::Spec(m) => Error::Usage(m),
            other => Error::Target(other.to_string()),
        })?;
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |e: std::io::Error| Error::Target(format!("writing {what}: {e}"))
    };
    write_secret(&files.password, password.expose()).map_err(io(&files.password))?;
    std::fs::copy(server.ca_file(), &files.ca).map_err(io(&files.ca))?;
    let pattern = format!("{}{{n}}", args.prefix);
    let tls = target_file(server, &pattern, files, true);
    write_atomic(&files.target, &tls).map_err(io(&files.target))?;
    let plain = target_file(server, &pattern, files, false);
    write_atomic(&files.plain_target, &plain).map_err(io(&files.plain_target))?;
    let info = info_json(server, args, files);
    write_atomic(&files.info, &format!("{info:#}\n")).map_err(io(&files.info))?;
    Ok(())
}

/// The impress target file pointing at the server.
pub fn target_file(server: &ManagedServer, pattern: &str, files: &ServeFiles, tls: bool) -> String {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let ca = format!("ca_file = \"{}\"\n", name(&files.ca));
    let (node_extra, security) = match server.sip() {
        // SIP: the fleet's `transport` picks UDP/TCP (`port`) or TLS (`sip_tls_port`); the
        // plaintext file names no TLS port: it is for UDP and TCP fleets only.
        Some(sip) => match sip.tls.filter(|_| tls) {
            Some(t) => (format!("sip_tls_port = {}\n", t.port()), ca),
            None => (String::new(), ca),
        },
        None if tls => (String::new(), format!("mode = \"starttls\"\n{ca}")),
        None => (
            String::new(),
            "mode = \"plaintext\"\nallow_plain = true\n".to_string(),
        ),
    };
    format!(
        "# Written by `impress serve` for managed {kind} (PID {pid}); removed when it stops.\n\
         name = \"serve: managed {kind}{plain}\"\n\
         domain = \"{domain}\"\n\n\
         [[node]]\nhost = \"{host}\"\nport = {port}\n{node_extra}\n\
         [tls]\n{security}\n\
         [accounts]\npattern = \"{pattern}\"\npassword_file = \"{password}\"\n",
        kind = server.kind(),
        pid = server.pid(),
        plain = if tls { "" } else { " (plaintext)" },
        domain = server.domain(),
        host = server.addr().ip(),
        port = server.addr().port(),
        password = name(&files.password),
    )
}

fn info_json(server: &ManagedServer, args: &ServeArgs, files: &ServeFiles) -> serde_json::Value {
    let path = |p: &Path| p.display().to_string();
    serde_json::json!({
        "server": server.kind().name(),
        "host": server.addr().ip().to_string(),
        "port": server.addr().port(),
        "domain": server.domain(),
        "ca_file": path(&files.ca),
        "password_file": path(&files.password),
        "target_file": path(&files.target),
        "plaintext_target_file": path(&files.plain_target),
        "accounts": {
            "prefix": args.prefix,
            "pattern": format!("{}{{n}}", args.prefix),
            "first": 1,
            "count": args.accounts,
        },
        "pid": server.pid(),
        "pids": server.process_ids(),
        "server_dir": path(server.dir()),
        "impress_pid": std::process::id(),
        "sip": server.sip().map(|sip| serde_json::json!({
            "udp_port": sip.udp.port(),
            "tcp_port": sip.tcp.port(),
            "tls_port": sip.tls.map(|t| t.port()),
        })),
    })
}

fn announce(server: &ManagedServer, args: &ServeArgs, files: &ServeFiles) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "impress serve: managed {} (PID {}) for {} on {}, accounts {}1…{}{}; info: {}; \
         SIGINT or SIGTERM stops it",
        server.kind(),
        server.pid(),
        server.domain(),
        server.addr(),
        args.prefix,
        args.prefix,
        args.accounts,
        files.info.display()
    );
    let _ = out.flush();
}

/// Waits for a signal (exit 0) or the server's death (exit 3).
async fn watch(
    server: &ManagedServer,
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> i32 {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = int.recv() => return EXIT_OK,
            _ = term.recv() => return EXIT_OK,
            _ = tick.tick() => {
                if !server.is_running() {
                    tracing::error!("managed {} (PID {}) exited on its own:\n{}",
                        server.kind(), server.pid(), server.log_tail(20));
                    let _ = writeln!(std::io::stderr(),
                        "impress serve: managed {} (PID {}) exited on its own", server.kind(), server.pid());
                    return EXIT_INVALID;
                }
            }
        }
    }
}

/// Stops the server by PID; a further signal meanwhile kills it at once (exit 130).
async fn stop(
    server: ManagedServer,
    mut int: tokio::signal::unix::Signal,
    mut term: tokio::signal::unix::Signal,
) {
    let pids = server.process_ids();
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        crate::target::kill_now(&pids);
        let _ = writeln!(
            std::io::stderr(),
            "impress serve: signal again: server killed"
        );
        std::process::exit(EXIT_ABORTED);
    });
    if let Err(e) = server.stop().await {
        tracing::warn!("stopping the managed server: {e}");
    }
}

/// Writes `secret` to a fresh file readable by its owner only (created 0600, never
/// widened: a file left over from an earlier run is replaced, not reused).
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")
}

/// Writes a file under a temporary name, then renames it: readers never see half of it.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_after_the_info_stem() {
        let dir = tempfile::tempdir().unwrap();
        let f = ServeFiles::beside(&dir.path().join("serve.json")).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(f.info, root.join("serve.json"));
        assert_eq!(f.password, root.join("serve.password"));
        assert_eq!(f.ca, root.join("serve.ca.pem"));
        assert_eq!(f.target, root.join("serve.target.toml"));
        assert_eq!(f.plain_target, root.join("serve.plain.target.toml"));
        let g = ServeFiles::beside(&dir.path().join("x")).unwrap();
        assert_eq!(g.password, root.join("x.password"));
        assert!(ServeFiles::beside(&dir.path().join("missing/serve.json")).is_err());
    }

    #[test]
    fn the_secret_file_is_owner_only_and_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_secret(&p, "s3cret").unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "s3cret\n");
    }
}
