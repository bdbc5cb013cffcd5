//! The `do = "load"` step: a load phase in which every selected user repeats an action
//! on a schedule, closed (think times) or open (arrival rates with ramping stages).
//! Every field is documented in README.md ("Load phases").

use super::duration::Dur;
use super::suite::{MessageKind, Recipient};
use serde::Deserialize;
use std::time::Duration;

/// What each user does at every scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadAction {
    /// The user's first session sends a message to one of its partners and waits for it
    /// to be delivered.
    #[default]
    Message,
    /// The user's first session pings the server (XEP-0199).
    Ping,
}

/// Closed (concurrency and think time) or open (arrival rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    /// Each user acts, waits for the outcome, thinks, acts again.
    Closed,
    /// Actions arrive at a rate whether or not earlier ones completed.
    Open,
}

/// Open-model arrival process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    /// Exponential gaps (independent arrivals, like real users).
    #[default]
    Poisson,
    /// Even gaps.
    Constant,
}

/// A think-time distribution, `{ dist = "...", ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum ThinkSpec {
    /// `{ dist = "constant", value = "1s" }`.
    Constant {
        /// The think time.
        value: Dur,
    },
    /// `{ dist = "uniform", min = "1s", max = "3s" }`.
    Uniform {
        /// Lower bound.
        min: Dur,
        /// Upper bound.
        max: Dur,
    },
    /// `{ dist = "exponential", mean = "2s" }`.
    Exponential {
        /// Mean.
        mean: Dur,
    },
    /// `{ dist = "normal", mean = "2s", stddev = "500ms" }` (negative draws count as 0).
    Normal {
        /// Mean.
        mean: Dur,
        /// Standard deviation.
        stddev: Dur,
    },
    /// `{ dist = "lognormal", mean = "2s", stddev = "1s" }`: mean and standard deviation
    /// of the think time itself.
    Lognormal {
        /// Mean.
        mean: Dur,
        /// Standard deviation.
        stddev: Dur,
    },
}

/// One ramping stage of the open model.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Rate reached at the end of the stage (actions per second, whole fleet).
    pub rate: f64,
    /// How long the ramp to `rate` takes.
    pub duration: Dur,
}

/// Message body size range, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyBytes {
    /// Smallest.
    pub min: usize,
    /// Largest.
    pub max: usize,
}

impl Default for BodyBytes {
    fn default() -> Self {
        Self { min: 32, max: 32 }
    }
}

/// `do = "load"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// What each scheduled action does.
    #[serde(default)]
    pub action: LoadAction,
    /// Message recipient.
    #[serde(default = "partner_bare")]
    pub to: Recipient,
    /// Message type.
    #[serde(default, rename = "type")]
    pub kind: MessageKind,
    /// Message body size, drawn per message.
    #[serde(default)]
    pub body_bytes: BodyBytes,
    /// Closed or open.
    pub model: LoadModel,
    /// Closed: length of the phase. Open: shorthand for one stage at `rate`.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Closed: think time after each completed action.
    #[serde(default)]
    pub think: Option<ThinkSpec>,
    /// Closed: users join linearly over this time.
    #[serde(default)]
    pub ramp_up: Option<Dur>,
    /// Closed: users leave linearly over the end of the phase.
    #[serde(default)]
    pub ramp_down: Option<Dur>,
    /// Open: arrival process.
    #[serde(default)]
    pub arrival: Option<ArrivalKind>,
    /// Open: constant rate (with `duration`) instead of `stages`.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Open: rate at the start of the first stage (default 0, or `rate`).
    #[serde(default)]
    pub start_rate: Option<f64>,
    /// Open: ramping stages.
    #[serde(default)]
    pub stages: Option<Vec<StageSpec>>,
    /// Open: actions one user may have in flight; a further arrival is dropped.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
}

fn partner_bare() -> Recipient {
    Recipient::PartnerBare
}

fn default_in_flight() -> usize {
    64
}

/// Largest message body a load step may ask for.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Most actions one open phase may schedule (a typo must not plan billions).
pub const MAX_OPEN_ACTIONS: f64 = 1e9;

fn rate_ok(r: f64) -> bool {
    r.is_finite() && r >= 0.0
}

impl LoadStep {
    /// Checks the fields that belong to the chosen model. Errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        let b = self.body_bytes;
        if b.min > b.max || b.max > MAX_BODY_BYTES {
            return Err(format!(
                "field `body_bytes` needs min ≤ max ≤ {MAX_BODY_BYTES}"
            ));
        }
        match self.model {
            LoadModel::Closed => self.validate_closed(),
            LoadModel::Open => self.validate_open(),
        }
    }

    fn validate_closed(&self) -> Result<(), String> {
        self.forbid(&[
            ("arrival", self.arrival.is_some()),
            ("rate", self.rate.is_some()),
            ("start_rate", self.start_rate.is_some()),
            ("stages", self.stages.is_some()),
        ])?;
        let duration = self
            .duration
            .ok_or("model \"closed\" needs field `duration`")?;
        if duration.0.is_zero() {
            return Err("field `duration` must be longer than 0".into());
        }
        let think = self.think.ok_or(
            "model \"closed\" needs field `think` (e.g. { dist = \"exponential\", mean = \"2s\" })",
        )?;
        if let ThinkSpec::Uniform { min, max } = think
            && min > max
        {
            return Err("field `think`: uniform needs min ≤ max".into());
        }
        let ramps = self.ramp_up.unwrap_or_default().0 + self.ramp_down.unwrap_or_default().0;
        if ramps > duration.0 {
            return Err("fields `ramp_up` + `ramp_down` must not exceed `duration`".into());
        }
        Ok(())
    }

    fn validate_open(&self) -> Result<(), String> {
        self.forbid(&[
            ("think", self.think.is_some()),
            ("ramp_up", self.ramp_up.is_some()),
            ("ramp_down", self.ramp_down.is_some()),
        ])?;
        if self.max_in_flight == 0 {
            return Err("field `max_in_flight` must be at least 1".into());
        }
        let stages = self.stages()?;
        if let Some(r) = self.start_rate.filter(|r| !rate_ok(*r)) {
            return Err(format!("field `start_rate`: {r} is not a rate (≥ 0)"));
        }
        if let Some((i, s)) = stages.iter().enumerate().find(|(_, s)| !rate_ok(s.rate)) {
            return Err(format!(
                "field `stages`[{i}]: rate {} is not a rate (≥ 0)",
                s.rate
            ));
        }
        let total: Duration = stages.iter().map(|s| s.duration.0).sum();
        if total.is_zero() {
            return Err("the stages last 0 s".into());
        }
        let mut r0 = self.start_rate();
        let mut actions = 0.0;
        for s in &stages {
            actions += (r0 + s.rate) / 2.0 * s.duration.0.as_secs_f64();
            r0 = s.rate;
        }
        if actions > MAX_OPEN_ACTIONS {
            return Err(format!(
                "the stages schedule {actions:.0} actions; at most {MAX_OPEN_ACTIONS:.0}"
            ));
        }
        Ok(())
    }

    fn forbid(&self, fields: &[(&str, bool)]) -> Result<(), String> {
        let model = match self.model {
            LoadModel::Closed => "closed",
            LoadModel::Open => "open",
        };
        match fields.iter().find(|(_, set)| *set) {
            Some((f, _)) => Err(format!("field `{f}` does not apply to model \"{model}\"")),
            None => Ok(()),
        }
    }

    /// Open model: the stages, from `stages` or from `rate` + `duration`.
    pub fn stages(&self) -> Result<Vec<StageSpec>, String> {
        match (&self.stages, self.rate, self.duration) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err("give either `stages` or `rate` with `duration`, not both".into())
            }
            (Some(s), None, None) if s.is_empty() => Err("field `stages` is empty".into()),
            (Some(s), None, None) => Ok(s.clone()),
            (None, Some(rate), Some(duration)) => Ok(vec![StageSpec { rate, duration }]),
            _ => Err("model \"open\" needs `stages` (or `rate` with `duration`)".into()),
        }
    }

    /// Open model: the rate at the start (`start_rate`, else `rate`, else 0).
    pub fn start_rate(&self) -> f64 {
        self.start_rate.or(self.rate).unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::parse_suite;
    use crate::scenario::suite::Step;
    use std::path::Path;

    const HEAD: &str = "name = \"t\"\n[[fleet]]\nname = \"f\"\nprotocol = \"xmpp\"\nusers = 4\n";

    fn parse(step: &str) -> Result<Step, String> {
        let text = format!("{HEAD}[[step]]\ndo = \"login\"\n[[step]]\n{step}");
        parse_suite(Path::new("s.toml"), &text)
            .map(|mut s| s.steps.remove(1))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn both_models_parse() {
        let closed = "do = \"load\"\nmodel = \"closed\"\nduration = \"10s\"\nramp_up = \"2s\"\n\
                      think = { dist = \"lognormal\", mean = \"2s\", stddev = \"1s\" }\n";
        let Ok(Step::Load(l)) = parse(closed) else {
            panic!("{:?}", parse(closed))
        };
        assert_eq!(
            l.think
                .map(|t| matches!(t, super::ThinkSpec::Lognormal { .. })),
            Some(true)
        );
        let open = "do = \"load\"\nmodel = \"open\"\naction = \"ping\"\narrival = \"constant\"\n\
                    stages = [{ rate = 50, duration = \"1s\" }, { rate = 0, duration = \"1s\" }]\n";
        let Ok(Step::Load(l)) = parse(open) else {
            panic!("{:?}", parse(open))
        };
        assert_eq!(l.stages().map(|s| s.len()), Ok(2));
        assert_eq!(l.start_rate(), 0.0);
        let short = "do = \"load\"\nmodel = \"open\"\nrate = 100\nduration = \"5s\"\n";
        let Ok(Step::Load(l)) = parse(short) else {
            panic!("{:?}", parse(short))
        };
        assert_eq!(l.start_rate(), 100.0);
        assert_eq!(l.max_in_flight, 64);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let cases = [
            (
                "do = \"load\"\nmodel = \"closed\"\nduration = \"1s\"\nthink = { dist = \"gauss\", mean = \"1s\" }\n",
                "line 12: step `load`: field `think`: unknown variant `gauss`",
            ),
            (
                "do = \"load\"\nmodel = \"closed\"\nduration = \"1s\"\nthink = { dist = \"exponential\", mean = \"1s\", sd = 1 }\n",
                "line 12: step `load`: unknown field `sd`, expected `mean`",
            ),
            (
                "do = \"load\"\nmodel = \"closed\"\nthink = { dist = \"constant\", value = \"1s\" }\n",
                "step[1] (do = \"load\"): model \"closed\" needs field `duration`",
            ),
            (
                "do = \"load\"\nmodel = \"open\"\nrate = 5\nduration = \"1s\"\nthink = { dist = \"constant\", value = \"1s\" }\n",
                "field `think` does not apply to model \"open\"",
            ),
            (
                "do = \"load\"\nmodel = \"open\"\nrate = 5\nstages = [{ rate = 1, duration = \"1s\" }]\n",
                "give either `stages` or `rate` with `duration`",
            ),
            (
                "do = \"load\"\nmodel = \"open\"\nstages = [{ rate = -1, duration = \"1s\" }]\n",
                "field `stages`[0]: rate -1 is not a rate",
            ),
            (
                "do = \"load\"\nmodel = \"open\"\nrate = 1e12\nduration = \"1h\"\n",
                "actions; at most",
            ),
            (
                "do = \"load\"\nmodel = \"open\"\nrate = 5\nduration = \"1s\"\nbody_bytes = { min = 9, max = 3 }\n",
                "field `body_bytes` needs min ≤ max",
            ),
            (
                "do = \"load\"\nmodel = \"sideways\"\n",
                "line 10: step `load`: field `model`: unknown variant `sideways`",
            ),
        ];
        for (step, want) in cases {
            let got = parse(step).expect_err(step);
            assert!(got.contains(want), "{step}\n got: {got}\nwant: {want}");
        }
    }
}
