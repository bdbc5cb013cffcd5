//! Suite steps for offline messages and deployment limits: `do = "offline"` (XEP-0160
//! storage, delivery at the next login, the store limit) and `do = "roster-limit"` (the
//! contact-list maximum). Field meanings are documented in README.md.

use super::duration::Dur;
use super::suite::MessageKind;
use serde::Deserialize;
use std::time::Duration;

/// Most messages one `offline` step may send per pair (a typo must not flood the target).
pub const MAX_OFFLINE_COUNT: u32 = 10_000;

/// Largest contact-list maximum a `roster-limit` step fills up to.
pub const MAX_ROSTER_MAX: usize = 10_000;

/// `do = "offline"`: users 1, 3, 5 … (even positions in the fleet) go offline; their
/// partners send them `count` messages to the bare JID; then they log in again and must
/// receive them, in order and with a delay stamp. With `limit` below `count` the overflow
/// beyond the deployment's store limit is judged and recorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Messages each partner sends while the user is offline.
    pub count: u32,
    /// Spacing between a partner's messages.
    #[serde(default)]
    pub every: Dur,
    /// The deployment's offline store limit per user, when the suite tests it.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Message type.
    #[serde(default, rename = "type")]
    pub kind: MessageKind,
}

impl OfflineStep {
    /// How many of the `count` messages the store must keep.
    pub fn storable(&self) -> u32 {
        self.limit.map_or(self.count, |l| l.min(self.count))
    }

    /// Time the partners need to send everything.
    pub fn sending_time(&self) -> Duration {
        self.every.0 * self.count
    }

    /// Why the step's fields are unusable, if they are (named by field).
    pub fn invalid(&self) -> Option<String> {
        if !(1..=MAX_OFFLINE_COUNT).contains(&self.count) {
            return Some(format!(
                "field `count` must be between 1 and {MAX_OFFLINE_COUNT}"
            ));
        }
        if self.limit == Some(0) {
            return Some("field `limit` must be at least 1 (leave it out for no limit)".into());
        }
        None
    }
}

/// `do = "roster-limit"`: every user's first session fills its roster up to `max` contacts
/// and adds one more, which the deployment must refuse; the added contacts are removed
/// again afterwards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterLimitStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// The deployment's contact-list maximum (roster items per user).
    pub max: usize,
}

impl RosterLimitStep {
    /// Why the step's fields are unusable, if they are (named by field).
    pub fn invalid(&self) -> Option<String> {
        (!(1..=MAX_ROSTER_MAX).contains(&self.max))
            .then(|| format!("field `max` must be between 1 and {MAX_ROSTER_MAX}"))
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::parse_suite;
    use crate::scenario::suite::Step;
    use std::path::Path;

    fn suite(steps: &str) -> Result<crate::scenario::suite::Suite, String> {
        let text = format!(
            "name = \"t\"\n[[fleet]]\nname = \"f\"\nprotocol = \"xmpp\"\nusers = 2\n{steps}"
        );
        parse_suite(Path::new("t.toml"), &text).map_err(|e| e.to_string())
    }

    #[test]
    fn offline_and_roster_limit_steps_parse() {
        let s = suite(
            "[[step]]\ndo = \"offline\"\ncount = 8\nlimit = 5\nevery = \"10ms\"\ntype = \"normal\"\n\
             [[step]]\ndo = \"roster-limit\"\nmax = 200\nfleet = \"f\"\n",
        )
        .expect("valid");
        let Step::Offline(o) = &s.steps[0] else {
            panic!("{:?}", s.steps[0]);
        };
        assert_eq!((o.count, o.limit, o.storable()), (8, Some(5), 5));
        assert_eq!(o.sending_time().as_millis(), 80);
        let Step::RosterLimit(r) = &s.steps[1] else {
            panic!("{:?}", s.steps[1]);
        };
        assert_eq!((r.max, s.steps[1].fleet()), (200, Some("f")));
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("[[step]]\ndo = \"offline\"\ncount = 0\n", "field `count`"),
            (
                "[[step]]\ndo = \"offline\"\ncount = 3\nlimit = 0\n",
                "field `limit`",
            ),
            ("[[step]]\ndo = \"offline\"\n", "count"),
            (
                "[[step]]\ndo = \"offline\"\ncount = 3\nto = \"partner.full\"\n",
                "to",
            ),
            ("[[step]]\ndo = \"roster-limit\"\nmax = 0\n", "field `max`"),
        ];
        for (steps, field) in cases {
            let e = suite(steps).expect_err(steps);
            assert!(e.contains(field), "{steps}: {e}");
        }
    }
}
