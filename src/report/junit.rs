//! (stub)
use super::RunReport;
pub(crate) fn render(_r: &RunReport) -> Vec<u8> {
    Vec::new()
}
