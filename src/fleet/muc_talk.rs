//! Receiving the groupchat of a `muc-message` step: every occupant waits for each message
//! of every occupant with voice, records the latency of its copy, and judges the fan-out
//! (XEP-0045 §7.4); visitors judge the refusal of their own messages, and everyone that no
//! visitor's message reached it.

use super::Ctx;
use super::muc_room::{self as room, Seat};
use super::muc_steps::{message_id, sent_at};
use crate::checks::catalogue as c;
use crate::checks::oracle::Violation;
use crate::checks::oracle_muc as om;
use crate::metrics::Op;
use crate::metrics::accounting::Accounted;
use crate::proto::xmpp::Element;
use crate::scenario::suite::MucMessageStep;
use crate::session::Session;
use std::time::Instant;

fn with_id(el: &Element, id: &str) -> bool {
    el.name == "message" && el.attr("id") == Some(id)
}

/// Waits for every message of the voiced `senders` (nick, has voice) and judges; returns
/// how many of this occupant's own messages the room reflected.
pub(super) async fn listen(
    s: &Session,
    seat: &Seat,
    step: &MucMessageStep,
    senders: &[(String, bool)],
    ctx: &Ctx,
    start: Instant,
) -> u32 {
    let last = step.every.0 * step.count.saturating_sub(1);
    let until = start + last + ctx.timeouts.delivery.0;
    let (mut missing, mut wrong, mut expected, mut reflected) = (Vec::new(), Vec::new(), 0, 0);
    for (nick, _) in senders.iter().filter(|(_, voice)| *voice) {
        let from = room::occupant(&seat.room, nick);
        for k in 0..step.count {
            expected += 1;
            let id = message_id(step.tag, nick, k);
            let got = s
                .take(
                    |el| with_id(el, &id) && el.attr("type") == Some("groupchat"),
                    until,
                )
                .await;
            ctx.events
                .accounted(Accounted::one(s.label(), &id, got.is_some()));
            let Some(r) = got else {
                missing.push(id);
                ctx.events.count("groupchat_lost", 1);
                ctx.events.op_failed_quietly(Op::Groupchat);
                continue;
            };
            let intended = start + step.every.0 * k;
            let sent = sent_at(&r.el, start, intended, r.at);
            ctx.events.latency(Op::Groupchat, intended, sent, r.at);
            ctx.events.count("groupchat_delivered", 1);
            if !room::from_is(&r.el, &from) {
                wrong.push((id, r.el.attr("from").unwrap_or("").to_string()));
            }
            if *nick == seat.nick {
                reflected += 1;
            }
        }
    }
    if expected > 0 {
        let j = om::fanout(expected, &missing, &wrong);
        s.judge(&ctx.events, &c::MUC_FANOUT, j);
    }
    if !seat.has_voice() {
        own_refusals(s, seat, step, ctx, until).await;
    }
    others_refused(s, seat, step, senders, ctx).await;
    reflected
}

/// §7.4 on a visitor: each of its messages comes back as a `<forbidden/>` error.
async fn own_refusals(s: &Session, seat: &Seat, step: &MucMessageStep, ctx: &Ctx, until: Instant) {
    for k in 0..step.count {
        let id = message_id(step.tag, &seat.nick, k);
        let got = s.take(|el| with_id(el, &id), until).await;
        let j = om::visitor_refused(got.as_ref().map(|r| &r.el));
        s.judge(&ctx.events, &c::MUC_VISITOR_FORBIDDEN, j);
    }
}

/// §7.4 on every occupant: no reflection of another visitor's message reached it by the
/// time its own expected messages had come (best effort: a later copy goes unseen).
async fn others_refused(
    s: &Session,
    seat: &Seat,
    step: &MucMessageStep,
    senders: &[(String, bool)],
    ctx: &Ctx,
) {
    let visitors: Vec<&String> = senders
        .iter()
        .filter(|(n, voice)| !voice && *n != seat.nick)
        .map(|(n, _)| n)
        .collect();
    if visitors.is_empty() {
        return;
    }
    let ids: Vec<String> = visitors
        .iter()
        .flat_map(|n| (0..step.count).map(move |k| message_id(step.tag, n, k)))
        .collect();
    let reflection =
        |el: &Element| el.attr("type") == Some("groupchat") && ids.iter().any(|id| with_id(el, id));
    let seen = s.take(reflection, crate::clock::now()).await;
    let j = match seen {
        None => Ok(()),
        Some(r) => Err(Violation {
            expected: "no reflection of a visitor's message".into(),
            actual: format!(
                "message {} of a visitor reached {}",
                r.el.attr("id").unwrap_or(""),
                s.label()
            ),
        }),
    };
    s.judge(&ctx.events, &c::MUC_VISITOR_FORBIDDEN, j);
}
