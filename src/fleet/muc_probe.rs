//! The outsider steps: the last user of each room tries to enter the next room of the fleet
//! (the last room's tries the first), which must refuse it with `<conflict/>` when it asks
//! for the owner's nick (XEP-0045 §7.2.8, `muc-nick-conflict`), `<service-unavailable/>`
//! when the room is full (§7.2.9, `muc-limit`) and `<registration-required/>` when the room
//! is members-only (§7.2.6, `muc-members-only`). An outsider the room admits leaves again.

use super::muc_room::{self as room, Seat};
use super::muc_steps::first;
use super::steps::deadline;
use super::{Ctx, Directory, User};
use crate::checks::catalogue as c;
use crate::checks::oracle_muc as om;
use crate::checks::{CheckDef, Outcome, Verdict};
use crate::proto::xmpp::{Element, Jid, stanza};
use crate::scenario::suite::MucRoomStep;
use crate::session::Session;

/// Which refusal an outsider step tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// It asks for the nick of the room's owner.
    NickConflict,
    /// The room holds `max_users` occupants.
    Full,
    /// The room is members-only.
    MembersOnly,
}

impl Probe {
    fn check(self) -> &'static CheckDef {
        match self {
            Self::NickConflict => &c::MUC_NICK_CONFLICT,
            Self::Full => &c::MUC_MAX_USERS,
            Self::MembersOnly => &c::MUC_MEMBERS_ONLY,
        }
    }

    fn condition(self) -> &'static str {
        match self {
            Self::NickConflict => "conflict",
            Self::Full => "service-unavailable",
            Self::MembersOnly => "registration-required",
        }
    }
}

/// Why the target room cannot show the refusal (the check is then impossible).
fn precondition(kind: Probe, label: &str, owner: &Seat, dir: &Directory) -> Result<(), String> {
    match kind {
        _ if !owner.joined => Err(
            "the owner of the room is not in it (it was never made or was left): nothing to refuse"
                .into(),
        ),
        Probe::Full => {
            if owner.maxusers_offered == Some(false) {
                return Err("the room configuration form offers no muc#roomconfig_maxusers: the service sets no occupant limit".into());
            }
            let max = owner.conf.max_users.unwrap_or(0) as usize;
            let inside = owner
                .gids()
                .filter_map(|g| dir.get(g))
                .filter_map(|e| room::entry_seat(e, label))
                .filter(|s| s.joined)
                .count();
            if inside == max {
                Ok(())
            } else {
                Err(format!(
                    "the room holds {inside} occupants of its max_users {max}: it is not full"
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Runs one outsider step for `u` (only the last user of each room acts).
pub(super) async fn probe(u: &User, step: &MucRoomStep, kind: Probe, ctx: &Ctx, dir: &Directory) {
    let Some(seat) = room::seat(u, &step.room).filter(|s| s.position + 1 == s.size) else {
        return;
    };
    let Some(s) = first(u) else {
        return;
    };
    let impossible = |why: String| {
        ctx.events.outcome(Outcome::new(
            kind.check(),
            Verdict::Impossible,
            s.label(),
            why,
        ));
    };
    let Some((target, owner_gid)) = seat.outsider_target(u, dir) else {
        impossible(format!(
            "rooms `{}` are a single room: no user outside it tries to enter",
            seat.label
        ));
        return;
    };
    let Some(owner) = dir
        .get(owner_gid)
        .and_then(|e| room::entry_seat(e, &seat.label))
    else {
        return;
    };
    if let Err(why) = precondition(kind, &seat.label, owner, dir) {
        impossible(why);
        return;
    }
    let nick = match kind {
        Probe::NickConflict => &owner.nick,
        Probe::Full | Probe::MembersOnly => &seat.nick,
    };
    let me = room::occupant(&target, nick);
    if let Err(e) = s.send(&room::join_presence(&me, Some(0))).await {
        ctx.events
            .error(s.label(), format!("entering {target}: {e}"));
        return;
    }
    let answer = s
        .take(|el| room::is_join_answer(el, &me), deadline(ctx))
        .await;
    let el = answer.as_ref().map(|r| &r.el);
    s.judge(
        &ctx.events,
        kind.check(),
        om::join_refused(el, kind.condition()),
    );
    if el.is_some_and(room::admitted) {
        leave_again(s, &me, ctx).await;
    }
}

/// An outsider admitted against the rule leaves, so the room is as the suite left it.
async fn leave_again(s: &Session, me: &Jid, ctx: &Ctx) {
    let bye = stanza::presence(Some("unavailable"), Some(&me.to_string()));
    if s.send(&bye).await.is_ok() {
        let gone = |el: &Element| room::from_is(el, me) && el.attr("type") == Some("unavailable");
        let _ = s.take(gone, deadline(ctx)).await;
    }
}
