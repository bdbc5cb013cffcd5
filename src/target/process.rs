//! OS plumbing for managed targets: free ports, system users, spawning unprivileged
//! processes, readiness ("this PID owns a LISTEN socket on that port", from `/proc`), and
//! stopping by PID (SIGTERM, poll, SIGKILL) — also from `Drop`, so a panicking test leaves
//! nothing running.
//!
//! Everything here is Linux-specific on purpose: the readiness check must tie the socket to
//! the process we started, and `/proc` is the only place that says so without extra tools.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::TargetError;

/// How often the readiness and stop loops look at `/proc` again.
const POLL: Duration = Duration::from_millis(20);
/// How long a process may take to die after SIGKILL before we give up on it.
const KILL_WAIT: Duration = Duration::from_secs(3);

/// Ports handed out by this process. `bind(:0)` may return a port again once we have closed
/// it, so two instances started back to back in one test binary could otherwise collide.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// `n` distinct loopback TCP ports that were free a moment ago (bound to 127.0.0.1:0 and
/// closed again). Another process may still grab one before the server binds it; the
/// PID-owns-port readiness check turns that race into a clear error instead of a wrong target.
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>, TargetError> {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let used = guard.get_or_insert_with(HashSet::new);
    // Keep every listener open until all ports are chosen so the kernel cannot repeat one.
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| io_err("binding 127.0.0.1:0 to find a free port", e))?;
        let port = l
            .local_addr()
            .map_err(|e| io_err("reading a bound port", e))?
            .port();
        held.push(l);
        if used.insert(port) {
            ports.push(port);
        }
        if held.len() > n + 1000 {
            return Err(TargetError::Io {
                context: "finding free loopback ports".into(),
                source: io::Error::other("the kernel keeps returning ports already handed out"),
            });
        }
    }
    Ok(ports)
}

/// Shorthand for [`TargetError::Io`].
pub(crate) fn io_err(context: impl Into<String>, source: io::Error) -> TargetError {
    TargetError::Io {
        context: context.into(),
        source,
    }
}

/// This process's effective UID, read from `/proc/self/status` because `geteuid` is an
/// `unsafe` FFI call and the crate denies `unsafe`.
pub(crate) fn euid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
}

/// Whether this process runs with effective UID 0.
pub(crate) fn is_root() -> bool {
    euid() == Some(0)
}

/// A system account the servers run as when we are root.
#[derive(Debug, Clone)]
pub(crate) struct SystemUser {
    /// Login name (`prosody`, `ejabberd`).
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

impl SystemUser {
    /// Looks `name` up in `/etc/passwd` (the Debian packages create these users there).
    pub(crate) fn lookup(name: &str) -> Result<Self, TargetError> {
        let passwd =
            fs::read_to_string("/etc/passwd").map_err(|e| io_err("reading /etc/passwd", e))?;
        passwd
            .lines()
            .find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                (f.len() >= 4 && f[0] == name).then(|| {
                    Some(Self {
                        name: name.to_owned(),
                        uid: f[2].parse().ok()?,
                        gid: f[3].parse().ok()?,
                    })
                })?
            })
            .ok_or_else(|| TargetError::NotInstalled {
                program: format!("system user `{name}`"),
            })
    }

    /// A command that runs `program` as this user via `setpriv` (which execs, so the PID of
    /// the spawned child is the program's own).
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--init-groups", program]);
        // The environment still names root otherwise; some tools read it.
        cmd.env("USER", &self.name).env("LOGNAME", &self.name);
        cmd
    }

    /// Gives `path` and everything below it to this user, so the server can write its data.
    pub(crate) fn chown_tree(&self, path: &Path) -> Result<(), TargetError> {
        let ctx = || format!("giving {} to user {}", path.display(), self.name);
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
            .map_err(|e| io_err(ctx(), e))?;
        if fs::symlink_metadata(path)
            .map_err(|e| io_err(ctx(), e))?
            .is_dir()
        {
            for entry in fs::read_dir(path).map_err(|e| io_err(ctx(), e))? {
                self.chown_tree(&entry.map_err(|e| io_err(ctx(), e))?.path())?;
            }
        }
        Ok(())
    }
}

/// Fails with a helpful message when a parent of `dir` is not traversable by other users
/// (a server running as its own user could then not reach its config).
pub(crate) fn check_traversable(dir: &Path, user: &str) -> Result<(), TargetError> {
    use std::os::unix::fs::PermissionsExt;
    for parent in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(parent) else {
            continue;
        };
        if meta.permissions().mode() & 0o001 == 0 {
            return Err(TargetError::Environment(format!(
                "{} is not traversable by user `{user}` (mode {:o}): point TMPDIR at a \
                 world-traversable directory",
                parent.display(),
                meta.permissions().mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// Finds `program` on `PATH` (plus the sbin dirs, which are not on a normal user's PATH).
pub(crate) fn find_program(program: &str) -> Result<PathBuf, TargetError> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .ok_or_else(|| TargetError::NotInstalled {
            program: program.to_owned(),
        })
}

/// Spawns `cmd` with stdin closed and stdout+stderr appended to `console` (the early-failure
/// messages of a server go there before its own log is open).
pub(crate) fn spawn(
    mut cmd: Command,
    program: &str,
    console: &Path,
    cwd: &Path,
) -> Result<Child, TargetError> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(console)
        .map_err(|e| io_err(format!("creating {}", console.display()), e))?;
    let err = out
        .try_clone()
        .map_err(|e| io_err("duplicating the console log handle", e))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .current_dir(cwd);
    cmd.spawn().map_err(|source| TargetError::Spawn {
        program: program.to_owned(),
        source,
    })
}

/// Inodes of the LISTEN sockets on `addr` (or on the wildcard address with that port) in the
/// network namespace of `pid`.
fn listen_inodes(pid: u32, addr: SocketAddrV4) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        inodes.extend(
            text.lines()
                .skip(1)
                .filter_map(|l| parse_listen_line(l, addr)),
        );
    }
    inodes
}

/// Parses one `/proc/net/tcp{,6}` row; `Some(inode)` if it is a LISTEN socket on `addr`.
fn parse_listen_line(line: &str, addr: SocketAddrV4) -> Option<u64> {
    let f: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retr uid timeout inode
    if f.len() < 10 || f[3] != "0A" {
        return None;
    }
    let (ip_hex, port_hex) = f[1].split_once(':')?;
    if u16::from_str_radix(port_hex, 16).ok()? != addr.port() {
        return None;
    }
    // The kernel prints each 32-bit word of the address in host byte order.
    let mut bytes = Vec::with_capacity(16);
    for chunk in ip_hex.as_bytes().chunks(8) {
        let word = u32::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = addr.ip().octets();
    let matches = match bytes.len() {
        4 => bytes == ip || bytes == [0; 4],
        16 => {
            bytes == [0; 16]
                || (bytes[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] && bytes[12..] == ip)
        }
        _ => false,
    };
    matches.then(|| f[9].parse().ok()).flatten()
}

/// Whether process `pid` itself holds a LISTEN socket on `addr`. This, not "the port
/// answers", is readiness: a leftover server on the same port would answer too.
pub(crate) fn owns_listen_socket(pid: u32, addr: SocketAddrV4) -> bool {
    let inodes = listen_inodes(pid, addr);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        fs::read_link(fd.path()).ok().is_some_and(|target| {
            let t = target.to_string_lossy();
            t.strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|ino| inodes.contains(&ino))
        })
    })
}

/// Polls `probe` until it yields a value, fails, or `timeout` passes (`Ok(None)`).
pub(crate) async fn wait_for<T>(
    timeout: Duration,
    mut probe: impl FnMut() -> Result<Option<T>, TargetError>,
) -> Result<Option<T>, TargetError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe()? {
            return Ok(Some(v));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until our child `pid` owns a LISTEN socket on `addr`; fails at once if it exits
/// and after `timeout` otherwise, with the tail of `logs` in the error.
pub(crate) async fn wait_listening(
    procs: &mut ProcessSet,
    name: &str,
    pid: u32,
    addr: SocketAddrV4,
    timeout: Duration,
    logs: &[PathBuf],
) -> Result<(), TargetError> {
    let ready = wait_for(timeout, || match procs.exit_status(pid) {
        Some(status) => Err(TargetError::NotReady {
            what: format!("{name} (pid {pid}) exited ({status}) before listening on {addr}"),
            log_tail: tail_files(logs, 40),
        }),
        None => Ok(owns_listen_socket(pid, addr).then_some(())),
    })
    .await?;
    ready.ok_or_else(|| TargetError::NotReady {
        what: format!("{name} (pid {pid}) did not listen on {addr} within {timeout:?}"),
        log_tail: tail_files(logs, 40),
    })
}

/// The last `lines` lines of `path` (reads at most the last 256 KiB).
pub(crate) fn tail_file(path: &Path, lines: usize) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(256 * 1024)))
        .ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    (!tail.trim().is_empty()).then_some(tail)
}

/// `tail`-style output of several files, each under a `==> name <==` header; empty files
/// are left out.
pub(crate) fn tail_files(files: &[PathBuf], lines: usize) -> String {
    let parts: Vec<String> = files
        .iter()
        .filter_map(|p| Some(format!("==> {} <==\n{}", p.display(), tail_file(p, lines)?)))
        .collect();
    if parts.is_empty() {
        "(no log output)".to_owned()
    } else {
        parts.join("\n")
    }
}

/// Sends `sig` to `pid`. The one `unsafe` call of the target module: `kill(2)` has no
/// memory-safety preconditions, the FFI declaration is merely `unsafe` by construction.
#[expect(
    unsafe_code,
    reason = "kill(2) takes two integers and touches no memory"
)]
pub(crate) fn send_signal(pid: u32, sig: i32) -> io::Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain syscall with integer arguments; a stale pid yields ESRCH, not UB.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `pid` exists and is not a zombie (a zombie has exited; only its parent can
/// reap it, and for grandchildren that is not us).
pub(crate) fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold ") ".
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// All live descendants of `pid` (children, grandchildren, ...), from `/proc/*/stat`.
pub(crate) fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((child, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// One process we are responsible for stopping.
#[derive(Debug)]
struct Tracked {
    /// For messages ("prosody", "beam.smp", "epmd").
    name: String,
    pid: u32,
    /// Present when it is our direct child: waiting on it reaps the zombie.
    child: Option<Child>,
    /// How long it may take to exit after SIGTERM before it gets SIGKILL.
    grace: Duration,
}

impl Tracked {
    /// Alive, reaping it if it is our child and has exited.
    fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => pid_alive(self.pid),
        }
    }

    /// Waits up to `limit` for the process to go away.
    fn gone_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.alive() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
        true
    }

    /// SIGTERM, wait `grace`, SIGKILL. `Err` only if it survives SIGKILL.
    fn terminate(&mut self) -> Result<(), String> {
        if !self.alive() {
            return Ok(());
        }
        let _ = send_signal(self.pid, libc::SIGTERM);
        if self.gone_within(self.grace) {
            return Ok(());
        }
        tracing::warn!(pid = self.pid, name = %self.name, "no exit after SIGTERM; sending SIGKILL");
        let _ = send_signal(self.pid, libc::SIGKILL);
        if self.gone_within(KILL_WAIT) {
            Ok(())
        } else {
            Err(format!("{} (pid {}) survived SIGKILL", self.name, self.pid))
        }
    }
}

/// The processes of one managed server, stopped last-started-first by [`shutdown`] or on
/// `Drop`. Descendants of our children (e.g. `su` → `sh` → `beam.smp`) are stopped too.
///
/// [`shutdown`]: ProcessSet::shutdown
#[derive(Debug, Default)]
pub(crate) struct ProcessSet {
    procs: Vec<Tracked>,
}

impl ProcessSet {
    /// Takes responsibility for our child `child`.
    pub(crate) fn push_child(&mut self, name: &str, child: Child, grace: Duration) {
        self.procs.push(Tracked {
            name: name.to_owned(),
            pid: child.id(),
            child: Some(child),
            grace,
        });
    }

    /// Takes responsibility for a process that is not our direct child (e.g. `beam.smp`).
    pub(crate) fn push_pid(&mut self, name: &str, pid: u32, grace: Duration) {
        self.procs.push(Tracked {
            name: name.to_owned(),
            pid,
            child: None,
            grace,
        });
    }

    /// Takes responsibility for a process that is not our direct child, stopping it after
    /// every process already tracked (e.g. a server's workers: the server stops them itself
    /// when it can, and they are still killed by PID when it cannot).
    pub(crate) fn push_pid_stopped_last(&mut self, name: &str, pid: u32, grace: Duration) {
        self.procs.insert(
            0,
            Tracked {
                name: name.to_owned(),
                pid,
                child: None,
                grace,
            },
        );
    }

    /// Takes responsibility for every process of `other` (started after ours: they are
    /// stopped first), leaving it empty.
    pub(crate) fn absorb(&mut self, other: &mut Self) {
        self.procs.append(&mut other.procs);
    }

    /// PIDs of every tracked process, in stop order (last started first).
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.procs.iter().rev().map(|t| t.pid).collect()
    }

    /// The exit status of our child `pid` if it has exited (reaping it).
    pub(crate) fn exit_status(&mut self, pid: u32) -> Option<ExitStatus> {
        let t = self.procs.iter_mut().find(|t| t.pid == pid)?;
        t.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Stops everything (blocking). Returns the processes that could not be killed.
    pub(crate) fn shutdown(&mut self) -> Result<(), Vec<String>> {
        let mut procs = std::mem::take(&mut self.procs);
        let tracked: HashSet<u32> = procs.iter().map(|t| t.pid).collect();
        // Snapshot before killing: once a parent dies its children are re-parented away.
        let mut strays: Vec<u32> = procs
            .iter()
            .filter(|t| t.child.is_some())
            .flat_map(|t| descendants(t.pid))
            .filter(|p| !tracked.contains(p))
            .collect();
        strays.dedup();
        let mut failed = Vec::new();
        for t in procs.iter_mut().rev() {
            failed.extend(t.terminate().err());
        }
        for pid in strays {
            let mut t = Tracked {
                name: "descendant".into(),
                pid,
                child: None,
                grace: Duration::from_secs(2),
            };
            failed.extend(t.terminate().err());
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }
}

impl Drop for ProcessSet {
    fn drop(&mut self) {
        if !self.procs.is_empty()
            && let Err(failed) = self.shutdown()
        {
            tracing::error!(?failed, "managed target processes left running");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn parses_listen_rows_for_the_port_only() {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0x3A5E);
        let row = "   0: 0100007F:3A5E 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 4242 1";
        assert_eq!(parse_listen_line(row, addr), Some(4242));
        let established = row.replace(" 0A ", " 01 ");
        assert_eq!(parse_listen_line(&established, addr), None);
        let other_port = row.replace(":3A5E", ":3A5F");
        assert_eq!(parse_listen_line(&other_port, addr), None);
        let other_ip = row.replace("0100007F:", "0200007F:");
        assert_eq!(parse_listen_line(&other_ip, addr), None);
        let v6_any = "   0: 00000000000000000000000000000000:3A5E 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 77 1";
        assert_eq!(parse_listen_line(v6_any, addr), Some(77));
    }

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(20).unwrap();
        ports.extend(free_ports(20).unwrap());
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), 40);
    }

    #[test]
    fn our_own_process_is_alive_and_has_a_listener() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let SocketAddr::V4(addr) = l.local_addr().unwrap() else {
            panic!("v4")
        };
        assert!(pid_alive(std::process::id()));
        assert!(owns_listen_socket(std::process::id(), addr));
        // The classic trap: the port is listening, but not by the process we ask about.
        let mut other = Command::new("sleep").arg("10").spawn().unwrap();
        assert!(!owns_listen_socket(other.id(), addr));
        other.kill().unwrap();
        other.wait().unwrap();
        assert!(!pid_alive(other.id()));
        drop(l);
        assert!(!owns_listen_socket(std::process::id(), addr));
    }
}
