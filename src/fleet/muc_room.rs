//! The room model of the XEP-0045 steps: the seat a user holds in a room under each label
//! (made by `muc-create`), how rooms are named and grouped, and the stanzas the steps
//! send. Rooms group consecutive users of a fleet; the first user of a room owns it, and
//! the last user of each room is the outsider that tries to enter the next room.

use super::{Directory, Entry, User};
use crate::checks::oracle_muc::item;
use crate::proto::xmpp::{Element, Jid, ns, stanza};
use crate::scenario::suite::MucCreateStep;

/// `http://jabber.org/protocol/muc#admin` (XEP-0045 §9, affiliation changes).
pub(super) const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";

/// The configuration the suite asked of a room.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoomConf {
    /// `muc#roomconfig_maxusers`.
    pub max_users: Option<u32>,
    /// `muc#roomconfig_membersonly` (the room's users are made members).
    pub members_only: bool,
    /// `muc#roomconfig_moderatedroom`.
    pub moderated: bool,
    /// `muc#roomconfig_persistentroom`.
    pub persistent: bool,
}

/// A user's place in one room.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The label of the rooms (suite field `room`).
    pub label: String,
    /// The room's bare JID.
    pub room: Jid,
    /// This user's room nickname (its account name).
    pub nick: String,
    /// Room number within the fleet (0, 1, …).
    pub index: usize,
    /// Position in the room: 0 is the owner.
    pub position: usize,
    /// Users in the room.
    pub size: usize,
    /// Global index of the room's owner (the room's users are consecutive).
    pub owner_gid: usize,
    /// What the suite asked of the room.
    pub conf: RoomConf,
    /// Users per room in the `muc-create` step (rooms other than the last are full).
    pub room_size: usize,
    /// The MUC service domain.
    pub service: String,
    /// The `muc-create` step's tag (part of every room name of the label).
    pub tag: u64,
    /// Fleet position in the suite (part of the room name).
    pub fleet: usize,
    /// Whether impress holds this user to be an occupant (its self-presence came).
    pub joined: bool,
    /// The role of its latest self-presence.
    pub role: Option<String>,
    /// Groupchat messages it posted that the room reflected (the room's history).
    pub posted: u32,
    /// Owner only: whether the configuration form offered `muc#roomconfig_maxusers`.
    pub maxusers_offered: Option<bool>,
}

/// The bare JID of room `index` of a label (`None` if the service is not a valid domain).
pub(super) fn room_jid(
    label: &str,
    fleet: usize,
    index: usize,
    tag: u64,
    service: &str,
) -> Option<Jid> {
    let local = format!("{label}-f{fleet}-r{index}-{tag:016x}");
    Jid::new(Some(&local), service, None).ok()
}

/// `room@service/nick`.
pub(super) fn occupant(room: &Jid, nick: &str) -> Jid {
    room.with_resource(nick).unwrap_or_else(|_| room.clone())
}

impl Seat {
    /// The seat of `u` in the rooms a `muc-create` step makes; `dir` tells how many of the
    /// following users of the fleet share the room. `None` if the service is no domain.
    pub(super) fn new(
        u: &User,
        step: &MucCreateStep,
        domain: &str,
        dir: &Directory,
    ) -> Option<Self> {
        let (index, position) = (u.index / step.room_size, u.index % step.room_size);
        let owner_gid = u.gid - position;
        let first_index = u.index - position;
        let size = (0..step.room_size)
            .take_while(|p| {
                dir.get(owner_gid + p)
                    .is_some_and(|e| e.index == first_index + p)
            })
            .count();
        let service = step
            .service
            .clone()
            .unwrap_or_else(|| format!("conference.{domain}"));
        Some(Self {
            label: step.room.clone(),
            room: room_jid(&step.room, u.fleet, index, step.tag, &service)?,
            nick: u.account.clone(),
            index,
            position,
            size,
            owner_gid,
            conf: RoomConf {
                max_users: step.max_users,
                members_only: step.members_only,
                moderated: step.moderated,
                persistent: step.persistent,
            },
            room_size: step.room_size,
            service,
            tag: step.tag,
            fleet: u.fleet,
            joined: false,
            role: None,
            posted: 0,
            maxusers_offered: None,
        })
    }

    /// The role XEP-0045 §5.1.2 gives this user on entering: owners moderate, members of a
    /// members-only room participate, others are visitors of a moderated room.
    pub(super) fn expected_role(&self) -> &'static str {
        match (self.position, self.conf.members_only, self.conf.moderated) {
            (0, _, _) => "moderator",
            (_, false, true) => "visitor",
            _ => "participant",
        }
    }

    /// Whether this user speaks with voice: what its self-presence said, else the default.
    pub(super) fn has_voice(&self) -> bool {
        self.role.as_deref().unwrap_or(self.expected_role()) != "visitor"
    }

    /// Global indexes of the room's users.
    pub(super) fn gids(&self) -> std::ops::Range<usize> {
        self.owner_gid..self.owner_gid + self.size
    }

    /// The room the outsider of this seat tries to enter, with its owner's gid: the next
    /// room of the fleet, the first one after the last. `None` unless this user is the last
    /// of its room and another room exists.
    pub(super) fn outsider_target(&self, u: &User, dir: &Directory) -> Option<(Jid, usize)> {
        if self.position + 1 != self.size {
            return None;
        }
        let next_gid = u.gid + 1;
        let next_index = u.index + 1;
        let next_exists =
            self.size == self.room_size && dir.get(next_gid).is_some_and(|e| e.index == next_index);
        let (target, owner) = if next_exists {
            (self.index + 1, next_gid)
        } else {
            (0, u.gid - u.index)
        };
        if target == self.index {
            return None;
        }
        let room = room_jid(&self.label, self.fleet, target, self.tag, &self.service)?;
        Some((room, owner))
    }
}

/// The seat of `u` under `label`.
pub(super) fn seat<'a>(u: &'a User, label: &str) -> Option<&'a Seat> {
    u.rooms.iter().find(|s| s.label == label)
}

/// The seat of `u` under `label`, to change.
pub(super) fn seat_mut<'a>(u: &'a mut User, label: &str) -> Option<&'a mut Seat> {
    u.rooms.iter_mut().find(|s| s.label == label)
}

/// The seat of a directory entry under `label`.
pub(super) fn entry_seat<'a>(e: &'a Entry, label: &str) -> Option<&'a Seat> {
    e.rooms.iter().find(|s| s.label == label)
}

/// Whether an entry's first session is connected.
pub(super) fn online(e: &Entry) -> bool {
    e.sessions.first().is_some_and(|(_, j)| j.is_some())
}

/// The other users of a room, from the directory: (gid, entry, seat).
pub(super) fn roommates<'a>(
    seat: &Seat,
    me: usize,
    dir: &'a Directory,
) -> Vec<(usize, &'a Entry, &'a Seat)> {
    seat.gids()
        .filter(|g| *g != me)
        .filter_map(|g| {
            let e = dir.get(g)?;
            Some((g, e, entry_seat(e, &seat.label)?))
        })
        .collect()
}

/// The presence that enters a room (§7.2.1), asking for `history` messages (§7.2.14).
pub(super) fn join_presence(to: &Jid, history: Option<u32>) -> Element {
    let mut x = Element::new("x", ns::MUC);
    if let Some(n) = history {
        x.push_child(Element::new("history", ns::MUC).with_attr("maxstanzas", n.to_string()));
    }
    stanza::presence(None, Some(&to.to_string())).with_child(x)
}

/// Whether `el` comes from exactly `jid`.
pub(super) fn from_is(el: &Element, jid: &Jid) -> bool {
    el.attr("from")
        .and_then(|f| f.parse::<Jid>().ok())
        .is_some_and(|f| f == *jid)
}

/// Whether `el` comes from `room` or one of its occupants.
pub(super) fn from_room(el: &Element, room: &Jid) -> bool {
    el.attr("from")
        .and_then(|f| f.parse::<Jid>().ok())
        .is_some_and(|f| f.bare() == *room)
}

/// The room's answer to a join sent to `occupant`: available, unavailable or error
/// presence from that occupant JID.
pub(super) fn is_join_answer(el: &Element, occupant: &Jid) -> bool {
    el.name == "presence" && from_is(el, occupant) && el.attr("type") != Some("probe")
}

/// Whether `el` admits the user: available presence (no `type`).
pub(super) fn admitted(el: &Element) -> bool {
    el.attr("type").is_none()
}

/// The role in a presence's `muc#user` item.
pub(super) fn role_of(el: &Element) -> Option<String> {
    item(el).map(|(_, r)| r.to_string())
}

/// An IQ to the room carrying `query`.
pub(super) fn room_iq(kind: &str, room: &Jid, query: Element) -> Element {
    stanza::iq(kind, "", Some(&room.to_string()), Some(query))
}

/// The values the suite submits in the room configuration form, for the fields the form
/// offers (`fields` are their `var`s).
pub(super) fn config_values(fields: &[String], label: &str, c: &RoomConf) -> Vec<(String, String)> {
    let flag = |b: bool| if b { "1" } else { "0" }.to_string();
    let mut values: Vec<(&str, String)> = vec![
        ("muc#roomconfig_roomname", format!("impress {label}")),
        ("muc#roomconfig_persistentroom", flag(c.persistent)),
        ("muc#roomconfig_membersonly", flag(c.members_only)),
        ("muc#roomconfig_moderatedroom", flag(c.moderated)),
    ];
    if let Some(m) = c.max_users {
        values.push(("muc#roomconfig_maxusers", m.to_string()));
    }
    if c.moderated {
        // ejabberd's own field: newcomers are participants unless it is off (§5.1.2 wants
        // visitors in a moderated room).
        values.push(("members_by_default", flag(false)));
    }
    values
        .into_iter()
        .filter(|(var, _)| fields.iter().any(|f| f == var))
        .map(|(var, v)| (var.to_string(), v))
        .collect()
}

/// A `jabber:x:data` submission of the room configuration: `FORM_TYPE` and `values`.
pub(super) fn config_submit(values: &[(String, String)]) -> Element {
    let field = |var: &str, v: &str| {
        Element::new("field", ns::DATA_FORMS)
            .with_attr("var", var)
            .with_child(Element::new("value", ns::DATA_FORMS).with_text(v))
    };
    let mut x = Element::new("x", ns::DATA_FORMS)
        .with_attr("type", "submit")
        .with_child(field(
            "FORM_TYPE",
            "http://jabber.org/protocol/muc#roomconfig",
        ));
    for (var, v) in values {
        x.push_child(field(var, v));
    }
    Element::new("query", ns::MUC_OWNER).with_child(x)
}
