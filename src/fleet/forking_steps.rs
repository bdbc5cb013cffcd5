//! The multi-device delivery steps. `fork`: messages to a partner's bare JID, recording
//! which of its resources got each one (RFC 6121 §8.5.2.1.1: never a negative-priority
//! one), the server's forking policy and every copy's latency. `lock-in`: the seed's
//! "fork until the contact replies, then stay with the replying device", in three phases
//! the runner plays as waves (even users, odd users, even users again).

use super::steps::{deadline, judge_message};
use super::tracker::{Delivery, Expect};
use super::{Ctx, Directory, Entry, User};
use crate::checks::catalogue as c;
use crate::checks::oracle_carbons as oracle;
use crate::checks::{CheckDef, Outcome, Verdict};
use crate::metrics::Op;
use crate::proto::xmpp::{Element, stanza};
use crate::scenario::suite::{ForkStep, LockInStep, MessageKind, Recipient};
use crate::session::Session;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// One tokened message to send and whom it must reach.
pub(super) struct Send<'a> {
    /// The sending session.
    pub from: &'a Session,
    /// The 'to' address.
    pub to: String,
    /// Who must receive it.
    pub expect: Expect,
    /// When the schedule intended it.
    pub intended: Instant,
    /// Message type.
    pub kind: MessageKind,
    /// Body text.
    pub body: String,
}

/// Registers, builds and sends one tokened message; returns its token.
pub(super) async fn send(m: Send<'_>, extra: &[Element], ctx: &Ctx, waker: &Arc<Notify>) -> String {
    send_as(ctx.tracker.token(), m, extra, ctx, waker).await
}

/// [`send`] with a token drawn by the caller (who registered it elsewhere too), adding
/// `extra` children to the message.
pub(super) async fn send_as(
    token: String,
    m: Send<'_>,
    extra: &[Element],
    ctx: &Ctx,
    waker: &Arc<Notify>,
) -> String {
    let (s, intended) = (m.from, m.intended);
    ctx.tracker
        .expect(&token, Op::Message, intended, s.jid(), m.expect, waker);
    let mut el = stanza::message(m.kind.as_str(), &token, &m.to, &m.body);
    for x in extra {
        el.push_child(x.clone());
    }
    match s.send(&el).await {
        Ok(at) => ctx.tracker.sent(&token, at),
        Err(e) => ctx.events.error(s.label(), format!("send failed: {e}")),
    }
    ctx.events.count("messages_sent", 1);
    token
}

/// The connected resources of `e` with their priorities.
fn resources(e: &Entry) -> Vec<(String, i8)> {
    e.sessions
        .iter()
        .zip(&e.priorities)
        .filter(|((_, jid), _)| jid.is_some())
        .map(|((l, _), p)| (l.clone(), *p))
        .collect()
}

/// Connected resources of `e` that may receive a message to its bare JID (priority ≥ 0).
fn eligible(e: &Entry) -> Vec<String> {
    resources(e)
        .into_iter()
        .filter(|(_, p)| *p >= 0)
        .map(|(l, _)| l)
        .collect()
}

/// Waits for the first copy of every token, then `grace` longer for further copies.
async fn settle(tokens: &[String], waker: &Notify, grace: Duration, ctx: &Ctx) {
    ctx.tracker.wait(tokens, deadline(ctx), waker).await;
    tokio::time::sleep(grace).await;
}

fn impossible(ctx: &Ctx, subject: &str, check: &'static CheckDef, why: &str) {
    ctx.events
        .outcome(Outcome::new(check, Verdict::Impossible, subject, why));
}

/// `fork`: `count` messages from the first resource to the partner's bare JID.
pub(super) async fn fork(u: &User, step: &ForkStep, ctx: &Ctx, dir: &Directory, start: Instant) {
    let Some(s0) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    let Some(p) = u.partners.first().and_then(|g| dir.get(*g)) else {
        return;
    };
    let waker = Arc::new(Notify::new());
    let mut tokens = Vec::new();
    for k in 0..step.count {
        let intended = start + step.every.0 * k;
        tokio::time::sleep_until(intended.into()).await;
        let m = Send {
            from: s0,
            to: p.bare.to_string(),
            expect: Expect::Any(eligible(p)),
            intended,
            kind: step.kind,
            body: format!("impress fork {k} from {}", u.account),
        };
        tokens.push(send(m, &[], ctx, &waker).await);
    }
    settle(&tokens, &waker, step.grace.0, ctx).await;
    for t in &tokens {
        if let Some(d) = ctx.tracker.finish(t) {
            judge_fork(s0, &d, p, ctx);
        }
    }
}

/// RFC 6121 §8.5.2.1.1 on one message to `p`'s bare JID: some eligible resource got it,
/// no negative one did; the policy and every copy's latency are recorded.
fn judge_fork(s: &Session, d: &Delivery, p: &Entry, ctx: &Ctx) {
    judge_message(s, d, Recipient::PartnerBare, ctx);
    let got = d.receivers();
    let all = resources(p);
    let negative: Vec<String> = all
        .iter()
        .filter(|(_, pr)| *pr < 0)
        .map(|(l, _)| l.clone())
        .collect();
    if !negative.is_empty() {
        let j = oracle::no_negative_priority(&got, &negative);
        s.judge(&ctx.events, &c::NO_NEGATIVE_PRIORITY, j);
    }
    ctx.events
        .count(oracle::fork_policy(&got, &all).counter(), 1);
    for (_, at) in &d.got {
        ctx.events.latency(Op::Fork, d.intended, d.sent, *at);
    }
}

/// The partner an initiator (even user) talks to in `lock-in`: its first partner, when
/// that is the next (odd) user.
fn responder<'a>(u: &User, dir: &'a Directory) -> Option<&'a Entry> {
    let p = u.partners.first().and_then(|g| dir.get(*g))?;
    (u.index.is_multiple_of(2) && p.index == u.index + 1).then_some(p)
}

/// The resource index a responder replies from, by the step's `reply_from` (labels are
/// `account/resource`).
fn replier_index(step: &LockInStep, labels: &[String]) -> Option<usize> {
    match &step.reply_from {
        Some(r) => {
            let suffix = format!("/{r}");
            labels.iter().position(|l| l.ends_with(&suffix))
        }
        None => (labels.len() > 1).then_some(1),
    }
}

/// `lock-in`, phase `phase` (0: initial message, 1: reply, 2: after the reply).
pub(super) async fn lock_in(
    u: &User,
    step: &LockInStep,
    ctx: &Ctx,
    dir: &Directory,
    start: Instant,
    phase: usize,
) {
    match phase {
        0 => initial(u, step, ctx, dir, start).await,
        1 => reply(u, step, ctx, dir, start).await,
        _ => after_reply(u, step, ctx, dir, start).await,
    }
}

/// Phase 0: the initiator's first message goes to the responder's bare JID (forked).
async fn initial(u: &User, step: &LockInStep, ctx: &Ctx, dir: &Directory, start: Instant) {
    let (Some(s0), Some(p)) = (
        u.sessions.first().and_then(Option::as_ref),
        responder(u, dir),
    ) else {
        return;
    };
    let waker = Arc::new(Notify::new());
    let m = Send {
        from: s0,
        to: p.bare.to_string(),
        expect: Expect::Any(eligible(p)),
        intended: start,
        kind: MessageKind::Chat,
        body: format!("impress lock-in: hello from {}", u.account),
    };
    let token = send(m, &[], ctx, &waker).await;
    settle(std::slice::from_ref(&token), &waker, step.grace.0, ctx).await;
    if let Some(d) = ctx.tracker.finish(&token) {
        judge_fork(s0, &d, p, ctx);
    }
}

/// Phase 1: the responder answers from its replying resource to the initiator's full JID
/// (the 'from' of the message it got, RFC 6121 §5.1).
async fn reply(u: &User, step: &LockInStep, ctx: &Ctx, dir: &Directory, start: Instant) {
    let Some(a) = u
        .partners
        .iter()
        .filter_map(|g| dir.get(*g))
        .find(|a| !u.index.is_multiple_of(2) && a.index + 1 == u.index)
    else {
        return;
    };
    let labels: Vec<String> = (0..u.resources.len()).map(|k| u.label(k)).collect();
    let Some(s) = replier_index(step, &labels).and_then(|k| u.sessions[k].as_ref()) else {
        return;
    };
    let (label, Some(jid)) = &a.sessions[0] else {
        return;
    };
    let waker = Arc::new(Notify::new());
    let m = Send {
        from: s,
        to: jid.to_string(),
        expect: Expect::All(vec![label.clone()]),
        intended: start,
        kind: MessageKind::Chat,
        body: format!("impress lock-in: reply from {}", s.label()),
    };
    let token = send(m, &[], ctx, &waker).await;
    ctx.tracker
        .wait(std::slice::from_ref(&token), deadline(ctx), &waker)
        .await;
    if let Some(d) = ctx.tracker.finish(&token) {
        judge_message(s, &d, Recipient::PartnerFull, ctx);
    }
}

/// Phase 2: `count` messages to the responder's bare JID (does the server stay with the
/// replier?) and `count` to the replier's full JID (the client's own lock-in).
async fn after_reply(u: &User, step: &LockInStep, ctx: &Ctx, dir: &Directory, start: Instant) {
    let (Some(s0), Some(p)) = (
        u.sessions.first().and_then(Option::as_ref),
        responder(u, dir),
    ) else {
        return;
    };
    let labels: Vec<String> = p.sessions.iter().map(|(l, _)| l.clone()).collect();
    let Some((replier, Some(full))) = replier_index(step, &labels).map(|k| &p.sessions[k]) else {
        impossible(
            ctx,
            s0.label(),
            &c::LOCK_IN,
            "the replying resource is not connected",
        );
        return;
    };
    let waker = Arc::new(Notify::new());
    let (mut bare, mut locked) = (Vec::new(), Vec::new());
    for k in 0..step.count {
        let to_bare = Send {
            from: s0,
            to: p.bare.to_string(),
            expect: Expect::Any(eligible(p)),
            intended: start,
            kind: MessageKind::Chat,
            body: format!("impress lock-in {k} to the bare JID from {}", u.account),
        };
        bare.push(send(to_bare, &[], ctx, &waker).await);
        let to_full = Send {
            from: s0,
            to: full.to_string(),
            expect: Expect::All(vec![replier.clone()]),
            intended: start,
            kind: MessageKind::Chat,
            body: format!("impress lock-in {k} to {replier} from {}", u.account),
        };
        locked.push(send(to_full, &[], ctx, &waker).await);
    }
    let all: Vec<String> = bare.iter().chain(&locked).cloned().collect();
    settle(&all, &waker, step.grace.0, ctx).await;
    for t in &bare {
        if let Some(d) = ctx.tracker.finish(t) {
            judge_lock_in(s0, &d, p, replier, ctx);
        }
    }
    for t in &locked {
        if let Some(d) = ctx.tracker.finish(t) {
            judge_message(s0, &d, Recipient::PartnerFull, ctx);
        }
    }
}

/// One message to the bare JID after `replier` replied: forking as usual, and whether the
/// server stayed with the replier (RFC 6121 §5.1 as the seed deployment applies it).
fn judge_lock_in(s: &Session, d: &Delivery, p: &Entry, replier: &str, ctx: &Ctx) {
    judge_fork(s, d, p, ctx);
    let j = oracle::lock_in(&d.receivers(), replier);
    let kept = if j.is_ok() {
        "lock_in_kept"
    } else {
        "lock_in_forked"
    };
    ctx.events.count(kept, 1);
    s.judge(&ctx.events, &c::LOCK_IN, j);
}
