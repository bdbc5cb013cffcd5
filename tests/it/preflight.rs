//! Pre-flight against the real machine: a fleet bigger than the descriptor limit (impress
//! under `prlimit --nofile=256`) fails at once with exit 2 and a message naming the limit,
//! before any server starts or any report is written; so does a fleet that needs more
//! ephemeral ports than its source addresses have.

use crate::common::text;
use std::process::Command;

fn suite(dir: &std::path::Path, users: usize) -> std::path::PathBuf {
    let path = dir.join(format!("fleet-{users}.toml"));
    let text = format!(
        "name = \"big\"\n[[fleet]]\nname = \"f\"\nprotocol = \"xmpp\"\nusers = {users}\n\n\
         [[step]]\ndo = \"login\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_fleet_beyond_the_descriptor_limit_fails_fast() {
    if !std::path::Path::new("/usr/bin/prlimit").is_file() {
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(dir.path(), 1000);
    let out = dir.path().join("report");
    let o = Command::new("prlimit")
        .arg("--nofile=256:256")
        .arg(env!("CARGO_BIN_EXE_impress"))
        .args([
            "run",
            suite.to_str().unwrap(),
            "--target",
            "managed:prosody",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("prlimit runs");
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("pre-flight"), "{t}");
    assert!(
        t.contains("1000 sessions need 1064 file descriptors"),
        "{t}"
    );
    assert!(t.contains("RLIMIT_NOFILE) is 256"), "{t}");
    assert!(!out.exists(), "a report was written");
}

#[test]
fn a_fleet_beyond_its_source_ports_fails_fast() {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| impress::preflight::parse_port_range(&s));
    let Some((lo, hi)) = range else {
        eprintln!("SKIPPED: no /proc/sys/net/ipv4/ip_local_port_range");
        return;
    };
    let per_source = usize::from(hi - lo) + 1;
    let dir = tempfile::tempdir().unwrap();
    // Two source addresses, one session more than their ports.
    let suite = suite(dir.path(), 2 * per_source + 1);
    let target = dir.path().join("target.toml");
    std::fs::write(
        &target,
        "[[node]]\nhost = \"127.0.0.1\"\nport = 9\nsource_addresses = \"127.0.0.2, 127.0.0.3\"\n\
         [tls]\nmode = \"plaintext\"\n[accounts]\npassword = \"x\"\n",
    )
    .unwrap();
    let out = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_impress"))
        .args(["run", suite.to_str().unwrap(), "--target"])
        .arg(&target)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("ephemeral ports"), "{t}");
    assert!(t.contains("at least 3 source addresses"), "{t}");
    assert!(!out.exists(), "a report was written");
}
