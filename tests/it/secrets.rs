//! Secrets stay secret: a known password, given through an environment variable, never
//! appears (as is or base64-encoded, alone or as a SASL PLAIN token) in the report files,
//! stdout, or a `--log trace` stderr. The run fails a check on purpose (Prosody without
//! `ping`) so the report carries transcripts, which include the SASL exchange.
//! The same holds for SIP digest authentication against Kamailio (password and HA1).

use crate::common::{root, text};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use impress::target::{ManagedServer, ManagedSpec, ServerKind};
use std::path::Path;
use std::process::Command;

const PASSWORD: &str = "S3cret-Passw0rd-XYZ";

const SUITE: &str = r#"
name = "secrets"
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
"#;

/// Asserts that no `forbidden` string is in `output` or any file of `dir`; returns how many
/// places were read.
fn assert_absent(output: String, dir: &Path, forbidden: &[String]) -> usize {
    let mut places = vec![("stdout and stderr".to_owned(), output)];
    for f in std::fs::read_dir(dir).expect("report dir").flatten() {
        let bytes = std::fs::read(f.path()).expect("read report file");
        places.push((
            f.path().display().to_string(),
            String::from_utf8_lossy(&bytes).into(),
        ));
    }
    for (place, body) in &places {
        for secret in forbidden {
            assert!(!body.contains(secret), "{place} contains {secret:?}");
        }
    }
    places.len()
}

/// Every form in which the password could leak.
fn forbidden() -> Vec<String> {
    let mut v = vec![PASSWORD.to_owned(), B64.encode(PASSWORD)];
    for user in ["user1", "user2"] {
        v.push(B64.encode(format!("\0{user}\0{PASSWORD}")));
    }
    v
}

/// Runs the suite against `server` with the target's `[tls]` table; checks every output.
fn run_and_grep(server: &ManagedServer, dir: &Path, tls: &str, mechanism: &str) {
    let suite = dir.join("suite.toml");
    std::fs::write(&suite, SUITE).expect("write suite");
    let target = dir.join("target.toml");
    let t = format!(
        "name = \"external\"\ndomain = \"{}\"\n[[node]]\nhost = \"127.0.0.1\"\nport = {}\n\
         {tls}\n[accounts]\npassword_env = \"IMPRESS_PW\"\n",
        server.domain(),
        server.addr().port()
    );
    std::fs::write(&target, t).expect("write target");
    let out_dir = dir.join("report");
    let t0 = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_impress"))
        .args(["--log", "trace", "run"])
        .arg(&suite)
        .arg("--target")
        .arg(&target)
        .arg("--out")
        .arg(&out_dir)
        .env("IMPRESS_PW", PASSWORD)
        .current_dir(root())
        .output()
        .expect("run impress");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "the ping check fails: {all}");
    let json = std::fs::read_to_string(out_dir.join("report.json")).expect("report.json");
    assert!(
        json.contains("\"transcript\"") && json.contains("[redacted]"),
        "the report must carry a transcript with the redacted SASL exchange"
    );
    assert!(
        json.contains(&format!("mechanism='{mechanism}'")),
        "the run must use {mechanism}"
    );
    let places = assert_absent(all, &out_dir, &forbidden());
    eprintln!(
        "{mechanism}: ran in {:?}; checked {} outputs, {} bytes of stderr",
        t0.elapsed(),
        places,
        out.stderr.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_never_leaks() {
    if !Path::new("/usr/bin/prosody").exists() {
        eprintln!("SKIPPED: prosody is not installed");
        return;
    }
    let mut spec = ManagedSpec::new(ServerKind::Prosody);
    spec.disable_modules = vec!["ping".to_owned()];
    let server = ManagedServer::start(&spec).await.expect("start prosody");
    server
        .provision("user", 2, PASSWORD)
        .await
        .expect("provision");
    let dir = tempfile::tempdir().expect("temp dir");
    // SCRAM over verified TLS.
    let ca = server.ca_file().display().to_string();
    let scram = dir.path().join("scram");
    std::fs::create_dir(&scram).expect("mkdir");
    tokio::task::block_in_place(|| {
        run_and_grep(
            &server,
            &scram,
            &format!("[tls]\nca_file = {ca:?}"),
            "SCRAM-SHA-1",
        );
    });
    server.stop().await.expect("stop");

    // PLAIN on plaintext: the one mechanism that sends the password itself.
    spec.settings = vec![(
        "disable_sasl_mechanisms".to_owned(),
        "{ \"SCRAM-SHA-1\", \"SCRAM-SHA-1-PLUS\" }".to_owned(),
    )];
    let server = ManagedServer::start(&spec).await.expect("start prosody");
    server
        .provision("user", 2, PASSWORD)
        .await
        .expect("provision");
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    tokio::task::block_in_place(|| {
        run_and_grep(
            &server,
            &plain,
            "[tls]\nmode = \"plaintext\"\nallow_plain = true",
            "PLAIN",
        );
    });
    server.stop().await.expect("stop");
}

const SIP_SUITE: &str = r#"
name = "sip secrets"
[timeouts]
response = "3s"
[[fleet]]
name = "f"
protocol = "sip"
users = 2
[[step]]
do = "sip-register"
[[step]]
do = "sip-probe"
[[step]]
do = "sip-unregister"
"#;

/// SIP digest never sends the password, but HA1 = MD5(user:realm:password) is as good as
/// one: neither may appear. The probe's 412 check fails against an external Kamailio (no
/// expectation file), so the report carries transcripts with the Authorization headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_password_never_leaks() {
    use md5::{Digest, Md5};
    let server = ManagedServer::start(&ManagedSpec::new(ServerKind::Kamailio))
        .await
        .expect("start kamailio");
    server
        .provision("user", 2, PASSWORD)
        .await
        .expect("provision");
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("suite.toml");
    std::fs::write(&suite, SIP_SUITE).expect("write suite");
    let target = dir.path().join("target.toml");
    let t = format!(
        "name = \"external sip\"\ndomain = \"{}\"\n[[node]]\nhost = \"127.0.0.1\"\nport = {}\n\
         [accounts]\npassword_env = \"IMPRESS_PW\"\n",
        server.domain(),
        server.addr().port()
    );
    std::fs::write(&target, t).expect("write target");
    let out_dir = dir.path().join("report");
    let out = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_impress"))
            .args(["--log", "trace", "run"])
            .arg(&suite)
            .arg("--target")
            .arg(&target)
            .arg("--out")
            .arg(&out_dir)
            .env("IMPRESS_PW", PASSWORD)
            .current_dir(root())
            .output()
            .expect("run impress")
    });
    let domain = server.domain().to_owned();
    server.stop().await.expect("stop");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "the 412 check fails: {all}");
    let json = std::fs::read_to_string(out_dir.join("report.json")).expect("report.json");
    assert!(
        json.contains("Authorization: Digest"),
        "transcripts carry the digest answers"
    );
    let mut forbidden = vec![PASSWORD.to_owned(), B64.encode(PASSWORD)];
    for user in ["user1", "user2"] {
        let ha1 = Md5::digest(format!("{user}:{domain}:{PASSWORD}"));
        forbidden.push(ha1.iter().map(|b| format!("{b:02x}")).collect());
    }
    assert_absent(all, &out_dir, &forbidden);
}
