//! Suite model of `do = "calibrate-login"`: stages of offered login rates that find the
//! rate a target sustains (the knee where login latency climbs) and suggest a HA re-login
//! profile for it (`upper = lower + N/R`, seed research §2.5). README "Login calibration".

use super::duration::Dur;
use crate::ha::profile::{LoginRate, TABLE_LOWER};
use serde::Deserialize;
use std::time::Duration;

/// Highest offered rate accepted, logins per second (a typo must not open 10⁹ sockets).
pub const MAX_RATE: f64 = 100_000.0;

/// `do = "calibrate-login"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrateStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet (default: every XMPP user).
    #[serde(default)]
    pub fleet: Option<String>,
    /// Offered login rates, logins per second, strictly increasing: one stage each.
    pub rates: Vec<f64>,
    /// Length of each stage.
    #[serde(default = "five_seconds")]
    pub stage: Dur,
    /// Users the suggested profile plans for (default: the users in the step).
    #[serde(default)]
    pub users: Option<u64>,
    /// Critical Service Down Delay = the suggested lower limit, whole seconds.
    #[serde(default = "table_lower")]
    pub service_down_delay: Dur,
    /// A stage passes only while its login p99 stays within this factor of the baseline.
    #[serde(default = "three")]
    pub max_p99_factor: f64,
    /// The baseline is the first stage's p99, but never below this (local noise).
    #[serde(default = "fifty_ms")]
    pub p99_floor: Dur,
    /// A stage passes only if it achieved at least this share of its offered rate.
    #[serde(default = "ninety_percent")]
    pub min_achieved: f64,
}

fn five_seconds() -> Dur {
    Dur::from_secs(5)
}

fn table_lower() -> Dur {
    Dur::from_secs(TABLE_LOWER)
}

fn three() -> f64 {
    3.0
}

fn fifty_ms() -> Dur {
    Dur(Duration::from_millis(50))
}

fn ninety_percent() -> f64 {
    0.9
}

impl CalibrateStep {
    /// The offered rates as exact login rates (valid once [`CalibrateStep::invalid`] is
    /// `None`; a rate below a millionth per second is left out).
    pub fn login_rates(&self) -> Vec<LoginRate> {
        self.rates.iter().filter_map(|r| rate_of(*r)).collect()
    }

    /// Why the fields are unusable, if they are (named by field).
    pub fn invalid(&self) -> Option<String> {
        if self.rates.is_empty() {
            return Some("field `rates` must list at least one login rate".into());
        }
        let bad = |r: f64| !(r.is_finite() && r > 0.0 && r <= MAX_RATE) || rate_of(r).is_none();
        if let Some(r) = self.rates.iter().find(|r| bad(**r)) {
            return Some(format!(
                "field `rates`: {r} is not a login rate (positive, at most {MAX_RATE}/s)"
            ));
        }
        if self.rates.windows(2).any(|w| w[1] <= w[0]) {
            return Some("field `rates` must be strictly increasing".into());
        }
        let stage = self.stage.0.as_secs_f64();
        if self.rates.iter().any(|r| r * stage < 1.0) {
            return Some(
                "field `stage` is too short: every rate must offer at least one login".into(),
            );
        }
        if self.users == Some(0) {
            return Some("field `users` must be at least 1".into());
        }
        if self.service_down_delay.0.subsec_nanos() != 0 {
            return Some("field `service_down_delay` must be whole seconds (e.g. \"120s\")".into());
        }
        if !(self.max_p99_factor.is_finite() && self.max_p99_factor >= 1.0) {
            return Some("field `max_p99_factor` must be a number ≥ 1".into());
        }
        if !(self.min_achieved > 0.0 && self.min_achieved <= 1.0) {
            return Some("field `min_achieved` must be in (0, 1]".into());
        }
        None
    }
}

/// `r` logins/s as an exact rate, rounded to millionths (`None` when that is 0).
fn rate_of(r: f64) -> Option<LoginRate> {
    LoginRate::from_micros((r * 1e6).round() as u64)
}

/// A parsed `calibrate-login` step, validated; errors name the step's line and the field.
pub fn calibrate_step(c: CalibrateStep, line: usize) -> Result<super::suite::Step, String> {
    match c.invalid() {
        Some(m) => Err(format!("line {line}: step `calibrate-login`: {m}")),
        None => Ok(super::suite::Step::CalibrateLogin(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(extra: &str) -> Result<CalibrateStep, toml::de::Error> {
        toml::from_str(&format!("do = \"calibrate-login\"\n{extra}"))
    }

    #[test]
    fn defaults_follow_ha_profile() {
        let s = step("rates = [5, 10.5]").unwrap();
        assert_eq!(s.stage, Dur::from_secs(5));
        assert_eq!(s.service_down_delay, Dur::from_secs(120));
        assert_eq!(s.max_p99_factor, 3.0);
        assert_eq!(s.invalid(), None);
        let r: Vec<String> = s.login_rates().iter().map(ToString::to_string).collect();
        assert_eq!(r, ["5", "10.5"]);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("rates = []", "`rates`"),
            ("rates = [10, 5]", "strictly increasing"),
            ("rates = [0]", "`rates`"),
            ("rates = [0.1]\nstage = \"2s\"", "`stage`"),
            ("rates = [5]\nusers = 0", "`users`"),
            (
                "rates = [5]\nservice_down_delay = \"1.5s\"",
                "`service_down_delay`",
            ),
            ("rates = [5]\nmax_p99_factor = 0.5", "`max_p99_factor`"),
            ("rates = [5]\nmin_achieved = 1.5", "`min_achieved`"),
        ];
        for (text, want) in cases {
            let why = step(text).unwrap().invalid().unwrap_or_default();
            assert!(why.contains(want), "{text}: {why}");
        }
        assert!(
            step("rates = [5]\nspeed = 1").is_err(),
            "unknown fields are errors"
        );
    }
}
