//! (stub)
use super::RunReport;
pub(crate) fn render(r: &RunReport) -> Vec<u8> {
    serde_json::to_vec_pretty(r).unwrap_or_default()
}
