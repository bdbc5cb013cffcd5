//! `impress compare` on real runs: a verdict regression (Prosody without mod_ping against
//! a good baseline) and an injected latency regression, with the threshold and exit codes.

use crate::common::{impress, run, text};
use std::path::Path;

const MINI: &str = "tests/it/data/mini.toml";

fn compare(old: &Path, new: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "compare",
        old.to_str().expect("utf-8"),
        new.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    impress(&args)
}

/// Copies a report directory's `report.json` with the login p99 multiplied by `factor`.
fn slower_login(from: &Path, to: &Path, factor: f64) {
    let json = std::fs::read_to_string(from.join("report.json")).expect("report.json");
    let mut v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let p99 = &mut v["ops"]["login"]["p99_us"];
    let slower = (p99.as_f64().expect("login p99") * factor) as u64 + 5_000;
    *p99 = slower.into();
    std::fs::create_dir_all(to).expect("dir");
    std::fs::write(to.join("report.json"), v.to_string()).expect("write");
}

#[test]
fn compare_flags_verdict_and_latency_regressions() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (good, bad) = (tmp.path().join("good"), tmp.path().join("bad"));
    let g = run(MINI, "managed:prosody", &good);
    assert_eq!(g.status.code(), Some(0), "{}", text(&g));
    let b = run(
        MINI,
        "fixtures/targets/violations/prosody-no-ping.toml",
        &bad,
    );
    assert_eq!(b.status.code(), Some(1), "{}", text(&b));

    let same = compare(&good, &good, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(text(&same).contains("result: no regression"));

    let worse = compare(&good, &bad, &[]);
    let msg = text(&worse);
    assert_eq!(worse.status.code(), Some(1), "{msg}");
    assert!(
        msg.contains("REGRESSED  xmpp/xep-0199/4.2-server-ping") && msg.contains("pass -> fail"),
        "{msg}"
    );
    // The other way round it is a fix, not a regression (latency aside, which the huge
    // threshold ignores).
    let fixed = compare(&bad, &good, &["--threshold", "100000"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed));
    assert!(text(&fixed).contains("FIXED"));

    // Injected latency regression: login p99 tripled (plus 5 ms, above the noise floor).
    let slow = tmp.path().join("slow");
    slower_login(&good, &slow, 3.0);
    let lat = compare(&good, &slow, &[]);
    let msg = text(&lat);
    assert_eq!(lat.status.code(), Some(1), "{msg}");
    assert!(
        msg.lines()
            .any(|l| l.starts_with("login") && l.ends_with("REGRESSED")),
        "{msg}"
    );
    let tolerant = compare(&good, &slow, &["--threshold", "1000"]);
    assert_eq!(tolerant.status.code(), Some(0), "{}", text(&tolerant));

    // Unreadable input and bad options are usage errors.
    let missing = compare(&good, &tmp.path().join("nope"), &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("report.json"));
    let negative = compare(&good, &good, &["--threshold", "-5"]);
    assert_eq!(negative.status.code(), Some(2), "{}", text(&negative));
}
