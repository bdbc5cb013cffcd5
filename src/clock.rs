//! The only place that reads the system clock; everything else takes `now` as a value.

use std::time::{Instant, SystemTime};

/// Monotonic time now.
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time now (for report metadata only).
pub fn wall() -> SystemTime {
    SystemTime::now()
}
