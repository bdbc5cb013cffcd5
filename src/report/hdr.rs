//! (stub)
use crate::metrics::Interval;
pub(crate) fn render_interval_log(_start_unix_ms: u64, _intervals: &[Interval]) -> Vec<u8> {
    Vec::new()
}
