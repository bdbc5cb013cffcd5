//! Faults mid-run against managed Prosody: the target killed, SIGINT, SIGTERM, and a
//! second SIGINT during the graceful end. The suite logs in, pings, waits, pings again;
//! each fault hits during the wait, found through the live metrics (the first pings are
//! done). What was recorded before the fault must be in `report.json`, `junit.xml` and
//! `login.hlog`.

use crate::common::{report, root};
use impress::report::RunStatus;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SUITE: &str = r#"
name = "faults"
[timeouts]
response = "3s"
[[fleet]]
name = "f"
protocol = "xmpp"
users = 2
[[step]]
do = "login"
[[step]]
do = "ping"
[[step]]
do = "wait"
duration = "6s"
[[step]]
do = "ping"
"#;

/// A running `impress run` with the managed Prosody it started.
struct Run {
    child: Child,
    dir: tempfile::TempDir,
    prosody: u32,
    prosody_dir: PathBuf,
    stderr: mpsc::Receiver<String>,
}

fn prosody_installed() -> bool {
    Path::new("/usr/bin/prosody").exists()
}

/// The child of `parent` running Prosody, with its instance dir.
fn prosody_child(parent: u32) -> Option<(u32, PathBuf)> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent pid is the 2nd field after the parenthesised command name.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let config = args.iter().skip_while(|a| *a != "--config").nth(1);
        if let Some(dir) = config.map(|c| Path::new(c).parent().unwrap_or(Path::new("/")))
            && dir.to_string_lossy().contains("impress-prosody-")
        {
            return Some((pid, dir.to_path_buf()));
        }
    }
    None
}

/// Whether `pid` exists and has not exited (a zombie has).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// GETs the live metrics.
fn metrics(addr: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Starts the run and returns once both sessions have pinged (the run is in its wait).
fn start() -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("suite.toml");
    std::fs::write(&suite, SUITE).expect("write suite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_impress"))
        .args(["run", "--metrics-listen", "127.0.0.1:0", "--out"])
        .arg(dir.path().join("report"))
        .arg(&suite)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn impress");
    let (tx, stderr) = mpsc::channel();
    let pipe = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = stderr
        .recv_timeout(Duration::from_secs(30))
        .expect("impress announces its metrics address");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected stderr: {line}"))
        .to_owned();
    let t0 = Instant::now();
    while !metrics(&addr).contains("impress_op_latency_us_count{op=\"ping\"} 2") {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the first pings never completed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (prosody, prosody_dir) = prosody_child(child.id()).expect("impress runs prosody");
    Run {
        child,
        dir,
        prosody,
        prosody_dir,
        stderr,
    }
}

impl Run {
    /// Waits for the exit, at most `limit`.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                panic!("impress still running {limit:?} after the fault");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn report_dir(&self) -> PathBuf {
        self.dir.path().join("report")
    }

    fn stderr(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Every output file exists and the logins and first pings are recorded.
    fn assert_recorded(&self) -> impress::report::RunReport {
        let dir = self.report_dir();
        for f in [
            "report.json",
            "junit.xml",
            "report.html",
            "login.hlog",
            "ping.hlog",
        ] {
            assert!(
                dir.join(f).exists(),
                "{f} missing; stderr: {}",
                self.stderr()
            );
        }
        let r = report(&dir);
        assert_eq!(r.ops["login"].count, 2, "{:?}", r.ops);
        assert!(r.ops["ping"].count >= 2, "{:?}", r.ops);
        let hlog = std::fs::read_to_string(dir.join("login.hlog")).expect("login.hlog");
        assert!(hlog.lines().any(|l| l.contains(",HISTF")), "{hlog}");
        r
    }
}

#[test]
fn target_killed_mid_run_keeps_what_was_recorded() {
    if !prosody_installed() {
        eprintln!("SKIPPED: prosody is not installed");
        return;
    }
    let mut run = start();
    signal(run.prosody, "KILL");
    let status = run.wait(Duration::from_secs(30));
    assert!(
        matches!(status.code(), Some(1 | 3)),
        "{status:?}: {}",
        run.stderr()
    );
    let r = run.assert_recorded();
    assert_ne!(r.status, RunStatus::Passed);
    assert!(
        r.ops["ping"].errors > 0,
        "the second pings fail: {:?}",
        r.ops
    );
    assert!(!run.prosody_dir.exists(), "the instance dir is removed");
}

fn interrupted(sig: &str) {
    if !prosody_installed() {
        eprintln!("SKIPPED: prosody is not installed");
        return;
    }
    let mut run = start();
    let t0 = Instant::now();
    signal(run.child.id(), sig);
    let status = run.wait(Duration::from_secs(20));
    eprintln!("{sig}: exited in {:?}", t0.elapsed());
    assert_eq!(status.code(), Some(3), "{}", run.stderr());
    let r = run.assert_recorded();
    assert_eq!(r.status, RunStatus::Invalid);
    let reason = r.status_reason.unwrap_or_default();
    assert!(
        reason.contains(&format!("interrupted by {sig}")),
        "{reason}"
    );
    assert!(!alive(run.prosody), "prosody stopped");
    assert!(!run.prosody_dir.exists(), "the instance dir is removed");
}

#[test]
fn sigint_mid_run_writes_a_partial_report() {
    interrupted("SIGINT");
}

#[test]
fn sigterm_mid_run_writes_a_partial_report() {
    interrupted("SIGTERM");
}

#[test]
fn second_sigint_aborts_at_once() {
    if !prosody_installed() {
        eprintln!("SKIPPED: prosody is not installed");
        return;
    }
    let mut run = start();
    // A stopped Prosody ignores SIGTERM, so the graceful end waits out its 10 s grace:
    // the second signal lands in that window for sure.
    signal(run.prosody, "STOP");
    signal(run.child.id(), "INT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        run.child.try_wait().expect("wait").is_none(),
        "impress must still be stopping the target"
    );
    let t0 = Instant::now();
    signal(run.child.id(), "INT");
    let status = run.wait(Duration::from_secs(3));
    eprintln!("second SIGINT: exited in {:?}", t0.elapsed());
    assert_eq!(status.code(), Some(130), "{}", run.stderr());
    assert!(run.stderr().contains("aborted without a report"));
    assert!(!run.report_dir().join("report.json").exists());
    let t0 = Instant::now();
    while alive(run.prosody) {
        if t0.elapsed() > Duration::from_secs(5) {
            signal(run.prosody, "KILL");
            panic!("the abort left prosody {} running", run.prosody);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // An abort leaves the instance dir behind by design.
    let _ = std::fs::remove_dir_all(&run.prosody_dir);
}
