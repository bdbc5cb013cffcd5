//! The XEP-0045 room steps: create and configure, join (with history), groupchat fan-out,
//! subject change, leave and destroy, and the clauses each judges. Every occupant judges
//! what it received itself: message ids (`muc-<tag>-<nick>-<k>`) and subjects are known
//! to every occupant in advance, so no shared tracker is needed, and history copies of
//! earlier messages stay visible to the joining session.

use super::muc_room::{self as room, Seat};
use super::steps::deadline;
use super::{Ctx, Directory, User};
use crate::checks::catalogue as c;
use crate::checks::oracle::{self, Judgement};
use crate::checks::oracle_muc::{self as om, JoinTrace};
use crate::metrics::Op;
use crate::proto::xmpp::{Element, Jid, ns, stanza};
use crate::scenario::suite::{MucCreateStep, MucJoinStep, MucMessageStep, MucRoomStep, Step};
use crate::session::{Received, Session};
use std::time::{Duration, Instant};

pub(super) fn first(u: &User) -> Option<&Session> {
    u.sessions.first().and_then(Option::as_ref)
}

/// RFC 6120 §8.2.3 on the room's answer to an IQ, which it returns.
async fn request(s: &Session, ctx: &Ctx, iq: Element) -> Option<Element> {
    match s.request(iq).await {
        Ok((_, r)) => {
            let el = r.map(|r| r.el);
            let id = el.as_ref().and_then(|r| r.attr("id")).unwrap_or("request");
            s.judge(
                &ctx.events,
                &c::IQ_RESPONSE,
                oracle::iq_response(id, el.as_ref()),
            );
            el
        }
        Err(e) => {
            ctx.events.error(s.label(), format!("room request: {e}"));
            None
        }
    }
}

/// The first failing judgement of many, or a pass.
fn worst(js: impl IntoIterator<Item = Judgement>) -> Judgement {
    js.into_iter().find(Result::is_err).unwrap_or(Ok(()))
}

/// `muc-create`: every user takes its seat; the first user of each room creates the room
/// (§10.1.1), configures it (§10.1.3) and, for a members-only room, makes the room's other
/// users members (§9.3).
pub(super) async fn create(
    u: &mut User,
    step: &MucCreateStep,
    ctx: &Ctx,
    dir: &Directory,
    start: Instant,
) {
    let Some(mut seat) = Seat::new(u, step, &ctx.settings.domain, dir) else {
        ctx.events.error(
            &u.account,
            format!("muc-create: rooms `{}` have no valid room JID", step.room),
        );
        return;
    };
    if let Some(s) = first(u).filter(|_| seat.position == 0) {
        found(s, &mut seat, ctx, dir, start).await;
    }
    u.rooms.retain(|s| s.label != seat.label);
    u.rooms.push(seat);
}

async fn found(s: &Session, seat: &mut Seat, ctx: &Ctx, dir: &Directory, start: Instant) {
    let own = match enter(s, seat, None, ctx, start).await {
        Ok(own) => own,
        Err(refusal) => {
            let j = om::room_created(refusal.as_ref());
            s.judge(&ctx.events, &c::MUC_ROOM_CREATED, j);
            return;
        }
    };
    s.judge(
        &ctx.events,
        &c::MUC_ROOM_CREATED,
        om::room_created(Some(&own.el)),
    );
    configure(s, seat, ctx).await;
    if seat.conf.members_only {
        grant_membership(s, seat, dir, ctx).await;
    }
    after_entry(s, seat, &own, Vec::new(), None, ctx).await;
}

/// §10.1.3: request the configuration form, submit the suite's values for the fields it
/// offers, and require an IQ result; then §10.2: the form asked again shows them in effect.
async fn configure(s: &Session, seat: &mut Seat, ctx: &Ctx) {
    let get = || room::room_iq("get", &seat.room, Element::new("query", ns::MUC_OWNER));
    let form = request(s, ctx, get()).await;
    let fields = match om::config_form(form.as_ref()) {
        Ok(f) => f,
        Err(v) => {
            s.judge(&ctx.events, &c::MUC_ROOM_CONFIGURED, Err(v));
            return;
        }
    };
    let vars: Vec<String> = fields.into_iter().map(|f| f.var).collect();
    seat.maxusers_offered = Some(vars.iter().any(|v| v == "muc#roomconfig_maxusers"));
    let values = room::config_values(&vars, &seat.label, &seat.conf);
    let submit = room::room_iq("set", &seat.room, room::config_submit(&values));
    let answer = request(s, ctx, submit).await;
    let j = om::iq_result("the submitted configuration form", answer.as_ref());
    let accepted = j.is_ok();
    s.judge(&ctx.events, &c::MUC_ROOM_CONFIGURED, j);
    if accepted {
        let again = request(s, ctx, get()).await;
        let j = om::config_form(again.as_ref()).and_then(|f| om::config_in_effect(&values, &f));
        s.judge(&ctx.events, &c::MUC_CONFIG_IN_EFFECT, j);
    }
}

/// §9.3: the owner makes every other user of a members-only room a member, one request
/// per user as §9.3 shows it (Prosody 0.12 reads only the first item of a request).
async fn grant_membership(s: &Session, seat: &Seat, dir: &Directory, ctx: &Ctx) {
    for g in seat.gids().filter(|g| *g != seat.owner_gid) {
        let Some(e) = dir.get(g) else {
            continue;
        };
        let item = Element::new("item", room::MUC_ADMIN)
            .with_attr("affiliation", "member")
            .with_attr("jid", e.bare.to_string());
        let q = Element::new("query", room::MUC_ADMIN).with_child(item);
        let answer = request(s, ctx, room::room_iq("set", &seat.room, q)).await;
        if let Err(v) = om::iq_result("the membership grant", answer.as_ref()) {
            let why = format!("making {} a member of {}: {}", e.bare, seat.room, v.actual);
            ctx.events.error(s.label(), why);
        }
    }
}

/// Sends the join presence and waits for the room's answer. Judges §7.2.2 (status 110)
/// and §5.1.2, records the join latency and returns the self-presence when admitted, else
/// the room's refusal (`None`: no answer).
async fn enter(
    s: &Session,
    seat: &mut Seat,
    history: Option<u32>,
    ctx: &Ctx,
    start: Instant,
) -> Result<Received, Option<Element>> {
    let me = room::occupant(&seat.room, &seat.nick);
    let sent = match s.send(&room::join_presence(&me, history)).await {
        Ok(at) => at,
        Err(e) => {
            ctx.events.op_failed(Op::MucJoin, s.label(), e.to_string());
            return Err(None);
        }
    };
    let answer = s
        .take(|el| room::is_join_answer(el, &me), deadline(ctx))
        .await;
    let el = answer.as_ref().map(|r| &r.el);
    s.judge(&ctx.events, &c::MUC_SELF_PRESENCE, om::self_presence(el));
    let why = el.map_or_else(
        || "no answer before the delivery timeout".into(),
        oracle::describe,
    );
    let own = match answer {
        Some(r) if room::admitted(&r.el) => r,
        refusal => {
            let why = format!("entering {}: {why}", seat.room);
            ctx.events.op_failed(Op::MucJoin, s.label(), why);
            return Err(refusal.map(|r| r.el));
        }
    };
    ctx.events.latency(Op::MucJoin, start, sent, own.at);
    let role = om::default_role(&own.el, seat.expected_role());
    s.judge(&ctx.events, &c::MUC_DEFAULT_ROLE, role);
    seat.role = room::role_of(&own.el);
    seat.joined = true;
    Ok(own)
}

fn is_history(el: &Element, room: &Jid) -> bool {
    el.name == "message"
        && el.attr("type") == Some("groupchat")
        && el.child("body", &el.ns).is_some()
        && om::is_delayed(el)
        && room::from_room(el, room)
}

/// What follows a self-presence: discussion history, then the subject (§7.2.13–7.2.15),
/// and their order (§7.1). `history` is `(maxstanzas, messages posted so far)` when the
/// join asked for history.
async fn after_entry(
    s: &Session,
    seat: &Seat,
    own: &Received,
    existing: Vec<(String, Option<Instant>)>,
    history: Option<(u32, u32)>,
    ctx: &Ctx,
) {
    let r = &seat.room;
    let subject = s
        .take(
            |el| om::is_subject(el) && room::from_room(el, r),
            deadline(ctx),
        )
        .await;
    // History precedes the subject: once it came, every history message is in the inbox.
    let until = match (&subject, history) {
        (None, Some(_)) => deadline(ctx),
        _ => crate::clock::now(),
    };
    let mut past = Vec::new();
    while let Some(h) = s.take(|el| is_history(el, r), until).await {
        past.push(h);
    }
    s.judge(
        &ctx.events,
        &c::MUC_SUBJECT_ON_JOIN,
        om::subject_on_join(subject.as_ref().map(|m| &m.el)),
    );
    if let Some((max, posted)) = history {
        let j = om::history_count(max, posted, past.len());
        s.judge(&ctx.events, &c::MUC_HISTORY_MAXSTANZAS, j);
    }
    if !past.is_empty() {
        let j = worst(past.iter().map(|h| om::history_delay(&h.el, r)));
        s.judge(&ctx.events, &c::MUC_HISTORY_DELAY, j);
    }
    let trace = JoinTrace {
        existing,
        own: Some(own.at),
        history: past.iter().map(|h| h.at).collect(),
        subject: subject.map(|m| m.at),
    };
    s.judge(&ctx.events, &c::MUC_ORDER, om::order_of_events(&trace));
}

fn presence_from(el: &Element, who: &Jid) -> bool {
    el.name == "presence" && el.attr("type").is_none() && room::from_is(el, who)
}

/// Takes the available presence of each nick; returns when each came (`None`: never).
async fn presences(
    s: &Session,
    room_jid: &Jid,
    nicks: &[String],
    ctx: &Ctx,
) -> Vec<Option<Instant>> {
    let until = deadline(ctx);
    let mut out = Vec::with_capacity(nicks.len());
    for n in nicks {
        let who = room::occupant(room_jid, n);
        out.push(
            s.take(|el| presence_from(el, &who), until)
                .await
                .map(|r| r.at),
        );
    }
    out
}

fn judge_seen(s: &Session, ctx: &Ctx, nicks: &[String], at: &[Option<Instant>]) {
    let missing: Vec<String> = nicks
        .iter()
        .zip(at)
        .filter(|(_, a)| a.is_none())
        .map(|(n, _)| n.clone())
        .collect();
    let j = om::occupants_seen(nicks, &missing);
    s.judge(&ctx.events, &c::MUC_OCCUPANT_PRESENCE, j);
}

/// `muc-join`: the room's users who are not in it enter it (asking for `history`); those
/// already in it must see every newcomer's presence (§7.2.2).
pub(super) async fn join(
    u: &mut User,
    step: &MucJoinStep,
    ctx: &Ctx,
    dir: &Directory,
    start: Instant,
) {
    let Some(mut seat) = room::seat(u, &step.room).cloned() else {
        return;
    };
    let Some(s) = first(u) else {
        return;
    };
    let mates = room::roommates(&seat, u.gid, dir);
    let newcomers: Vec<String> = mates
        .iter()
        .filter(|(_, e, m)| !m.joined && room::online(e))
        .map(|(_, _, m)| m.nick.clone())
        .collect();
    if seat.joined {
        if !newcomers.is_empty() {
            let at = presences(s, &seat.room, &newcomers, ctx).await;
            judge_seen(s, ctx, &newcomers, &at);
        }
        return;
    }
    let existing: Vec<String> = mates
        .iter()
        .filter(|(_, _, m)| m.joined)
        .map(|(_, _, m)| m.nick.clone())
        .collect();
    let posted = seat.posted + mates.iter().map(|(_, _, m)| m.posted).sum::<u32>();
    if let Ok(own) = enter(s, &mut seat, step.history, ctx, start).await {
        let all: Vec<String> = existing.iter().chain(&newcomers).cloned().collect();
        let at = presences(s, &seat.room, &all, ctx).await;
        judge_seen(s, ctx, &all, &at);
        let before = existing.into_iter().zip(at).collect();
        let history = step.history.map(|n| (n, posted));
        after_entry(s, &seat, &own, before, history, ctx).await;
    }
    if let Some(slot) = room::seat_mut(u, &step.room) {
        *slot = seat;
    }
}

/// The id of message `k` of `nick` in a `muc-message` step.
pub(super) fn message_id(tag: u64, nick: &str, k: u32) -> String {
    format!("muc-{tag:016x}-{nick}-{k}")
}

/// `muc-message`: every occupant posts `count` messages; each occupant must receive every
/// message of every occupant with voice (§7.4), and a visitor's message must be refused.
pub(super) async fn message(
    u: &mut User,
    step: &MucMessageStep,
    ctx: &Ctx,
    dir: &Directory,
    start: Instant,
) {
    let Some(seat) = room::seat(u, &step.room).filter(|s| s.joined).cloned() else {
        return;
    };
    let Some(s) = first(u) else {
        return;
    };
    let mut senders: Vec<(String, bool)> = room::roommates(&seat, u.gid, dir)
        .into_iter()
        .filter(|(_, e, m)| m.joined && room::online(e))
        .map(|(_, _, m)| (m.nick.clone(), m.has_voice()))
        .collect();
    senders.push((seat.nick.clone(), seat.has_voice()));
    let (_, reflected) = tokio::join!(
        post(s, &seat, step, ctx, start),
        super::muc_talk::listen(s, &seat, step, &senders, ctx, start)
    );
    if let Some(slot) = room::seat_mut(u, &step.room) {
        slot.posted += reflected;
    }
}

/// Sends this occupant's messages at their intended times. The body carries the send time
/// (µs after the step's start) so receivers can measure service time too.
async fn post(s: &Session, seat: &Seat, step: &MucMessageStep, ctx: &Ctx, start: Instant) {
    for k in 0..step.count {
        let intended = start + step.every.0 * k;
        tokio::time::sleep_until(intended.into()).await;
        let id = message_id(step.tag, &seat.nick, k);
        let offset = crate::clock::now()
            .saturating_duration_since(start)
            .as_micros();
        let body = format!("impress groupchat {k} from {} +{offset}us", seat.nick);
        let msg = stanza::message("groupchat", &id, &seat.room.to_string(), &body);
        match s.send(&msg).await {
            Ok(_) => ctx.events.count("groupchat_sent", 1),
            Err(e) => ctx.events.error(s.label(), format!("groupchat send: {e}")),
        }
    }
}

/// When a message was sent, from its body (`+<µs>us` after the step's start): between its
/// intended time and its arrival `done`, else (a body the room changed) its intended time.
pub(super) fn sent_at(el: &Element, start: Instant, intended: Instant, done: Instant) -> Instant {
    let body = el
        .child("body", &el.ns)
        .map(Element::text)
        .unwrap_or_default();
    body.rsplit('+')
        .next()
        .and_then(|t| t.trim().strip_suffix("us")?.parse::<u64>().ok())
        .and_then(|us| start.checked_add(Duration::from_micros(us)))
        .filter(|t| *t >= intended && *t <= done)
        .unwrap_or(intended)
}

/// `muc-subject`: the owner sets the subject; every other occupant must receive it (§8.1).
pub(super) async fn subject(u: &User, step: &MucRoomStep, ctx: &Ctx, dir: &Directory) {
    let Some(seat) = room::seat(u, &step.room).filter(|s| s.joined) else {
        return;
    };
    let Some(s) = first(u) else {
        return;
    };
    let text = format!("impress subject {:016x}", step.tag);
    if seat.position == 0 {
        let msg = Element::new("message", ns::CLIENT)
            .with_attr("type", "groupchat")
            .with_attr("id", format!("muc-{:016x}-subject", step.tag))
            .with_attr("to", seat.room.to_string())
            .with_child(Element::new("subject", ns::CLIENT).with_text(text.as_str()));
        if let Err(e) = s.send(&msg).await {
            ctx.events.error(s.label(), format!("subject change: {e}"));
        }
        return;
    }
    let Some(owner) = dir
        .get(seat.owner_gid)
        .and_then(|e| room::entry_seat(e, &seat.label))
        .map(|o| room::occupant(&seat.room, &o.nick))
    else {
        return;
    };
    let got = s
        .take(
            |el| {
                om::is_subject(el)
                    && room::from_room(el, &seat.room)
                    && el
                        .child("subject", &el.ns)
                        .is_some_and(|t| t.text().trim() == text)
            },
            deadline(ctx),
        )
        .await;
    let j = om::subject_change(got.as_ref().map(|r| &r.el), &text, &seat.room, &owner);
    s.judge(&ctx.events, &c::MUC_SUBJECT_CHANGE, j);
}

/// `muc-leave`: every occupant but the owner exits; each must get its unavailable
/// self-presence with 110, and the owner everyone's unavailable presence (§7.14).
pub(super) async fn leave(u: &mut User, step: &MucRoomStep, ctx: &Ctx, dir: &Directory) {
    let Some(seat) = room::seat(u, &step.room).filter(|s| s.joined).cloned() else {
        return;
    };
    let Some(s) = first(u) else {
        return;
    };
    let until = deadline(ctx);
    if seat.position == 0 {
        let leavers: Vec<String> = room::roommates(&seat, u.gid, dir)
            .into_iter()
            .filter(|(_, e, m)| m.joined && room::online(e))
            .map(|(_, _, m)| m.nick.clone())
            .collect();
        for n in leavers {
            let who = room::occupant(&seat.room, &n);
            let got = s
                .take(
                    |el| room::from_is(el, &who) && el.attr("type") == Some("unavailable"),
                    until,
                )
                .await;
            let j = om::exit_broadcast(got.as_ref().map(|r| &r.el));
            s.judge(&ctx.events, &c::MUC_EXIT_BROADCAST, j);
        }
        return;
    }
    let me = room::occupant(&seat.room, &seat.nick);
    if let Err(e) = s
        .send(&stanza::presence(
            Some("unavailable"),
            Some(&me.to_string()),
        ))
        .await
    {
        ctx.events
            .error(s.label(), format!("leaving {}: {e}", seat.room));
        return;
    }
    let got = s
        .take(
            |el| room::from_is(el, &me) && el.attr("type") == Some("unavailable"),
            until,
        )
        .await;
    s.judge(
        &ctx.events,
        &c::MUC_EXIT_SELF,
        om::exit_self(got.as_ref().map(|r| &r.el)),
    );
    if let Some(slot) = room::seat_mut(u, &step.room) {
        slot.joined = false;
    }
}

/// `muc-destroy`: the owner destroys the room with a reason; every occupant must get one
/// unavailable presence carrying it in `<destroy/>`, the owner an IQ result (§10.9).
pub(super) async fn destroy(u: &mut User, step: &MucRoomStep, ctx: &Ctx) {
    let Some(seat) = room::seat(u, &step.room).filter(|s| s.joined).cloned() else {
        return;
    };
    let Some(s) = first(u) else {
        return;
    };
    let reason = format!("impress destroys {:016x}", step.tag);
    if seat.position == 0 {
        let d = Element::new("destroy", ns::MUC_OWNER)
            .with_child(Element::new("reason", ns::MUC_OWNER).with_text(reason.as_str()));
        let q = Element::new("query", ns::MUC_OWNER).with_child(d);
        let answer = request(s, ctx, room::room_iq("set", &seat.room, q)).await;
        let j = om::iq_result("the destruction request", answer.as_ref());
        s.judge(&ctx.events, &c::MUC_DESTROY, j);
    }
    let me = room::occupant(&seat.room, &seat.nick);
    let got = s
        .take(
            |el| room::from_is(el, &me) && el.attr("type") == Some("unavailable"),
            deadline(ctx),
        )
        .await;
    let j = om::destroyed(got.as_ref().map(|r| &r.el), &reason);
    s.judge(&ctx.events, &c::MUC_DESTROY, j);
    if let Some(slot) = room::seat_mut(u, &step.room) {
        slot.joined = false;
    }
}

/// Runs one `muc-…` step for `u`.
pub(super) async fn run(u: &mut User, step: &Step, ctx: &Ctx, dir: &Directory, start: Instant) {
    use super::muc_probe::{Probe, probe};
    match step {
        Step::MucCreate(m) => create(u, m, ctx, dir, start).await,
        Step::MucJoin(m) => join(u, m, ctx, dir, start).await,
        Step::MucMessage(m) => message(u, m, ctx, dir, start).await,
        Step::MucSubject(m) => subject(u, m, ctx, dir).await,
        Step::MucNickConflict(m) => probe(u, m, Probe::NickConflict, ctx, dir).await,
        Step::MucLimit(m) => probe(u, m, Probe::Full, ctx, dir).await,
        Step::MucMembersOnly(m) => probe(u, m, Probe::MembersOnly, ctx, dir).await,
        Step::MucLeave(m) => leave(u, m, ctx, dir).await,
        Step::MucDestroy(m) => destroy(u, m, ctx).await,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_time_is_read_from_the_body_within_bounds() {
        let start = crate::clock::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let msg = |body: &str| {
            Element::new("message", ns::CLIENT)
                .with_child(Element::new("body", ns::CLIENT).with_text(body))
        };
        let ok = msg("impress groupchat 0 from user1 +5000us");
        assert_eq!(sent_at(&ok, start, at(0), at(9)), at(5));
        // Hostile or rewritten bodies fall back to the intended time, never panic.
        for body in [
            "+18446744073709551615us",
            "+20000us",
            "no time",
            "+-3us",
            "",
        ] {
            assert_eq!(sent_at(&msg(body), start, at(0), at(9)), at(0), "{body}");
        }
    }
}
