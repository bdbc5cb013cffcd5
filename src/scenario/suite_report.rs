//! The suite's `[report]` table: how the report is cut in time. Today only `interval`,
//! the length of the per-interval histograms (`<op>.hlog`) and time series.

use super::duration::Dur;
use serde::Deserialize;
use std::time::Duration;

/// Per-interval histograms when the suite says nothing: one second.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Shortest interval: below it every interval histogram costs more than it tells.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Longest interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// `[report]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Length of each per-interval histogram (e.g. `"10s"`); default 1 s.
    #[serde(default)]
    pub interval: Option<toml::Spanned<Dur>>,
}

impl ReportSettings {
    /// The interval to record with.
    pub fn interval(&self) -> Duration {
        self.interval
            .as_ref()
            .map_or(DEFAULT_INTERVAL, |d| d.get_ref().0)
    }

    /// Checks the bounds; the error names the line of `interval` in `text`.
    pub fn validate(&self, text: &str) -> Result<(), String> {
        let Some(d) = &self.interval else {
            return Ok(());
        };
        let v = d.get_ref().0;
        if (MIN_INTERVAL..=MAX_INTERVAL).contains(&v) {
            return Ok(());
        }
        let line = text[..d.span().start.min(text.len())].matches('\n').count() + 1;
        Err(format!(
            "line {line}: [report] field `interval`: {v:?} is out of range ({MIN_INTERVAL:?} to {MAX_INTERVAL:?})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::parse_suite;
    use std::path::Path;
    use std::time::Duration;

    const BASE: &str = "name = \"s\"\n[[fleet]]\nname = \"f\"\nprotocol = \"xmpp\"\nusers = 2\n";

    #[test]
    fn default_is_one_second_and_a_setting_is_read() {
        let s = parse_suite(Path::new("s.toml"), BASE).expect("suite");
        assert_eq!(s.report.interval(), Duration::from_secs(1));
        let text = format!("{BASE}\n[report]\ninterval = \"10s\"\n");
        let s = parse_suite(Path::new("s.toml"), &text).expect("suite");
        assert_eq!(s.report.interval(), Duration::from_secs(10));
    }

    #[test]
    fn bad_intervals_name_file_line_and_field() {
        for (value, want) in [
            ("\"10ms\"", "out of range"),
            ("\"2h\"", "out of range"),
            ("\"soon\"", "invalid duration"),
        ] {
            let text = format!("{BASE}\n[report]\ninterval = {value}\n");
            let e = parse_suite(Path::new("s.toml"), &text)
                .expect_err(value)
                .to_string();
            assert!(e.contains("s.toml"), "{e}");
            assert!(e.contains("line 8"), "{e}");
            assert!(e.contains("interval"), "{e}");
            assert!(e.contains(want), "{e}");
        }
        let text = format!("{BASE}\n[report]\nintervall = \"1s\"\n");
        let e = parse_suite(Path::new("s.toml"), &text)
            .expect_err("typo")
            .to_string();
        assert!(e.contains("intervall"), "{e}");
    }
}
