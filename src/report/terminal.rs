//! (stub)
use super::RunReport;
/// Terminal summary.
pub fn summary(_r: &RunReport) -> String {
    String::new()
}
