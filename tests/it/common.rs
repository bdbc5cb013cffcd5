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
