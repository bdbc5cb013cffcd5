//! The XEP-0045 multi-user chat steps of the suite file (`do = "muc-…"`), re-exported from
//! [`super::suite`]. `muc-create` groups the users of each fleet into rooms of `room_size`
//! consecutive users (the first of each room is its owner) under a label; every other
//! `muc-…` step names the rooms by that label.

use super::duration::Dur;
use super::suite::Step;
use serde::Deserialize;

/// A random tag drawn when a step is loaded: it makes room names and message ids unique
/// per run, so a persistent room left on an external deployment never collides.
fn tag() -> u64 {
    rand::random()
}

fn one_u32() -> u32 {
    1
}

/// `do = "muc-create"`: the first user of each room creates it and submits the room
/// configuration form (XEP-0004) with the fields below, as far as the form offers them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MucCreateStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Label later `muc-…` steps name these rooms by (lowercase letters, digits, `-`).
    pub room: String,
    /// Users per room: consecutive users of the fleet; the first one owns the room.
    pub room_size: usize,
    /// The MUC service (default `conference.<domain>`).
    #[serde(default)]
    pub service: Option<String>,
    /// `muc#roomconfig_maxusers` (at least `room_size`: every member must fit).
    #[serde(default)]
    pub max_users: Option<u32>,
    /// `muc#roomconfig_membersonly`; the owner then grants membership to the room's users.
    #[serde(default)]
    pub members_only: bool,
    /// `muc#roomconfig_moderatedroom`: newcomers without affiliation are visitors.
    #[serde(default)]
    pub moderated: bool,
    /// `muc#roomconfig_persistentroom`.
    #[serde(default)]
    pub persistent: bool,
    /// Drawn at load time; part of every room name.
    #[serde(skip, default = "tag")]
    pub tag: u64,
}

/// `do = "muc-join"`: every user of a room who is not in it yet enters it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MucJoinStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Room label (from `muc-create`).
    pub room: String,
    /// `<history maxstanzas='N'/>`: judged against the messages posted in the room so far.
    #[serde(default)]
    pub history: Option<u32>,
}

/// `do = "muc-message"`: every occupant posts `count` groupchat messages; every occupant
/// must receive each one (visitors of a moderated room must be refused instead).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MucMessageStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Room label (from `muc-create`).
    pub room: String,
    /// Messages per occupant.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Interval between an occupant's messages.
    #[serde(default)]
    pub every: Dur,
    /// Drawn at load time; part of every message id.
    #[serde(skip, default = "tag")]
    pub tag: u64,
}

/// The room steps without options: `muc-subject`, `muc-nick-conflict`, `muc-limit`,
/// `muc-members-only`, `muc-leave` and `muc-destroy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MucRoomStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Room label (from `muc-create`).
    pub room: String,
    /// Drawn at load time; part of subjects and destruction reasons.
    #[serde(skip, default = "tag")]
    pub tag: u64,
}

/// Most users one room may have in a suite (rooms are groups of a fleet).
pub const MAX_ROOM_SIZE: usize = 1000;

impl Step {
    /// The room label of a `muc-…` step.
    pub fn muc_room(&self) -> Option<&str> {
        let r = match self {
            Self::MucCreate(s) => &s.room,
            Self::MucJoin(s) => &s.room,
            Self::MucMessage(s) => &s.room,
            Self::MucSubject(s)
            | Self::MucNickConflict(s)
            | Self::MucLimit(s)
            | Self::MucMembersOnly(s)
            | Self::MucLeave(s)
            | Self::MucDestroy(s) => &s.room,
            _ => return None,
        };
        Some(r)
    }
}

fn label_ok(l: &str) -> bool {
    (1..=32).contains(&l.len())
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks step `i` of `steps` against the MUC rules: labels are well formed, created once
/// and before use; the room configuration fits the steps that rely on it. `at` prefixes
/// every message (it names the step).
pub fn validate(steps: &[Step], i: usize, at: &str) -> Result<(), String> {
    let Some(label) = steps[i].muc_room() else {
        return Ok(());
    };
    if !label_ok(label) {
        return Err(format!(
            "{at}: field `room`: `{label}` must be 1 to 32 lowercase letters, digits or `-`"
        ));
    }
    let created = steps[..i].iter().find_map(|s| match s {
        Step::MucCreate(c) if c.room == label => Some(c),
        _ => None,
    });
    match (&steps[i], created) {
        (Step::MucCreate(_), Some(_)) => Err(format!(
            "{at}: field `room`: rooms `{label}` were already created by an earlier step"
        )),
        (Step::MucCreate(c), None) => validate_create(c, at),
        (_, None) => Err(format!(
            "{at}: field `room`: no earlier `muc-create` step makes rooms `{label}`"
        )),
        (Step::MucLimit(_), Some(c)) if c.max_users.is_none() => Err(format!(
            "{at}: rooms `{label}` have no `max_users` (set it in their `muc-create` step)"
        )),
        (Step::MucMembersOnly(_), Some(c)) if !c.members_only => Err(format!(
            "{at}: rooms `{label}` are not `members_only` (set it in their `muc-create` step)"
        )),
        (Step::MucMessage(m), _) if m.count == 0 => {
            Err(format!("{at}: field `count` must be at least 1"))
        }
        _ => Ok(()),
    }
}

fn validate_create(c: &MucCreateStep, at: &str) -> Result<(), String> {
    if !(1..=MAX_ROOM_SIZE).contains(&c.room_size) {
        return Err(format!(
            "{at}: field `room_size` must be between 1 and {MAX_ROOM_SIZE}"
        ));
    }
    if let Some(m) = c.max_users.filter(|m| (*m as usize) < c.room_size) {
        return Err(format!(
            "{at}: field `max_users` ({m}) must be at least `room_size` ({}): every user of a room must fit; `muc-limit` tests the limit with a user from another room",
            c.room_size
        ));
    }
    if let Some(s) = &c.service
        && (s.is_empty() || s.contains(['/', '@']) || s.chars().any(char::is_whitespace))
    {
        return Err(format!(
            "{at}: field `service`: `{s}` is not a domain (e.g. conference.example.com)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::scenario::plan::parse_suite;
    use std::path::Path;

    const HEAD: &str = "name = \"t\"\n[[fleet]]\nname = \"f\"\nprotocol = \"xmpp\"\nusers = 6\n";

    fn parse(steps: &str) -> Result<Vec<&'static str>, String> {
        let text = format!("{HEAD}{steps}");
        parse_suite(Path::new("muc.toml"), &text)
            .map(|s| s.steps.iter().map(|s| s.kind()).collect())
            .map_err(|e| e.to_string())
    }

    const CREATE: &str =
        "[[step]]\ndo = \"muc-create\"\nroom = \"lobby\"\nroom_size = 3\nmax_users = 3\n";

    #[test]
    fn muc_steps_parse_after_their_rooms_are_created() {
        let steps = format!(
            "{CREATE}[[step]]\ndo = \"muc-join\"\nroom = \"lobby\"\nhistory = 2\n[[step]]\ndo = \"muc-message\"\nroom = \"lobby\"\ncount = 2\nevery = \"100ms\"\n[[step]]\ndo = \"muc-limit\"\nroom = \"lobby\"\n[[step]]\ndo = \"muc-destroy\"\nroom = \"lobby\"\n"
        );
        let kinds = parse(&steps).expect("valid");
        assert_eq!(
            kinds,
            [
                "muc-create",
                "muc-join",
                "muc-message",
                "muc-limit",
                "muc-destroy"
            ]
        );
    }

    #[test]
    fn rooms_must_exist_and_fit_the_steps_using_them() {
        let e = parse("[[step]]\ndo = \"muc-join\"\nroom = \"lobby\"\n").unwrap_err();
        assert!(e.contains("no earlier `muc-create`"), "{e}");
        let e = parse(&format!("{CREATE}{CREATE}")).unwrap_err();
        assert!(e.contains("already created"), "{e}");
        let small = "[[step]]\ndo = \"muc-create\"\nroom = \"a\"\nroom_size = 3\nmax_users = 2\n";
        let e = parse(small).unwrap_err();
        assert!(e.contains("field `max_users`"), "{e}");
        let open = "[[step]]\ndo = \"muc-create\"\nroom = \"a\"\nroom_size = 3\n";
        let e = parse(&format!(
            "{open}[[step]]\ndo = \"muc-limit\"\nroom = \"a\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("no `max_users`"), "{e}");
        let e = parse(&format!(
            "{open}[[step]]\ndo = \"muc-members-only\"\nroom = \"a\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("not `members_only`"), "{e}");
    }

    #[test]
    fn bad_fields_are_named() {
        let e =
            parse("[[step]]\ndo = \"muc-create\"\nroom = \"Lobby!\"\nroom_size = 3\n").unwrap_err();
        assert!(e.contains("field `room`"), "{e}");
        let e = parse("[[step]]\ndo = \"muc-create\"\nroom = \"a\"\nroom_size = 0\n").unwrap_err();
        assert!(e.contains("field `room_size`"), "{e}");
        let e = parse("[[step]]\ndo = \"muc-create\"\nroom = \"a\"\nroom_size = 2\nsize = 2\n")
            .unwrap_err();
        assert!(e.contains("line 10") && e.contains("size"), "{e}");
        let e = parse("[[step]]\ndo = \"muc-create\"\nroom = \"a\"\nroom_size = 2\ntag = 1\n")
            .unwrap_err();
        assert!(e.contains("tag"), "{e}");
    }
}
