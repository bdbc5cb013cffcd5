//! Sharding one run over several generators: `--shard I/N` keeps the I-th of N slices of
//! every fleet and divides the suite's arrival rates by N; `--start-at TIME` makes the N
//! processes begin their first step at the same instant. `impress merge`
//! ([`crate::report::merge`]) then adds their report directories back together.
//!
//! Users are dealt to slices by pairs of fleet indices: indices `2k` and `2k + 1` (the
//! adjacent messaging partners, users `2k+1` and `2k+2` of the fleet) go to slice
//! `k mod N`. A pair therefore never straddles two generators, and every slice logs in
//! at the same time: login and SIP-register pacing keep each user's slot of the unsharded
//! run, so one slice proceeds at `rate / N` and all of them together at `rate`, each user
//! at the instant an unsharded run would have started it.

use crate::clock;
use crate::events::Events;
use crate::fleet::User;
use crate::report::model::{RunMeta, ShardMeta};
use crate::scenario::suite::{Pairs, Step, Suite};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most slices a run may be cut into.
pub const MAX_SHARDS: usize = 1000;

/// How far in the past `--start-at` may be and still be accepted (the generators were
/// launched together a moment ago); a shard that begins later than this after the agreed
/// instant is reported invalid, since it did not run together with the others.
pub const START_GRACE: Duration = Duration::from_secs(2);

/// `--shard I/N`: slice `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, `1..=count`.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard: expected I/N with 1 <= I <= N, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        if count > MAX_SHARDS {
            return Err(format!("`{s}`: at most {MAX_SHARDS} shards"));
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the user at `index` within its fleet belongs to this slice.
    pub fn owns(self, index: usize) -> bool {
        (index / 2) % self.count == self.index - 1
    }

    /// Fits the suite to one slice: refuses what cannot be split and divides every arrival
    /// rate of the open load model by N. The error names the step.
    pub fn prepare(self, suite: &mut Suite) -> Result<(), String> {
        let n = self.count as f64;
        for (i, step) in suite.steps.iter_mut().enumerate() {
            match step {
                Step::Subscribe(s) if s.pairs == Pairs::Ring && self.count > 1 => {
                    return Err(format!(
                        "step {}: `pairs = \"ring\"` links every user of a fleet to its neighbours, so a ring cannot be cut into shards; use `pairs = \"adjacent\"` or run unsharded",
                        i + 1
                    ));
                }
                s if s.kind().starts_with("muc-") && self.count > 1 => {
                    return Err(format!(
                        "step {} (`{}`): MUC rooms span every user of a fleet and cannot be sharded yet; run unsharded",
                        i + 1,
                        s.kind()
                    ));
                }
                Step::Load(l) => {
                    l.rate = l.rate.map(|r| r / n);
                    l.start_rate = l.start_rate.map(|r| r / n);
                    if let Some(stages) = l.stages.as_mut() {
                        for s in stages {
                            s.rate /= n;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Keeps this slice's users (in order, with their global ids, fleet indices and login
    /// slots unchanged). A slice with no user is refused: its report would be empty.
    pub fn select(self, users: Vec<User>) -> Result<Vec<User>, String> {
        let total = users.len();
        let mine: Vec<User> = users.into_iter().filter(|u| self.owns(u.index)).collect();
        if mine.is_empty() {
            return Err(format!(
                "shard {self} has no users: the suite's {total} users make fewer than {} pairs; use fewer shards",
                self.count
            ));
        }
        Ok(mine)
    }
}

/// The run's time origin: `now` or, with `--start-at`, the monotonic instant of that wall
/// time, so every shard's intervals are cut on the same grid.
pub fn origin(now: Instant, wall: SystemTime, start_at: Option<SystemTime>) -> Instant {
    let Some(at) = start_at else { return now };
    match at.duration_since(wall) {
        Ok(ahead) => now + ahead,
        Err(e) => now.checked_sub(e.duration()).unwrap_or(now),
    }
}

/// Records the shard, the agreed start and the interval in the report metadata.
pub fn stamp(
    meta: &mut RunMeta,
    shard: Option<Shard>,
    start_at: Option<SystemTime>,
    interval: Duration,
) {
    meta.shard = shard.map(|s| ShardMeta {
        index: s.index,
        count: s.count,
    });
    meta.interval_ms = interval.as_millis() as u64;
    if let Some(at) = start_at {
        meta.start_at_unix_ms = Some(unix_ms(at));
        meta.started_unix_ms = unix_ms(at);
    }
}

/// Waits for the agreed start (after start-up) and marks it on the timeline. A shard
/// whose start-up ended more than [`START_GRACE`] after it did not begin with the others:
/// the reason is returned so the run is reported invalid (its data is still recorded).
pub async fn wait_for_start(at: Instant, events: &Events) -> Option<String> {
    let now = clock::now();
    if now <= at {
        tokio::time::sleep_until(at.into()).await;
        events.mark("start-at".to_string());
        return None;
    }
    let late = now - at;
    events.mark(format!("start-at (late by {} ms)", late.as_millis()));
    (late > START_GRACE).then(|| {
        format!(
            "began {:.1} s after --start-at (start-up took longer): this shard did not run together with the others",
            late.as_secs_f64()
        )
    })
}

/// Parses `--start-at`: an RFC 3339 time (`2026-11-22T18:30:00Z`, offsets and fractions
/// allowed), Unix seconds (`1795000000`, fractions allowed) or `+DURATION` from `now`
/// (`+10s`). A time more than [`START_GRACE`] before `now` is refused.
pub fn parse_start_at(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let s = s.trim();
    let at = if let Some(d) = s.strip_prefix('+') {
        now + crate::scenario::duration::parse(d)?
    } else if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !s.is_empty() {
        let secs: f64 = s
            .parse()
            .map_err(|_| format!("`{s}` is not a number of Unix seconds"))?;
        UNIX_EPOCH
            + Duration::try_from_secs_f64(secs)
                .map_err(|e| format!("`{s}` is not a number of Unix seconds: {e}"))?
    } else {
        parse_rfc3339(s).ok_or_else(|| {
            format!(
                "`{s}` is not a time: give RFC 3339 (2026-11-22T18:30:00Z), Unix seconds, or +DURATION (+10s)"
            )
        })?
    };
    if at + START_GRACE < now {
        let ago = now.duration_since(at).unwrap_or_default();
        return Err(format!(
            "--start-at `{s}` is {:.1} s in the past; give a time ahead (e.g. +10s)",
            ago.as_secs_f64()
        ));
    }
    Ok(at)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `t`, `z` and a space separator are accepted too.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let frac = &f[..digits.min(9)];
        nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
        rest = &f[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && o.as_bytes()[3] == b':' => {
            let sign = match o.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = o.get(1..3)?.parse().ok()?;
            let om: i64 = o.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_suite;
    use std::path::Path;

    fn shard(s: &str) -> Shard {
        s.parse().expect("shard")
    }

    #[test]
    fn parses_and_refuses_shard_specs() {
        assert_eq!(shard("2/3"), Shard { index: 2, count: 3 });
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", "1/1001"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn slices_partition_every_index_and_keep_pairs_together() {
        for n in 1..=5 {
            for index in 0..40 {
                let owners: Vec<usize> = (1..=n)
                    .filter(|&i| Shard { index: i, count: n }.owns(index))
                    .collect();
                assert_eq!(owners.len(), 1, "index {index} of {n} shards");
                // Adjacent partners (2k, 2k+1) land on the same slice.
                let partner = index ^ 1;
                assert!(
                    Shard {
                        index: owners[0],
                        count: n
                    }
                    .owns(partner)
                );
            }
        }
        // 12 users over 3 shards: 4 each, pairs dealt round robin.
        let mine: Vec<usize> = (0..12).filter(|&i| shard("2/3").owns(i)).collect();
        assert_eq!(mine, vec![2, 3, 8, 9]);
    }

    const SUITE: &str = "name = \"s\"\n[[fleet]]\nname = \"f\"\nprotocol = \"xmpp\"\nusers = 6\n\n[[step]]\ndo = \"login\"\n\n[[step]]\ndo = \"load\"\nmodel = \"open\"\nstart_rate = 3\nstages = [{ rate = 30, duration = \"1s\" }, { rate = 6, duration = \"1s\" }]\n";

    #[test]
    fn prepare_divides_open_rates_and_refuses_rings() {
        let mut suite = parse_suite(Path::new("s.toml"), SUITE).expect("suite");
        shard("1/3").prepare(&mut suite).expect("splits");
        let Step::Load(l) = &suite.steps[1] else {
            panic!("load step")
        };
        assert_eq!(l.start_rate, Some(1.0));
        let rates: Vec<f64> = l
            .stages
            .as_ref()
            .expect("stages")
            .iter()
            .map(|s| s.rate)
            .collect();
        assert_eq!(rates, vec![10.0, 2.0]);

        let ring = SUITE.replace("do = \"login\"", "do = \"subscribe\"\npairs = \"ring\"");
        let mut suite = parse_suite(Path::new("s.toml"), &ring).expect("suite");
        let e = shard("1/2").prepare(&mut suite).expect_err("ring refused");
        assert!(e.contains("step 1") && e.contains("ring"), "{e}");
        // One shard is the whole fleet: a ring stays whole.
        assert!(shard("1/1").prepare(&mut suite).is_ok());
    }

    #[test]
    fn start_at_accepts_rfc3339_unix_and_relative() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let p = |s| parse_start_at(s, now).map(unix_ms);
        assert_eq!(p("1795000010"), Ok(1_795_000_010_000));
        assert_eq!(p("1795000010.5"), Ok(1_795_000_010_500));
        assert_eq!(p("+10s"), Ok(1_795_000_010_000));
        // 1_795_000_000 is 2026-11-18T11:06:40Z.
        assert_eq!(p("2026-11-18T11:06:50Z"), Ok(1_795_000_010_000));
        assert_eq!(p("2026-11-18T12:06:50.25+01:00"), Ok(1_795_000_010_250));
        // A moment ago is fine; long ago is a mistake.
        assert!(p("1794999999").is_ok());
        let e = p("2026-11-18T11:00:00Z").expect_err("past");
        assert!(e.contains("in the past"), "{e}");
        for bad in [
            "tomorrow",
            "2026-13-01T00:00:00Z",
            "2026-11-18T11:06:50",
            "+5 parsecs",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
