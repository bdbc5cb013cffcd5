//! HA client re-login limits: how long a client waits before logging in again after its
//! node fails (seed research §1.11 HA-06, §2.2, §2.5; seed 004 Appendix A, "High
//! Availability Client Login Profiles", `004:8174-8498`, repeated as Appendix B).
//!
//! Each client waits a random time uniform in `[lower, upper]`, so N clients reach the
//! surviving node over `upper - lower` seconds: at the rate R (logins per second) that a
//! node of that size absorbs. Every row of the seed's twelve login-profile tables follows
//!
//! ```text
//! upper = lower + round_half_up(N / R)
//! ```
//!
//! with `lower = 120` and R = 1.5, 3, 3, 6, 15 logins/s for the 500 … 15000-user profiles
//! and 9 (active/active) or 16 (active/standby) for 25000 users ([`SEED_PROFILES`]).
//!
//! The lower limit is the Critical Service Down Delay ("The lower retry limit should be set
//! to this value", `004:8215`), whose product default is 90 s ([`SERVICE_DOWN_DELAY_DEFAULT`])
//! — yet every table row says 120, and the worked example explains "The lower limit of 120
//! assumes the Critical Service Down Delay service parameter is set to 120" (`004:8235`).
//! [`TABLE_LOWER`] (120) is therefore the default here, so the tables come out as printed.
//!
//! Arithmetic is exact: the rate is a decimal with up to six places, kept in millionths, so
//! `N / R` is rounded from a rational, never from a float (120 + 25000/16 = 1682.5 → 1683;
//! 120 + 100/16 = 126.25 → 126, which also rules out a ceiling).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The lower limit in every row of the seed's tables, in seconds (`004:8235`).
pub const TABLE_LOWER: u64 = 120;
/// The product default of the Critical Service Down Delay, in seconds (`004:8193`).
pub const SERVICE_DOWN_DELAY_DEFAULT: u64 = 90;

/// Millionths per unit: the rate's fixed-point scale.
const MICRO: u64 = 1_000_000;

/// A login rate in logins per second: positive, exact to six decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoginRate {
    micro: u64,
}

/// Why a rate does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Not a plain decimal number.
    #[error("`{0}` is not a login rate (logins per second, e.g. 15 or 1.5)")]
    Syntax(String),
    /// Zero (no one could ever log in again).
    #[error("the login rate must be greater than 0")]
    Zero,
    /// More than six decimal places, or too large.
    #[error("`{0}` is out of range (at most six decimal places)")]
    Range(String),
}

impl LoginRate {
    /// A rate of `micro` millionths of a login per second; `None` for 0.
    pub const fn from_micros(micro: u64) -> Option<Self> {
        if micro == 0 {
            None
        } else {
            Some(Self { micro })
        }
    }

    /// The rate in millionths of a login per second.
    pub const fn micros(self) -> u64 {
        self.micro
    }

    /// The rate as a float, for display and JSON.
    pub fn per_second(self) -> f64 {
        self.micro as f64 / MICRO as f64
    }
}

impl FromStr for LoginRate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Self, RateError> {
        let t = s.trim();
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(RateError::Syntax(s.to_owned()));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 6 {
            return Err(RateError::Range(s.to_owned()));
        }
        let whole: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| RateError::Range(s.to_owned()))?
        };
        let part: u64 = format!("{frac:0<6}").parse().unwrap_or(0);
        let micro = whole
            .checked_mul(MICRO)
            .and_then(|w| w.checked_add(part))
            .ok_or_else(|| RateError::Range(s.to_owned()))?;
        Self::from_micros(micro).ok_or(RateError::Zero)
    }
}

impl fmt::Display for LoginRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, part) = (self.micro / MICRO, self.micro % MICRO);
        if part == 0 {
            return write!(f, "{whole}");
        }
        let frac = format!("{part:06}");
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl Serialize for LoginRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.per_second())
    }
}

/// `N / R` in whole seconds, rounded half up: the spread of the re-login window.
pub fn spread_secs(users: u64, rate: LoginRate) -> u64 {
    let (n, r) = (u128::from(users), u128::from(rate.micro));
    // floor(N·10⁶/r + ½) = floor((2·N·10⁶ + r) / 2r), exact in integers.
    let spread = (2 * n * u128::from(MICRO) + r) / (2 * r);
    u64::try_from(spread).unwrap_or(u64::MAX)
}

/// The re-login limits for one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReloginLimits {
    /// Users that log in again (A/S: all users of the pair; A/A: the fuller node).
    pub users: u64,
    /// Logins per second the surviving node absorbs.
    #[serde(rename = "rate_per_second")]
    pub rate: LoginRate,
    /// Client Re-Login Lower Limit, seconds (= the Critical Service Down Delay).
    #[serde(rename = "lower_secs")]
    pub lower: u64,
    /// Client Re-Login Upper Limit, seconds: about when every client is back.
    #[serde(rename = "upper_secs")]
    pub upper: u64,
}

impl ReloginLimits {
    /// `lower = service_down_delay`, `upper = lower + round_half_up(users / rate)`.
    pub fn compute(users: u64, rate: LoginRate, service_down_delay: u64) -> Self {
        Self {
            users,
            rate,
            lower: service_down_delay,
            upper: service_down_delay.saturating_add(spread_secs(users, rate)),
        }
    }

    /// `upper - lower`: the window over which re-logins spread.
    pub fn spread(&self) -> u64 {
        self.upper - self.lower
    }

    /// The mean re-login arrival rate the limits imply, `N / (upper - lower)` per second
    /// (R up to rounding); `None` when the window is empty.
    pub fn expected_arrival_rate(&self) -> Option<f64> {
        let spread = self.spread();
        (spread > 0).then(|| self.users as f64 / spread as f64)
    }

    /// What `impress ha-profile --json` prints: the limits, their spread, and the seed
    /// profile the rate came from (`null` when given directly).
    pub fn to_json(&self, profile: Option<&SeedProfile>) -> serde_json::Value {
        serde_json::json!({
            "users": self.users,
            "rate_per_second": self.rate,
            "service_down_delay_secs": self.lower,
            "lower_secs": self.lower,
            "upper_secs": self.upper,
            "spread_secs": self.spread(),
            "profile": profile.map(|p| p.name),
        })
    }

    /// The small table `impress ha-profile` prints, laid out like the seed's tables.
    pub fn render(&self) -> String {
        let head = [
            "Expected active users",
            "Login rate (/s)",
            "Lower retry limit (s)",
            "Upper retry limit (s)",
        ];
        let row = [
            self.users.to_string(),
            self.rate.to_string(),
            self.lower.to_string(),
            self.upper.to_string(),
        ];
        let widths: Vec<usize> = head
            .iter()
            .zip(&row)
            .map(|(h, v)| h.len().max(v.len()))
            .collect();
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let padded: Vec<String> = cells
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            padded.join("  ") + "\n"
        };
        let mut out = line(&mut head.iter().copied());
        out += &line(&mut row.iter().map(String::as_str));
        out.push_str(&format!(
            "\nlower = critical service down delay; upper = lower + N/R rounded half up.\n\
             Clients wait uniformly in [{}, {}] s: re-logins arrive at about {}/s.\n",
            self.lower, self.upper, self.rate
        ));
        out
    }
}

/// Active/active or active/standby (seed 004 §"High Availability Login Profiles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HaType {
    /// Users balanced over both nodes: N is the fuller node's count.
    ActiveActive,
    /// All users on one node: N is every user of the pair.
    ActiveStandby,
}

/// One of the seed's login-profile tables, reduced to its login rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedProfile {
    /// Short name, e.g. `15000-aa`.
    pub name: &'static str,
    /// The seed's hardware heading.
    pub hardware: &'static str,
    /// HA deployment type.
    pub ha: HaType,
    /// The login rate every row of the table follows.
    pub rate: LoginRate,
    /// The table's last row (A/A tables stop at half the profile's users).
    pub max_users: u64,
    /// The table's number in Appendix A (Appendix B repeats it as number + 12).
    pub table: u32,
}

const fn rate(micro: u64) -> LoginRate {
    LoginRate { micro }
}

macro_rules! profiles {
    ($($name:literal, $hw:literal, $ha:ident, $micro:literal, $max:literal, $table:literal;)*) => {
        /// The twelve tables of seed 004 Appendix A (`004:8247-8497`).
        pub const SEED_PROFILES: &[SeedProfile] = &[$(SeedProfile {
            name: $name, hardware: $hw, ha: HaType::$ha, rate: rate($micro),
            max_users: $max, table: $table,
        }),*];
    };
}

profiles! {
    "500-aa", "500 Users Full UC (1vCPU 700MHz 2GB)", ActiveActive, 1_500_000, 250, 60;
    "500-as", "500 Users Full UC (1vCPU 700MHz 2GB)", ActiveStandby, 1_500_000, 500, 61;
    "1000-aa", "1000 Users Full UC (1vCPU 1500MHz 2GB)", ActiveActive, 3_000_000, 500, 62;
    "1000-as", "1000 Users Full UC (1vCPU 1500MHz 2GB)", ActiveStandby, 3_000_000, 1000, 63;
    "2000-aa", "2000 Users Full UC (1vCPU 1500Mhz 4GB)", ActiveActive, 3_000_000, 1000, 64;
    "2000-as", "2000 Users Full UC (1vCPU 1500Mhz 4GB)", ActiveStandby, 3_000_000, 2000, 65;
    "5000-aa", "5000 Users Full UC (4 GB 2vCPU)", ActiveActive, 6_000_000, 2500, 66;
    "5000-as", "5000 Users Full UC (4 GB 2vCPU)", ActiveStandby, 6_000_000, 5000, 67;
    "15000-aa", "15000 Users Full UC (4 vCPU 8GB)", ActiveActive, 15_000_000, 7500, 68;
    "15000-as", "15000 Users Full UC (4 vCPU 8GB)", ActiveStandby, 15_000_000, 15000, 69;
    "25000-aa", "25000 Users Full UC (6 vCPU 16GB)", ActiveActive, 9_000_000, 12500, 70;
    "25000-as", "25000 Users Full UC (6 vCPU 16GB)", ActiveStandby, 16_000_000, 25000, 71;
}

/// The seed profile called `name` (case-insensitive), e.g. `15000-aa`.
pub fn seed_profile(name: &str) -> Option<&'static SeedProfile> {
    SEED_PROFILES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
