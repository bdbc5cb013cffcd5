//! Report writers. They consume only the collector's final model ([`RunOutput`]) and
//! never talk to sessions or servers. [`compare`] reads two finished reports back.

mod accounting;
mod calibration;
pub mod compare;
mod hdr;
mod html;
mod json;
mod junit;
pub mod merge;
mod merge_io;
#[cfg(test)]
mod merge_tests;
pub mod model;
mod plots;
mod recovery;
mod svg;
mod terminal;

pub use model::{RunOutput, RunReport, RunStatus, SCHEMA_VERSION, VerdictRecord};
pub use terminal::summary as terminal_summary;

use std::path::{Path, PathBuf};

/// Failure to write or read a report file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report directory or a file in it could not be written.
    #[error("failed to write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A `report.json` could not be read back (missing, not JSON, other schema).
    #[error("failed to read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Writes `report.json`, `junit.xml`, `report.html`, one `<op>.hlog` per operation,
/// `service.hlog` and `series.json` (for `impress merge`) into
/// `dir` (created if missing). Each file is written to a temporary name and renamed, so a
/// reader never sees half a file. Returns the paths written.
pub fn write_all(dir: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = vec![
        write_atomic(&dir.join("report.json"), &json::render(&out.report))?,
        write_atomic(&dir.join("junit.xml"), &junit::render(&out.report))?,
        write_atomic(&dir.join("report.html"), html::render(out).as_bytes())?,
    ];
    for (op, intervals) in &out.intervals {
        let bytes = hdr::render_interval_log(out.report.run.started_unix_ms, intervals);
        written.push(write_atomic(
            &dir.join(format!("{}.hlog", op.name())),
            &bytes,
        )?);
    }
    // What `impress merge` needs beyond the above to add reports without loss.
    written.extend(merge_io::write(dir, out)?);
    Ok(written)
}

/// Reads `report.json` from a report directory, refusing other schema versions.
pub fn read_report(dir: &Path) -> Result<RunReport, ReportError> {
    let path = dir.join("report.json");
    let fail = |message: String| ReportError::Read {
        path: path.clone(),
        message,
    };
    let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(SCHEMA_VERSION)) {
        return Err(fail(format!(
            "schema version {version:?} is not {SCHEMA_VERSION}"
        )));
    }
    serde_json::from_value(value).map_err(|e| fail(format!("not a report: {e}")))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<PathBuf, ReportError> {
    let tmp = path.with_extension("tmp");
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(path.to_path_buf())
}
