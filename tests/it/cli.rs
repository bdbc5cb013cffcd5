//! Command-line behaviour without a server: bad suites exit 2 naming file, line and field;
//! an unreachable target exits 3 and still writes report.json.

use crate::common::{impress, report, text};
use impress::report::RunStatus;
use std::io::Write;

fn suite_file(body: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    f.write_all(body.as_bytes()).expect("write suite");
    f
}

const FLEET: &str = "name = \"t\"\n\n[[fleet]]\nname = \"a\"\nprotocol = \"xmpp\"\nusers = 2\n";

fn expect_usage_error(body: &str, line: usize, field: &str) {
    let f = suite_file(body);
    let path = f.path().to_str().expect("utf-8");
    let out = impress(&["run", path, "--out", "/nonexistent/never-written"]);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(2), "{msg}");
    assert!(msg.contains(path), "names the file: {msg}");
    assert!(
        msg.contains(&format!("line {line}")),
        "names line {line}: {msg}"
    );
    assert!(
        msg.contains(&format!("`{field}`")),
        "names field {field}: {msg}"
    );
}

#[test]
fn unknown_top_level_field_exits_2() {
    expect_usage_error(&format!("{FLEET}colour = \"blue\"\n"), 7, "colour");
}

#[test]
fn unknown_field_in_a_step_exits_2_with_its_own_line() {
    let body = format!("{FLEET}\n[[step]]\ndo = \"login\"\nrate = 5\nwobble = 1\n");
    expect_usage_error(&body, 11, "wobble");
}

#[test]
fn wrong_type_exits_2() {
    let body = FLEET.replace("users = 2", "users = \"many\"");
    expect_usage_error(&body, 6, "users");
}

#[test]
fn wrong_type_in_a_step_exits_2() {
    let body =
        format!("{FLEET}\n[[step]]\ndo = \"message\"\nto = \"partner.bare\"\ncount = \"lots\"\n");
    expect_usage_error(&body, 11, "count");
}

#[test]
fn unknown_step_kind_exits_2() {
    let body = format!("{FLEET}\n[[step]]\ndo = \"dance\"\n");
    expect_usage_error(&body, 8, "do");
}

#[test]
fn unreachable_target_exits_3_and_writes_the_report() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("deploy.toml");
    let body = format!(
        "[[node]]\nhost = \"127.0.0.1\"\nport = {port}\n\n[accounts]\npassword_env = \"IMPRESS_TEST_UNSET_OK\"\n"
    );
    std::fs::write(&target, body).expect("write target");
    let suite = crate::common::root().join("suites/xmpp-smoke.toml");
    let out_dir = dir.path().join("report");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_impress"))
        .args([
            "run",
            suite.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .env("IMPRESS_TEST_UNSET_OK", "not-a-real-password")
        .output()
        .expect("runs");
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(3), "{msg}");
    assert!(msg.contains("unreachable"), "one-line reason: {msg}");
    let r = report(&out_dir);
    assert_eq!(r.status, RunStatus::Invalid);
    assert!(
        r.status_reason.as_deref().unwrap_or("").contains("refused"),
        "{:?}",
        r.status_reason
    );
    assert!(
        !msg.contains("not-a-real-password"),
        "the password never reaches output"
    );
}

#[test]
fn checks_list_prints_the_catalogue_with_levels_and_quotes() {
    let out = impress(&["checks", "list", "--spec", "XEP-0199"]);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(0), "{msg}");
    assert!(msg.contains("xmpp/xep-0199/4.2-server-ping  MUST"), "{msg}");
    assert!(!msg.contains("rfc6121"), "filtered by spec: {msg}");
}

#[test]
fn every_shipped_suite_validates() {
    for entry in std::fs::read_dir(crate::common::root().join("suites")).expect("suites dir") {
        let path = entry.expect("entry").path();
        let out = impress(&["validate", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out)
        );
    }
}

#[test]
fn password_file_pointing_at_dev_zero_is_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("deploy.toml");
    let body =
        "[[node]]\nhost = \"127.0.0.1\"\nport = 1\n\n[accounts]\npassword_file = \"/dev/zero\"\n";
    std::fs::write(&target, body).expect("write target");
    let out = impress(&[
        "validate",
        "suites/xmpp-smoke.toml",
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// A SIP step aimed at an XMPP fleet, and a SIP step in a suite without SIP fleets, are
/// usage errors naming the file and the field.
#[test]
fn sip_steps_need_sip_fleets() {
    for (body, why) in [
        (
            format!("{FLEET}\n[[step]]\ndo = \"sip-register\"\nfleet = \"a\"\n"),
            "is not a SIP fleet",
        ),
        (
            format!("{FLEET}\n[[step]]\ndo = \"sip-message\"\n"),
            "has no SIP fleet",
        ),
        (
            format!("{FLEET}transport = \"udp\"\n[[step]]\ndo = \"login\"\n"),
            "for SIP fleets only",
        ),
    ] {
        let f = suite_file(&body);
        let path = f.path().to_str().expect("utf-8");
        let out = impress(&["validate", path]);
        let msg = text(&out);
        assert_eq!(out.status.code(), Some(2), "{msg}");
        assert!(msg.contains(path) && msg.contains(why), "{msg}");
    }
}
