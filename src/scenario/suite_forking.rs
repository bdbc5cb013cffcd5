//! The multi-device steps of the suite file: messages to a bare JID forked across a user's
//! resources (`do = "fork"`), the seed's "stay with the device that replied"
//! (`do = "lock-in"`), and XEP-0280 Message Carbons (`do = "carbons-enable"`,
//! `"carbons-disable"`, `"carbons"`); with their validation and the check of a fleet's
//! per-resource `priorities`.

use super::duration::Dur;
use super::suite::{Fleet, MessageKind, Step, Suite};
use serde::Deserialize;
use std::time::Duration;

fn one_u32() -> u32 {
    1
}

/// How long a step keeps listening after every awaited copy arrived, so that a copy the
/// server must not send (or an extra fork) has time to show up before the verdict.
fn default_grace() -> Dur {
    Dur(Duration::from_millis(300))
}

/// `do = "fork"`: each user's first resource sends `count` messages to its partner's bare
/// JID; every copy is recorded (who got it, per-copy latency, the server's policy).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Messages per user.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Interval between a user's messages.
    #[serde(default)]
    pub every: Dur,
    /// Message type.
    #[serde(default, rename = "type")]
    pub kind: MessageKind,
    /// Listening time after the first copy of each message arrived.
    #[serde(default = "default_grace")]
    pub grace: Dur,
}

/// `do = "lock-in"`: even users message their (odd) partner's bare JID; the partner
/// replies from `reply_from`; the even users then send `count` messages to the bare JID
/// (does the server stay with the replier?) and `count` to the replier's full JID (the
/// client's lock-in, RFC 6121 §5.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockInStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Messages of each kind after the reply.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// The resource the partner replies from (default: the fleet's second resource).
    #[serde(default)]
    pub reply_from: Option<String>,
    /// Listening time after the first copy of each message arrived.
    #[serde(default = "default_grace")]
    pub grace: Dur,
}

impl LockInStep {
    /// The index of the replying resource in `f`'s resources.
    pub fn replier(&self, f: &Fleet) -> Option<usize> {
        match &self.reply_from {
            Some(r) => f.resources.iter().position(|x| x == r),
            None => (f.resources.len() > 1).then_some(1),
        }
    }
}

/// `do = "carbons-enable"` and `"carbons-disable"`: the XEP-0280 request on every
/// session (or on the named resources only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonsToggleStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Only these resources (default: all).
    #[serde(default)]
    pub resources: Option<Vec<String>>,
}

impl CarbonsToggleStep {
    /// Whether resource `name` takes part.
    pub fn selects(&self, name: &str) -> bool {
        self.resources
            .as_ref()
            .is_none_or(|r| r.iter().any(|x| x == name))
    }
}

/// `do = "carbons"`: each user's first resource sends its partner's first resource
/// `private` messages with `<private/>`, `no_copy` with the `<no-copy/>` hint, then
/// `count` ordinary ones; copies are judged on every other resource of both users.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonsStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Ordinary chat messages per user.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Messages with `<private xmlns='urn:xmpp:carbons:2'/>` per user.
    #[serde(default = "one_u32")]
    pub private: u32,
    /// Messages with `<no-copy xmlns='urn:xmpp:hints'/>` per user.
    #[serde(default = "one_u32")]
    pub no_copy: u32,
    /// Listening time after every awaited copy arrived.
    #[serde(default = "default_grace")]
    pub grace: Dur,
}

impl Fleet {
    /// The presence priority of resource `k`: its entry in `priorities`, else `priority`.
    pub fn priority_of(&self, k: usize) -> i8 {
        self.priorities
            .as_ref()
            .and_then(|p| p.get(k))
            .copied()
            .unwrap_or(self.priority)
    }
}

/// A fleet's `priorities`: one per resource, and not beside a non-default `priority`.
pub fn validate_fleet(f: &Fleet, at: &str) -> Result<(), String> {
    let Some(p) = &f.priorities else {
        return Ok(());
    };
    if p.len() != f.resources.len() {
        return Err(format!(
            "{at}: field `priorities` needs one priority per resource ({} given for {} resources)",
            p.len(),
            f.resources.len()
        ));
    }
    if f.priority != 0 {
        return Err(format!(
            "{at}: give either `priority` (every resource) or `priorities` (one each)"
        ));
    }
    Ok(())
}

/// The fleets a step runs on.
fn fleets<'a>(s: &'a Suite, name: Option<&str>) -> impl Iterator<Item = &'a Fleet> {
    s.fleets
        .iter()
        .filter(move |f| name.is_none_or(|n| f.name == n))
}

/// Checks the multi-device steps; `at` names the step in errors.
pub fn validate(s: &Suite, step: &Step, at: &str) -> Result<(), String> {
    match step {
        Step::Fork(f) if f.count == 0 => Err(format!("{at}: field `count` must be at least 1")),
        Step::LockIn(l) if l.count == 0 => Err(format!("{at}: field `count` must be at least 1")),
        Step::LockIn(l) => {
            for f in fleets(s, l.fleet.as_deref()) {
                let Some(k) = l.replier(f) else {
                    let what = l.reply_from.as_deref().map_or_else(
                        || "needs at least two resources".to_string(),
                        |r| format!("has no resource `{r}`"),
                    );
                    return Err(format!(
                        "{at}: field `reply_from`: fleet `{}` {what}",
                        f.name
                    ));
                };
                if f.priority_of(k) < 0 {
                    return Err(format!(
                        "{at}: field `reply_from`: resource `{}` of fleet `{}` has a negative \
                         priority, so messages to the bare JID never reach it",
                        f.resources[k], f.name
                    ));
                }
            }
            Ok(())
        }
        Step::CarbonsEnable(t) | Step::CarbonsDisable(t) => {
            for r in t.resources.iter().flatten() {
                if !fleets(s, t.fleet.as_deref()).any(|f| f.resources.contains(r)) {
                    return Err(format!(
                        "{at}: field `resources`: no fleet has resource `{r}`"
                    ));
                }
            }
            Ok(())
        }
        Step::Carbons(c) if c.count == 0 => Err(format!(
            "{at}: field `count` must be at least 1 (ordinary messages end the step's wait)"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::parse_suite;
    use crate::scenario::suite::Step;
    use std::path::Path;

    const FLEET: &str = "name = \"t\"\n[[fleet]]\nname = \"d\"\nprotocol = \"xmpp\"\nusers = 2\n\
        resources = [\"desktop\", \"mobile\", \"watch\"]\n";

    fn parse(extra_fleet: &str, steps: &str) -> Result<crate::scenario::suite::Suite, String> {
        let text = format!("{FLEET}{extra_fleet}\n[[step]]\ndo = \"login\"\n{steps}");
        parse_suite(Path::new("t.toml"), &text).map_err(|e| e.to_string())
    }

    #[test]
    fn multi_device_steps_parse_with_their_defaults() {
        let steps = "[[step]]\ndo = \"fork\"\n[[step]]\ndo = \"lock-in\"\n\
            [[step]]\ndo = \"carbons-enable\"\n[[step]]\ndo = \"carbons-disable\"\n\
            resources = [\"mobile\"]\n[[step]]\ndo = \"carbons\"\n";
        let s = parse("priorities = [1, 1, -1]", steps).expect("valid");
        assert_eq!(s.fleets[0].priority_of(2), -1);
        let kinds: Vec<&str> = s.steps.iter().map(Step::kind).collect();
        assert_eq!(
            kinds,
            [
                "login",
                "fork",
                "lock-in",
                "carbons-enable",
                "carbons-disable",
                "carbons"
            ]
        );
        let Step::Carbons(c) = &s.steps[5] else {
            panic!("carbons step")
        };
        assert_eq!((c.count, c.private, c.no_copy), (1, 1, 1));
        let Step::CarbonsDisable(t) = &s.steps[4] else {
            panic!("disable step")
        };
        assert!(t.selects("mobile") && !t.selects("desktop"));
    }

    #[test]
    fn priorities_need_one_per_resource() {
        let e = parse("priorities = [1, 0]", "").unwrap_err();
        assert!(e.contains("one priority per resource"), "{e}");
        let e = parse("priority = 2\npriorities = [1, 0, 0]", "").unwrap_err();
        assert!(e.contains("either `priority`"), "{e}");
    }

    #[test]
    fn lock_in_needs_a_non_negative_replying_resource() {
        let e = parse("", "[[step]]\ndo = \"lock-in\"\nreply_from = \"tablet\"\n").unwrap_err();
        assert!(e.contains("no resource `tablet`"), "{e}");
        let e = parse(
            "priorities = [0, 0, -1]",
            "[[step]]\ndo = \"lock-in\"\nreply_from = \"watch\"\n",
        )
        .unwrap_err();
        assert!(e.contains("negative priority"), "{e}");
        let e = parse(
            "",
            "[[step]]\ndo = \"carbons-enable\"\nresources = [\"x\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("no fleet has resource `x`"), "{e}");
        let e = parse("", "[[step]]\ndo = \"carbons\"\ncount = 0\n").unwrap_err();
        assert!(e.contains("`count`"), "{e}");
    }
}
