//! Durations in suite files: `"250ms"`, `"5s"`, `"2m"`, `"1h"`, or a number of seconds.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// A duration written the way load-test users write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
}

/// Parses `"250ms"`, `"1.5s"`, `"2m"`, `"1h"`.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration `{s}`: expected e.g. \"250ms\", \"5s\", \"2m\""))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit `{other}` in `{s}`: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Secs(f64),
        }
        // untagged is confined to this scalar: both forms are unambiguous.
        match Raw::deserialize(d)? {
            Raw::Text(s) => parse(&s).map(Dur).map_err(serde::de::Error::custom),
            Raw::Secs(n) => Duration::try_from_secs_f64(n)
                .map(Dur)
                .map_err(|e| serde::de::Error::custom(format!("invalid duration {n}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_garbage() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert!(parse("5 parsecs").is_err());
        assert!(parse("").is_err());
    }
}
