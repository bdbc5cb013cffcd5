//! Helpers: run the real `impress` binary and read what it wrote.

use impress::checks::Verdict;
use impress::report::RunReport;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate root, so tests find suites and fixtures wherever they run from.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `impress` with `args` and returns its output.
pub fn impress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_impress"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the impress binary runs")
}

/// Runs a suite against a target into a fresh report directory.
pub fn run(suite: &str, target: &str, out: &Path) -> Output {
    impress(&[
        "run",
        suite,
        "--target",
        target,
        "--out",
        out.to_str().expect("utf-8 path"),
    ])
}

/// Reads `report.json` from a report directory.
pub fn report(dir: &Path) -> RunReport {
    let bytes = std::fs::read(dir.join("report.json")).expect("report.json written");
    serde_json::from_slice(&bytes).expect("report.json follows the schema")
}

/// The verdict of one check in a report.
pub fn verdict(r: &RunReport, id: &str) -> Verdict {
    r.verdicts
        .iter()
        .find(|v| v.id == id)
        .unwrap_or_else(|| panic!("no verdict {id}"))
        .verdict
}

/// Both streams of a process, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A named counter of a report (0 when absent).
pub fn counter(r: &RunReport, name: &str) -> u64 {
    r.counters.get(name).copied().unwrap_or(0)
}

/// Runs a suite against a target, asserts the exit code, and returns the report, the
/// process output (for assertion messages) and the report directory (kept while it lives).
pub fn run_expecting(
    suite: &str,
    target: &str,
    code: i32,
) -> (RunReport, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(suite, target, dir.path());
    let msg = text(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{suite} against {target}: {msg}"
    );
    (report(dir.path()), msg, dir)
}

/// Peak RSS of a process in bytes (`VmHWM`), if it still exists.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kb = kb.trim().trim_end_matches("kB").trim();
    Some(kb.parse::<u64>().ok()? * 1024)
}

/// Runs `impress run --quiet SUITE --target TARGET --out OUT`, sampling its peak RSS, and
/// kills it (failing the test) past `limit`. Returns its output, peak RSS and run time.
pub fn run_watched(
    suite: &Path,
    target: &Path,
    out: &Path,
    limit: std::time::Duration,
) -> (Output, u64, std::time::Duration) {
    let t0 = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_impress"))
        .args(["run", "--quiet"])
        .arg(suite)
        .arg("--target")
        .arg(target)
        .arg("--out")
        .arg(out)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn impress");
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("{}: impress still running after {limit:?}", suite.display());
        }
        peak = peak.max(peak_rss(child.id()).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let elapsed = t0.elapsed();
    (child.wait_with_output().expect("output"), peak, elapsed)
}
