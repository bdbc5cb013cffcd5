//! `impress serve` against real Prosody and Kamailio: the info file appears, the password
//! stays in a 0600 file (never on stdout), `impress run` logs in through the written target
//! files (XMPP: STARTTLS verified, plaintext, and plaintext from rotating source addresses;
//! SIP: REGISTER and MESSAGE over UDP and verified TLS), and SIGTERM stops the server and
//! removes the files.

use crate::common::{impress, report, text};
use impress::report::RunStatus;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for readiness and exit; a hang fails the test instead of blocking CI.
const PATIENCE: Duration = Duration::from_secs(120);

/// Each run takes four fresh accounts from `first` on: subscriptions persist on the
/// server, and a second subscribe between the same pair would find nothing to do.
const SUITE: &str = r#"name = "serve smoke"
[[fleet]]
name = "pairs"
protocol = "xmpp"
users = 4
first = FIRST

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

/// Starts `impress serve TARGET --accounts N --info DIR/INFO` with stdout captured in
/// DIR/stdout.txt and waits for its info file: the guard, the parsed info, both paths.
fn start_serve(
    dir: &Path,
    target: &str,
    accounts: usize,
    info: &str,
) -> (Serve, serde_json::Value, PathBuf, PathBuf) {
    let info_path = dir.join(info);
    let stdout = dir.join("stdout.txt");
    let child = Command::new(env!("CARGO_BIN_EXE_impress"))
        .args([
            "serve",
            target,
            "--accounts",
            &accounts.to_string(),
            "--info",
        ])
        .arg(&info_path)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("impress serve starts");
    let mut serve = Serve(child);
    assert!(wait_for_file(&info_path, &mut serve.0), "no info file");
    let info = serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
    (serve, info, info_path, stdout)
}

fn prosody_installed() -> bool {
    Path::new("/usr/bin/prosody").is_file()
}

/// Kills the serve process if the test fails before it stops it.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = signal(self.0.id(), "TERM");
            let _ = wait(&mut self.0);
        }
    }
}

fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

fn wait(child: &mut Child) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < PATIENCE {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn wait_for_file(path: &Path, serve: &mut Child) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < PATIENCE {
        if path.is_file() {
            return true;
        }
        if let Ok(Some(status)) = serve.try_wait() {
            panic!("impress serve exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// `/proc/<pid>` exists and is not a zombie.
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|st| st != 'Z' && st != 'X')
    })
}

fn run_suite(dir: &Path, target: &Path, out: &str, first: usize) {
    let suite = dir.join(format!("serve-smoke-{first}.toml"));
    std::fs::write(&suite, SUITE.replace("FIRST", &first.to_string())).unwrap();
    let out = dir.join(out);
    let o = impress(&[
        "run",
        suite.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}: {}",
        target.display(),
        text(&o)
    );
    let r = report(&out);
    assert_eq!(r.status, RunStatus::Passed, "{}", target.display());
    assert_eq!(r.run.sessions, 4);
}

#[test]
fn serve_hosts_a_server_that_impress_runs_against_until_sigterm() {
    if !prosody_installed() {
        eprintln!("SKIPPED: prosody is not installed (run scripts/install-targets.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, info, info_path, stdout) =
        start_serve(dir.path(), "managed:prosody", 12, "serve.json");
    let path = |k: &str| PathBuf::from(info[k].as_str().unwrap_or_else(|| panic!("{k}")));
    assert_eq!(info["server"], "prosody");
    assert_eq!(info["domain"], "example.test");
    assert_eq!(info["accounts"]["count"], 12);
    let pid = info["pid"].as_u64().unwrap();
    assert!(alive(pid));
    let password_file = path("password_file");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&password_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let password = std::fs::read_to_string(&password_file).unwrap();
    let password = password.trim();
    assert!(password.len() >= 16);
    assert!(path("ca_file").is_file());

    run_suite(dir.path(), &path("target_file"), "tls", 1);
    run_suite(dir.path(), &path("plaintext_target_file"), "plain", 5);
    // The same plaintext target, connecting from 127.0.0.2 and 127.0.0.3 in turn.
    let spread = dir.path().join("spread.target.toml");
    let plain = std::fs::read_to_string(path("plaintext_target_file")).unwrap();
    let spread_text = plain.replacen(
        "[[node]]\n",
        "[[node]]\nsource_addresses = \"127.0.0.2-127.0.0.3\"\n",
        1,
    );
    assert_ne!(spread_text, plain);
    std::fs::write(&spread, spread_text).unwrap();
    run_suite(dir.path(), &spread, "spread", 9);

    assert!(signal(serve.0.id(), "TERM"));
    let status = wait(&mut serve.0).expect("serve exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(!alive(pid), "the server survived serve");
    assert!(!info_path.exists() && !password_file.exists());
    let out = std::fs::read_to_string(&stdout).unwrap();
    assert!(out.contains("impress serve: managed prosody"), "{out}");
    assert!(!out.contains(password), "the password reached stdout");
}

#[test]
fn serve_refuses_an_external_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("ext.toml");
    std::fs::write(
        &target,
        "[[node]]\nhost = \"127.0.0.1\"\n[accounts]\npassword = \"x\"\n",
    )
    .unwrap();
    let info = dir.path().join("serve.json");
    let o = impress(&[
        "serve",
        target.to_str().unwrap(),
        "--info",
        info.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("needs a managed target"), "{}", text(&o));
    assert!(!info.exists());
}

/// SIP users on UDP and TLS (verified against the written CA), fresh accounts per fleet.
const SIP_SUITE: &str = r#"name = "serve sip smoke"
[timeouts]
response = "5s"
delivery = "5s"

[[fleet]]
name = "udp"
protocol = "sip"
transport = "udp"
users = 2

[[fleet]]
name = "tls"
protocol = "sip"
transport = "tls"
users = 2
first = 3

[[step]]
do = "sip-register"

[[step]]
do = "sip-message"
count = 2
every = "50ms"

[[step]]
do = "sip-unregister"
"#;

fn kamailio_installed() -> bool {
    ["/usr/sbin/kamailio", "/sbin/kamailio", "/usr/bin/kamailio"]
        .iter()
        .any(|p| Path::new(p).is_file())
}

/// REGISTER with digest, MESSAGE between partners, over UDP and over TLS.
fn run_sip_suite(dir: &Path, target: &Path) {
    let suite = dir.join("serve-sip.toml");
    std::fs::write(&suite, SIP_SUITE).unwrap();
    let out = dir.join("sip-report");
    let o = impress(&[
        "run",
        suite.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = report(&out);
    assert_eq!(r.status, RunStatus::Passed);
    assert_eq!(r.accounting.total.delivered, 8);
}

#[test]
fn serve_hosts_kamailio_for_sip_runs_until_sigterm() {
    if !kamailio_installed() {
        eprintln!("SKIPPED: kamailio is not installed (run scripts/install-targets.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, info, info_path, stdout) =
        start_serve(dir.path(), "managed:kamailio", 4, "sip.json");
    let path = |k: &str| PathBuf::from(info[k].as_str().unwrap_or_else(|| panic!("{k}")));
    assert_eq!(info["server"], "kamailio");
    assert_eq!(info["accounts"]["count"], 4);
    let port = info["port"].as_u64().unwrap();
    assert_eq!(info["sip"]["udp_port"].as_u64(), Some(port));
    assert_eq!(info["sip"]["tcp_port"].as_u64(), Some(port));
    let tls_port = info["sip"]["tls_port"].as_u64().expect("a TLS port");
    let pid = info["pid"].as_u64().unwrap();
    assert!(alive(pid));
    let password_file = path("password_file");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&password_file).unwrap().permissions();
    assert_eq!(mode.mode() & 0o777, 0o600);
    let password = std::fs::read_to_string(&password_file).unwrap();
    let password = password.trim().to_string();
    let target = path("target_file");
    let target_text = std::fs::read_to_string(&target).unwrap();
    assert!(
        target_text.contains(&format!("sip_tls_port = {tls_port}\n")),
        "{target_text}"
    );
    let plain = std::fs::read_to_string(path("plaintext_target_file")).unwrap();
    assert!(!plain.contains("sip_tls_port"), "{plain}");

    run_sip_suite(dir.path(), &target);

    assert!(signal(serve.0.id(), "TERM"));
    let status = wait(&mut serve.0).expect("serve exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(!alive(pid), "Kamailio survived serve");
    assert!(!info_path.exists() && !password_file.exists() && !target.exists());
    let out = std::fs::read_to_string(&stdout).unwrap();
    assert!(out.contains("impress serve: managed kamailio"), "{out}");
    assert!(!out.contains(&password), "the password reached stdout");
}
