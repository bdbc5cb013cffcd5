//! Suite and target files: serde models (`deny_unknown_fields`), loaders whose errors name
//! the file, line and field, and resolution of suite + target + CLI into a [`RunPlan`].

/// Renders a TOML error as `line L, column C: field `k`: <what>`. serde names the field
/// for unknown or missing fields; for a wrong value the key is read off the error's line.
pub fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim_end().to_string();
    let Some(span) = e.span() else { return msg };
    let (line, col) = line_col(text, span.start);
    match key_at(text, span.start).filter(|_| !msg.contains("field `")) {
        Some(key) => format!("line {line}, column {col}: field `{key}`: {msg}"),
        None => format!("line {line}, column {col}: {msg}"),
    }
}

/// The key of a `key = value` line containing `offset`, if it is one.
pub(crate) fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let (key, _) = text[start..end].split_once('=')?;
    let key = key.trim().trim_matches('"');
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    plain.then(|| key.to_string())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub mod duration;
pub mod plan;
pub mod secret;
pub mod suite;
pub mod suite_calibrate;
pub mod suite_failover;
pub mod suite_forking;
pub mod suite_load;
pub mod suite_muc;
pub mod suite_offline;
pub mod suite_report;
pub mod suite_sip;
pub mod target;

pub use plan::{
    Endpoint, RunPlan, TargetPlan, load_suite, load_target, parse_suite, selected_checks,
};
pub use secret::Secret;
