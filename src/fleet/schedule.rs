//! Load schedules, pure: when each virtual user acts and what it does, as offsets from the
//! start of a load step. No clock and no I/O — the runner (`fleet::load`) asks a
//! [`Planner`] for the next action, sleeps until its intended time and measures lateness.
//!
//! Both models run through the same [`Planner::next`]:
//! - **closed**: each user acts, waits for the outcome, thinks, acts again; the next
//!   intended time is the previous completion plus a think time. Users join linearly over
//!   `ramp_up` and leave (last joined first) over `ramp_down`.
//! - **open**: actions arrive at a fleet-wide rate that ramps linearly from stage to stage
//!   (k6's ramping arrival rate), regardless of completions. The fleet's arrivals are the
//!   superposition of one stream per user: for constant arrivals user `p` of `N` takes
//!   arrivals `p, p + N, p + 2N, …` of the fleet's evenly spaced sequence; for Poisson
//!   arrivals each user is a Poisson process of rate λ(t)/N, whose sum is Poisson of rate
//!   λ(t). Arrival times come from the cumulative intensity Λ(t) = ∫λ: the arrival at
//!   intensity `a` happens at Λ⁻¹(a).

use super::rng::UserRng;
use std::time::Duration;

/// Longest think time drawn: a distribution's far tail must not park a user for ever (or
/// overflow a `Duration`).
pub const MAX_THINK: Duration = Duration::from_secs(24 * 3600);

/// A think-time distribution (closed model).
#[derive(Debug, Clone, PartialEq)]
pub enum Think {
    /// Always the same.
    Constant(Duration),
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Exponential (memoryless) with this mean.
    Exponential {
        /// Mean.
        mean: Duration,
    },
    /// Normal, truncated at zero.
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
    /// Log-normal with this mean and standard deviation of the think time itself (not of
    /// its logarithm).
    LogNormal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Seconds as a duration, clamped to `[0, MAX_THINK]` (NaN gives zero).
fn clamp_secs(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s).map_or(MAX_THINK, |d| d.min(MAX_THINK))
}

impl Think {
    /// Draws one think time.
    pub fn sample(&self, rng: &mut UserRng) -> Duration {
        match *self {
            Self::Constant(d) => d,
            Self::Uniform { min, max } => {
                clamp_secs(secs(min) + (secs(max) - secs(min)) * rng.unit())
            }
            Self::Exponential { mean } => clamp_secs(secs(mean) * rng.standard_exponential()),
            Self::Normal { mean, stddev } => {
                clamp_secs(secs(mean) + secs(stddev) * rng.standard_normal())
            }
            Self::LogNormal { mean, stddev } => {
                let (m, s) = (secs(mean), secs(stddev));
                if m <= 0.0 {
                    return Duration::ZERO;
                }
                // The log-normal whose mean is m and standard deviation s.
                let var = (1.0 + (s * s) / (m * m)).ln();
                let mu = m.ln() - var / 2.0;
                clamp_secs((mu + var.sqrt() * rng.standard_normal()).exp())
            }
        }
    }

    /// The distribution's mean (for logs and sizing).
    pub fn mean(&self) -> Duration {
        match *self {
            Self::Constant(d) => d,
            Self::Uniform { min, max } => (min + max) / 2,
            Self::Exponential { mean }
            | Self::Normal { mean, .. }
            | Self::LogNormal { mean, .. } => mean,
        }
    }
}

/// How open-model actions arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Evenly spaced at the current rate.
    Constant,
    /// A Poisson process at the current rate (exponential gaps).
    Poisson,
}

/// One ramping stage: the rate moves linearly to `rate` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Target rate at the end of the stage, in actions per second across the fleet.
    pub rate: f64,
    /// Length of the stage.
    pub duration: Duration,
}

/// A piecewise-linear arrival rate λ(t).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Rate at t = 0.
    pub start_rate: f64,
    /// Stages, in order.
    pub stages: Vec<Stage>,
}

impl Profile {
    /// Total length.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// Expected number of actions across the fleet: Λ at the end.
    pub fn total(&self) -> f64 {
        self.segments()
            .map(|(_, r0, r1, d)| (r0 + r1) / 2.0 * d)
            .sum()
    }

    /// (start, rate at start, rate at end, length) of every stage, in seconds.
    fn segments(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        let mut t0 = 0.0;
        let mut r0 = self.start_rate;
        self.stages.iter().map(move |s| {
            let seg = (t0, r0, s.rate, secs(s.duration));
            t0 += seg.3;
            r0 = s.rate;
            seg
        })
    }

    /// Λ⁻¹: the time (seconds) at which the cumulative intensity reaches `area`, or `None`
    /// when the profile ends first.
    pub fn time_of(&self, area: f64) -> Option<f64> {
        let mut cum = 0.0;
        for (t0, r0, r1, d) in self.segments() {
            let seg = (r0 + r1) / 2.0 * d;
            if area - cum < seg {
                return Some(t0 + solve_in_stage(r0, r1, d, area - cum));
            }
            cum += seg;
        }
        None
    }
}

/// Within a stage whose rate goes linearly from `r0` to `r1` over `d` seconds, the time
/// `t` at which ∫₀ᵗ λ = `x`: the root of (k/2)t² + r0·t − x = 0 with k = (r1 − r0)/d, in
/// the form 2x / (r0 + √(r0² + 2kx)) that stays exact when k is 0 or negative.
fn solve_in_stage(r0: f64, r1: f64, d: f64, x: f64) -> f64 {
    let k = (r1 - r0) / d;
    let root = (r0 * r0 + 2.0 * k * x).max(0.0).sqrt();
    let denom = r0 + root;
    if denom <= 0.0 {
        return 0.0;
    }
    (2.0 * x / denom).clamp(0.0, d)
}

/// A load model.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Every user loops: act, wait for the outcome, think.
    Closed {
        /// Think time after each completed action.
        think: Think,
        /// Length of the phase.
        duration: Duration,
        /// Users join linearly over this time.
        ramp_up: Duration,
        /// Users leave linearly over the last part of `duration`, last joined first.
        ramp_down: Duration,
    },
    /// Actions arrive at a rate, whether or not earlier ones completed.
    Open {
        /// Arrival process.
        arrival: Arrival,
        /// Fleet-wide rate over time.
        profile: Profile,
    },
}

impl Schedule {
    /// Length of the phase.
    pub fn duration(&self) -> Duration {
        match self {
            Self::Closed { duration, .. } => *duration,
            Self::Open { profile, .. } => profile.duration(),
        }
    }

    /// Whether actions are dispatched without waiting for earlier ones.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }
}

/// A user's place among the users that act in a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Position, `0..acting`.
    pub position: usize,
    /// Number of acting users.
    pub acting: usize,
}

/// What an action may vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    /// Partners to choose from (0: none needed).
    pub partners: usize,
    /// Smallest message body, in bytes.
    pub body_min: usize,
    /// Largest message body, in bytes.
    pub body_max: usize,
}

/// One planned action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Intended start, from the start of the phase.
    pub at: Duration,
    /// Which partner (index into the user's partners).
    pub partner: usize,
    /// Message body length in bytes.
    pub body_len: usize,
    /// Seed of the body text ([`body_text`]).
    pub body_seed: u64,
}

/// Produces one user's actions in order.
#[derive(Debug, Clone)]
pub struct Planner<'a> {
    schedule: &'a Schedule,
    content: Content,
    slot: Slot,
    rng: UserRng,
    /// Open model: fleet-wide cumulative intensity of this user's next arrival.
    next_area: f64,
    /// Closed model: whether the first action was planned.
    started: bool,
}

impl<'a> Planner<'a> {
    /// The planner of the user with global index `gid` under `seed`.
    pub fn new(
        schedule: &'a Schedule,
        seed: u64,
        gid: usize,
        slot: Slot,
        content: Content,
    ) -> Self {
        let mut rng = UserRng::new(seed, gid as u64);
        let acting = slot.acting.max(1) as f64;
        let next_area = match schedule {
            Schedule::Open {
                arrival: Arrival::Constant,
                ..
            } => slot.position as f64,
            Schedule::Open {
                arrival: Arrival::Poisson,
                ..
            } => acting * rng.standard_exponential(),
            Schedule::Closed { .. } => 0.0,
        };
        Self {
            schedule,
            content,
            slot,
            rng,
            next_area,
            started: false,
        }
    }

    /// The closed model's window of this user: join and leave offsets.
    fn window(
        &self,
        duration: Duration,
        ramp_up: Duration,
        ramp_down: Duration,
    ) -> (Duration, Duration) {
        let share = self.slot.position as f64 / self.slot.acting.max(1) as f64;
        let join = ramp_up.mul_f64(share);
        let leave = duration.saturating_sub(ramp_down.mul_f64(share));
        (join, leave)
    }

    /// The next action, or `None` when the user's part of the phase is over. `done` is
    /// when the previous action completed (from the phase start); only the closed model
    /// uses it.
    pub fn next(&mut self, done: Duration) -> Option<Planned> {
        let at = match self.schedule {
            Schedule::Closed {
                think,
                duration,
                ramp_up,
                ramp_down,
            } => {
                let (join, leave) = self.window(*duration, *ramp_up, *ramp_down);
                let at = if self.started {
                    done.max(join) + think.sample(&mut self.rng)
                } else {
                    join
                };
                self.started = true;
                if at >= leave {
                    return None;
                }
                at
            }
            Schedule::Open { arrival, profile } => {
                let t = profile.time_of(self.next_area)?;
                let acting = self.slot.acting.max(1) as f64;
                self.next_area += match arrival {
                    Arrival::Constant => acting,
                    Arrival::Poisson => acting * self.rng.standard_exponential(),
                };
                Duration::from_secs_f64(t)
            }
        };
        Some(self.content_at(at))
    }

    fn content_at(&mut self, at: Duration) -> Planned {
        let c = self.content;
        let partner = self.rng.below(c.partners as u64) as usize;
        let spread = c.body_max.saturating_sub(c.body_min) as u64 + 1;
        let body_len = c.body_min + self.rng.below(spread) as usize;
        Planned {
            at,
            partner,
            body_len,
            body_seed: self.rng.next_u64(),
        }
    }

    /// Open model: about how many of this user's actions are still to come (exact for
    /// constant arrivals, the expectation for Poisson). Closed model: 0.
    pub fn remaining(&self) -> u64 {
        let Schedule::Open { profile, .. } = self.schedule else {
            return 0;
        };
        let left = profile.total() - self.next_area;
        if left <= 0.0 {
            return 0;
        }
        (left / self.slot.acting.max(1) as f64).ceil() as u64
    }
}

/// The first `limit` actions of a user whose actions complete instantly: its whole
/// reproducible sequence (intended offsets, partners, bodies) under `seed`.
pub fn user_plan(
    schedule: &Schedule,
    seed: u64,
    gid: usize,
    slot: Slot,
    content: Content,
    limit: usize,
) -> Vec<Planned> {
    let mut p = Planner::new(schedule, seed, gid, slot, content);
    let mut out = Vec::new();
    let mut done = Duration::ZERO;
    while out.len() < limit {
        let Some(a) = p.next(done) else { break };
        done = a.at;
        out.push(a);
    }
    out
}

/// A message body of `len` lowercase letters, spaces and digits drawn from `seed`.
pub fn body_text(len: usize, seed: u64) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz 01234";
    let mut state = seed;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut word = super::rng::splitmix64(&mut state);
        for _ in 0..12 {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[(word & 31) as usize]));
            word >>= 5;
        }
    }
    out
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
