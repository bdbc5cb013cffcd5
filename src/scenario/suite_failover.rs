//! Suite model for failover runs: `do = "fault"` steps (kill, hang, resume, restart a node;
//! cut, delay, black-hole or heal its traffic through the loopback fault proxy), the
//! `do = "chat-through"` traffic step that rides through them, the suite's `[recovery]`
//! table (client re-login limits, from the suite or a HA login profile), and the target's
//! user placement. Field meanings are documented in README.md ("Failover").

use super::duration::Dur;
use crate::ha::profile::{ReloginLimits, SERVICE_DOWN_DELAY_DEFAULT, seed_profile};
use serde::Deserialize;
use std::time::Duration;

/// What a fault step does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultAction {
    /// SIGKILL the node's server (or run its `kill` hook).
    Kill,
    /// SIGSTOP the node's server: it keeps its sockets but answers nothing.
    Hang,
    /// SIGCONT a hung node.
    Resume,
    /// Start the node's server again (after a kill), same ports and data.
    Restart,
    /// Proxy: reset every connection to the node and refuse new ones.
    Cut,
    /// Proxy: hold every chunk for `delay` in each direction.
    Delay,
    /// Proxy: a partition; connections stay open, nothing moves.
    Blackhole,
    /// Proxy: back to pass-through.
    Heal,
}

impl FaultAction {
    /// The name written in suites and on the timeline.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Hang => "hang",
            Self::Resume => "resume",
            Self::Restart => "restart",
            Self::Cut => "cut",
            Self::Delay => "delay",
            Self::Blackhole => "blackhole",
            Self::Heal => "heal",
        }
    }

    /// Whether the action goes through the node's fault proxy (the others act on the
    /// server process).
    pub fn is_proxy(self) -> bool {
        matches!(self, Self::Cut | Self::Delay | Self::Blackhole | Self::Heal)
    }

    /// Whether the action takes service away (recovery is measured from such faults);
    /// `resume`, `restart` and `heal` give it back.
    pub fn disrupts(self) -> bool {
        matches!(self, Self::Kill | Self::Hang | Self::Cut | Self::Blackhole)
    }
}

/// `do = "fault"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    #[serde(rename = "do")]
    _kind: String,
    /// What to do.
    pub action: FaultAction,
    /// Index of the node in the target's node list (0 = the first).
    #[serde(default)]
    pub node: usize,
    /// The added one-way delay of `action = "delay"`.
    #[serde(default)]
    pub delay: Option<Dur>,
    /// Fire in the background this long after the step starts (the previous barrier), so
    /// the fault lands during the next step; without it the fault is applied at once and
    /// the step ends when it is done.
    #[serde(default)]
    pub after: Option<Dur>,
    /// The step's line in the suite file (for errors found once the target is known).
    #[serde(skip)]
    pub line: usize,
}

impl FaultStep {
    /// Why the fields are unusable, if they are (named by field).
    pub fn invalid(&self) -> Option<String> {
        match (self.action, self.delay) {
            (FaultAction::Delay, None) => {
                Some("field `delay` is required with action = \"delay\" (e.g. \"500ms\")".into())
            }
            (FaultAction::Delay, Some(d)) if d.0.is_zero() => {
                Some("field `delay` must be longer than 0".into())
            }
            (a, Some(_)) if a != FaultAction::Delay => Some(format!(
                "field `delay` applies to action = \"delay\" only, not \"{}\"",
                a.name()
            )),
            _ => None,
        }
    }
}

/// `do = "chat-through"`: for `duration`, each user messages its partner every `interval`
/// and pings the server every `ping_interval`; a connection without a ping reply for
/// `ping_timeout` (or closed) is dead, and the user recovers as `[recovery]` says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatThroughStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// How long the traffic runs.
    pub duration: Dur,
    /// Spacing of a user's messages to its partner.
    #[serde(default = "half_second")]
    pub interval: Dur,
    /// Spacing of a user's XEP-0199 pings to the server.
    #[serde(default = "one_second")]
    pub ping_interval: Dur,
    /// A ping unanswered this long means the connection is dead.
    #[serde(default = "two_seconds")]
    pub ping_timeout: Dur,
}

fn half_second() -> Dur {
    Dur(Duration::from_millis(500))
}

fn one_second() -> Dur {
    Dur::from_secs(1)
}

fn two_seconds() -> Dur {
    Dur::from_secs(2)
}

impl ChatThroughStep {
    /// Why the fields are unusable, if they are (named by field).
    pub fn invalid(&self) -> Option<String> {
        let ms = Duration::from_millis;
        if self.duration.0.is_zero() {
            return Some("field `duration` must be longer than 0".into());
        }
        if self.interval.0 < ms(10) {
            return Some("field `interval` must be at least 10ms".into());
        }
        if self.ping_interval.0 < ms(50) {
            return Some("field `ping_interval` must be at least 50ms".into());
        }
        if self.ping_timeout.0 < ms(50) {
            return Some("field `ping_timeout` must be at least 50ms".into());
        }
        None
    }

    /// The longest a dead connection can go unnoticed: a ping is sent at most
    /// `ping_interval` after the fault and declared lost `ping_timeout` later.
    pub fn detection_bound(&self) -> Duration {
        self.ping_interval.0 + self.ping_timeout.0
    }
}

/// The suite's `[recovery]` table: how clients come back after losing their server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryConf {
    /// Client Re-Login Lower Limit (with `upper`; instead of `profile`).
    #[serde(default)]
    pub lower: Option<Dur>,
    /// Client Re-Login Upper Limit.
    #[serde(default)]
    pub upper: Option<Dur>,
    /// A HA login profile of `impress ha-profile` (e.g. `"1000-as"`): its login rate R gives
    /// `upper = lower + round(N / R)`.
    #[serde(default)]
    pub profile: Option<String>,
    /// With `profile`: N, the users that log in again (default: the step's users).
    #[serde(default)]
    pub users: Option<u64>,
    /// With `profile`: the lower limit, = the Critical Service Down Delay (default 90s),
    /// in whole seconds.
    #[serde(default)]
    pub service_down_delay: Option<Dur>,
    /// Try XEP-0198 resumption first where the session enabled it (default true).
    #[serde(default = "yes")]
    pub resume: bool,
    /// Tolerance added to the recovery bound in the verdict (default 2s).
    #[serde(default = "two_seconds")]
    pub slack: Dur,
}

fn yes() -> bool {
    true
}

impl Default for RecoveryConf {
    fn default() -> Self {
        Self {
            lower: None,
            upper: None,
            profile: None,
            users: None,
            service_down_delay: None,
            resume: true,
            slack: two_seconds(),
        }
    }
}

/// Resolved re-login wait bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Shortest wait before logging in again.
    pub lower: Duration,
    /// Longest wait.
    pub upper: Duration,
    /// Where the bounds came from, e.g. `suite` or `profile 1000-as (N = 20)`.
    pub source: &'static str,
    /// The profile's name, if one was used.
    pub profile: Option<&'static str>,
}

/// Default re-login bounds without a `[recovery]` table: 1–3 s.
const DEFAULT_BOUNDS: (u64, u64) = (1, 3);

impl RecoveryConf {
    /// Why the table is unusable, if it is (named by field).
    pub fn invalid(&self) -> Option<String> {
        let both = self.lower.is_some() || self.upper.is_some();
        match (&self.profile, both) {
            (Some(_), true) => {
                return Some("recovery: give `lower`/`upper` or `profile`, not both".into());
            }
            (Some(p), false) if seed_profile(p).is_none() => {
                return Some(format!(
                    "recovery: field `profile`: unknown profile `{p}` (see `impress ha-profile`)"
                ));
            }
            (None, _) if self.users.is_some() || self.service_down_delay.is_some() => {
                return Some(
                    "recovery: fields `users` and `service_down_delay` need `profile`".into(),
                );
            }
            _ => {}
        }
        if let (Some(l), Some(u)) = (self.lower, self.upper)
            && l > u
        {
            return Some("recovery: field `upper` must not be below `lower`".into());
        }
        if self.users == Some(0) {
            return Some("recovery: field `users` must be at least 1".into());
        }
        None
    }

    /// The re-login bounds for `users` users recovering.
    pub fn backoff(&self, users: usize) -> Backoff {
        if let Some(p) = self.profile.as_deref().and_then(seed_profile) {
            let n = self.users.unwrap_or(users as u64).max(1);
            let csdd = self
                .service_down_delay
                .map_or(SERVICE_DOWN_DELAY_DEFAULT, |d| d.0.as_secs());
            let l = ReloginLimits::compute(n, p.rate, csdd);
            return Backoff {
                lower: Duration::from_secs(l.lower),
                upper: Duration::from_secs(l.upper),
                source: "profile",
                profile: Some(p.name),
            };
        }
        let (dl, du) = DEFAULT_BOUNDS;
        let lower = self.lower.map_or(Duration::from_secs(dl), |d| d.0);
        let upper = self
            .upper
            .map_or(Duration::from_secs(du).max(lower), |d| d.0);
        Backoff {
            lower,
            upper,
            source: "suite",
            profile: None,
        }
    }
}

/// Where users log in first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Active/standby: every user on node 0.
    #[default]
    Active,
    /// Cluster: users round robin over the nodes by their index.
    Spread,
}

impl Placement {
    /// The first node of user `gid` among `nodes` nodes.
    pub fn node_of(self, gid: usize, nodes: usize) -> usize {
        match self {
            Self::Active => 0,
            Self::Spread => gid % nodes.max(1),
        }
    }
}

/// A parsed `fault` step, validated; errors name the step's line and the field.
pub fn fault_step(mut f: FaultStep, line: usize) -> Result<super::suite::Step, String> {
    f.line = line;
    match f.invalid() {
        Some(m) => Err(format!("line {line}: step `fault`: {m}")),
        None => Ok(super::suite::Step::Fault(f)),
    }
}

/// A parsed `chat-through` step, validated; errors name the step's line and the field.
pub fn chat_step(c: ChatThroughStep, line: usize) -> Result<super::suite::Step, String> {
    match c.invalid() {
        Some(m) => Err(format!("line {line}: step `chat-through`: {m}")),
        None => Ok(super::suite::Step::ChatThrough(c)),
    }
}

/// Whether the suite needs a fault proxy in front of every node.
pub fn needs_proxies(steps: &[super::suite::Step]) -> bool {
    steps
        .iter()
        .any(|s| matches!(s, super::suite::Step::Fault(f) if f.action.is_proxy()))
}

/// Suite-wide failover rules: a valid `[recovery]` table, a `chat-through` step for it.
pub fn validate(s: &super::suite::Suite) -> Result<(), String> {
    if let Some(m) = s.recovery.as_ref().and_then(RecoveryConf::invalid) {
        return Err(m);
    }
    Ok(())
}

/// Checks the suite's fault steps against the target's nodes: every node index exists,
/// and the node can do the action (`can(node, action)` says whether it has a hook, a
/// managed process or a proxy for it). Errors name the step's line and the field.
pub fn check_nodes(
    steps: &[super::suite::Step],
    nodes: usize,
    can: impl Fn(usize, FaultAction) -> bool,
) -> Result<(), String> {
    for step in steps {
        let super::suite::Step::Fault(f) = step else {
            continue;
        };
        let at = format!("line {}: step `fault`", f.line);
        if f.node >= nodes {
            return Err(format!(
                "{at}: field `node`: node {} does not exist (the target has {nodes} node{}, numbered from 0)",
                f.node,
                if nodes == 1 { "" } else { "s" }
            ));
        }
        if !can(f.node, f.action) {
            return Err(format!(
                "{at}: field `action`: node {} cannot `{}` (give the target's [[node]] a `{}` hook, or use a managed target)",
                f.node,
                f.action.name(),
                f.action.name()
            ));
        }
    }
    Ok(())
}

/// [`check_nodes`] before anything starts: a managed target has its layout's nodes and
/// can do every action; an external one has its `[[node]]` entries and their hooks (proxy
/// actions always work: impress runs the proxies).
pub fn check_target(s: &super::suite::Suite, t: &super::TargetPlan) -> Result<(), String> {
    match &t.endpoint {
        super::Endpoint::Managed(_) => check_nodes(&s.steps, t.layout_nodes.max(1), |_, _| true),
        super::Endpoint::External { .. } => check_nodes(&s.steps, t.nodes.len(), |i, a| {
            let n = &t.nodes[i];
            let hook = match a {
                FaultAction::Kill => &n.kill,
                FaultAction::Hang => &n.hang,
                FaultAction::Resume => &n.resume,
                FaultAction::Restart => &n.restart,
                _ => return true,
            };
            hook.is_some()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_suite;
    use std::path::Path;

    fn suite(extra: &str, step: &str) -> Result<crate::scenario::suite::Suite, String> {
        let text = format!(
            "name = \"f\"\n{extra}\n[[fleet]]\nname = \"u\"\nprotocol = \"xmpp\"\nusers = 4\n\n[[step]]\n{step}\n"
        );
        parse_suite(Path::new("f.toml"), &text).map_err(|e| e.to_string())
    }

    #[test]
    fn fault_and_chat_through_steps_parse() {
        let s = suite(
            "",
            "do = \"fault\"\naction = \"delay\"\ndelay = \"2s\"\nafter = \"5s\"\nnode = 1",
        )
        .expect("valid");
        let crate::scenario::suite::Step::Fault(f) = &s.steps[0] else {
            panic!("a fault step");
        };
        assert_eq!((f.action, f.node, f.line), (FaultAction::Delay, 1, 8));
        assert_eq!(f.after.map(|d| d.0), Some(Duration::from_secs(5)));
        assert!(needs_proxies(&s.steps));
        let s = suite("", "do = \"chat-through\"\nduration = \"10s\"").expect("valid");
        let crate::scenario::suite::Step::ChatThrough(c) = &s.steps[0] else {
            panic!("a chat-through step");
        };
        assert_eq!(c.detection_bound(), Duration::from_secs(3));
        assert!(!needs_proxies(&s.steps));
    }

    #[test]
    fn bad_fields_name_line_and_field() {
        let e = suite("", "do = \"fault\"\naction = \"kill\"\ndelay = \"1s\"").unwrap_err();
        assert!(
            e.contains("line 8: step `fault`: field `delay` applies"),
            "{e}"
        );
        let e = suite("", "do = \"chat-through\"\nduration = \"0s\"").unwrap_err();
        assert!(
            e.contains("line 8: step `chat-through`: field `duration`"),
            "{e}"
        );
        let e = suite(
            "[recovery]\nprofile = \"1000-as\"\nlower = \"1s\"",
            "do = \"barrier\"",
        )
        .unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = suite("[recovery]\nprofile = \"3-zz\"", "do = \"barrier\"").unwrap_err();
        assert!(e.contains("field `profile`: unknown profile"), "{e}");
    }

    #[test]
    fn backoff_comes_from_the_suite_or_a_profile() {
        let c = RecoveryConf {
            lower: Some(Dur::from_secs(2)),
            upper: Some(Dur::from_secs(5)),
            ..RecoveryConf::default()
        };
        let b = c.backoff(10);
        assert_eq!(
            (b.lower, b.upper, b.profile),
            (Duration::from_secs(2), Duration::from_secs(5), None)
        );
        // 1000-as: R = 3/s; N = 300 → upper = 90 + 100.
        let c = RecoveryConf {
            profile: Some("1000-as".into()),
            ..RecoveryConf::default()
        };
        let b = c.backoff(300);
        assert_eq!(
            (b.lower, b.upper),
            (Duration::from_secs(90), Duration::from_secs(190))
        );
        assert_eq!(b.profile, Some("1000-as"));
    }

    #[test]
    fn placement_is_active_or_round_robin() {
        assert_eq!(Placement::Active.node_of(5, 2), 0);
        assert_eq!(Placement::Spread.node_of(5, 2), 1);
        assert_eq!(Placement::Spread.node_of(4, 2), 0);
    }
}
