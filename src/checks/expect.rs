//! Known deviations of a target, as data with a reason each (`fixtures/expect/<target>.toml`).
//! A listed check that fails is an expected failure; one that passes is reported as
//! stale, and fails the run so the file gets fixed.

use crate::checks::Verdict;
use crate::report::VerdictRecord;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Check id → why the target is expected to fail it.
    expected_failures: BTreeMap<String, String>,
}

/// The expectation file of one target (possibly empty).
#[derive(Debug, Default, Clone)]
pub struct Expectations {
    reasons: BTreeMap<String, String>,
}

impl Expectations {
    /// No expected failures.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses an expectation file; errors name the file, line and field.
    pub fn parse(path: &Path, text: &str) -> Result<Self, crate::error::Error> {
        let file: File = toml::from_str(text).map_err(|e| crate::error::Error::Config {
            path: path.to_path_buf(),
            message: crate::scenario::describe_toml_error(text, &e),
        })?;
        for id in file.expected_failures.keys() {
            if crate::checks::find(id).is_none() {
                return Err(crate::error::Error::Config {
                    path: path.to_path_buf(),
                    message: format!("expected_failures: unknown check `{id}`"),
                });
            }
        }
        Ok(Self {
            reasons: file.expected_failures,
        })
    }

    /// Adds another target's expected failures (a run with an XMPP and a SIP target).
    pub fn merge(mut self, other: Self) -> Self {
        self.reasons.extend(other.reasons);
        self
    }

    /// Loads the file if it exists; a missing file means no expected failures.
    pub fn load_if_exists(path: &Path) -> Result<Self, crate::error::Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::none()),
            Err(e) => Err(crate::error::Error::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }

    /// Marks `rec` as an expected failure, or as stale when it now passes.
    pub fn apply(&self, rec: &mut VerdictRecord) {
        let Some(reason) = self.reasons.get(&rec.id) else {
            return;
        };
        match rec.verdict {
            Verdict::Fail | Verdict::Warn | Verdict::Error => {
                rec.expected_failure = Some(reason.clone());
            }
            Verdict::Pass => {
                rec.verdict = Verdict::Fail;
                rec.message = format!(
                    "listed as an expected failure ({reason}) but now passes: remove it from the expectation file"
                );
            }
            _ => {}
        }
    }
}
