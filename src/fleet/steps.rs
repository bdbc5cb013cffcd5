//! What one user does in each step kind, and the clauses each step judges.

use super::tracker::{Delivery, Expect};
use super::{Ctx, Directory, User};
use super::{offline_steps, sm_steps};
use crate::checks::catalogue as c;
use crate::checks::oracle::{self, Judgement, Violation};
use crate::clock;
use crate::metrics::Op;
use crate::proto::xmpp::{Element, Jid, ns, stanza};
use crate::scenario::Secret;
use crate::scenario::suite::{MessageStep, Recipient, Step};
use crate::session::{Credentials, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The gauge of sessions logged in and not yet closed.
pub(crate) const SESSIONS_CONNECTED: &str = "sessions_connected";

/// Runs `step` for one user and hands the user back.
pub(super) async fn run(
    mut u: User,
    step: &Step,
    ctx: &Arc<Ctx>,
    dir: &Directory,
    start: Instant,
    wave: Option<usize>,
) -> User {
    // Each step's future is boxed on its own: inline, every user's task would be as large
    // as the largest step kind's state machine (~14 KiB) whatever step it runs.
    match step {
        Step::Login(l) => Box::pin(login(&mut u, l.rate, ctx, start)).await,
        Step::Subscribe(_) => Box::pin(subscribe(&u, ctx, dir, start)).await,
        Step::Presence(p) => Box::pin(presence(&u, p.show.as_deref(), ctx, dir, start)).await,
        Step::Message(m) => Box::pin(message(&u, m, ctx, dir, start)).await,
        Step::Ping(_) => Box::pin(ping(&u, ctx)).await,
        Step::Disco(_) => Box::pin(disco(&u, ctx)).await,
        Step::Logout(_) => Box::pin(logout(&mut u, ctx, dir, wave.unwrap_or(0))).await,
        Step::SmEnable(_) => Box::pin(sm_steps::enable(&u, ctx)).await,
        Step::SmAck(_) => Box::pin(sm_steps::ack(&u, ctx)).await,
        Step::SmCutResume(c) => Box::pin(sm_steps::cut_resume(&mut u, c, ctx, dir, start)).await,
        Step::SmResumeUnknown(_) => Box::pin(sm_steps::resume_unknown(&u, ctx)).await,
        Step::SmResumeConflict(_) => Box::pin(sm_steps::resume_conflict(&mut u, ctx)).await,
        Step::MucCreate(_)
        | Step::MucJoin(_)
        | Step::MucMessage(_)
        | Step::MucSubject(_)
        | Step::MucNickConflict(_)
        | Step::MucLimit(_)
        | Step::MucMembersOnly(_)
        | Step::MucLeave(_)
        | Step::MucDestroy(_) => {
            Box::pin(super::muc_steps::run(&mut u, step, ctx, dir, start)).await
        }
        Step::Offline(o) => Box::pin(offline_steps::offline(&mut u, o, ctx, dir, start)).await,
        Step::RosterLimit(r) => Box::pin(offline_steps::roster_limit(&u, r, ctx)).await,
        Step::Fork(f) => Box::pin(super::forking_steps::fork(&u, f, ctx, dir, start)).await,
        Step::LockIn(l) => {
            let phase = wave.unwrap_or(0);
            Box::pin(super::forking_steps::lock_in(&u, l, ctx, dir, start, phase)).await;
        }
        Step::CarbonsEnable(t) => Box::pin(super::carbons_steps::toggle(&u, t, true, ctx)).await,
        Step::CarbonsDisable(t) => Box::pin(super::carbons_steps::toggle(&u, t, false, ctx)).await,
        Step::Carbons(c) => Box::pin(super::carbons_steps::traffic(&u, c, ctx, dir, start)).await,
        Step::SipRegister(_)
        | Step::SipUnregister(_)
        | Step::SipSubscribe(_)
        | Step::SipUnsubscribe(_)
        | Step::SipPublish(_)
        | Step::SipUnpublish(_)
        | Step::SipMessage(_)
        | Step::SipProbe(_) => Box::pin(super::sip_steps::run(&mut u, step, ctx, dir, start)).await,
        // The fleet runs load phases (`fleet::load`) and failover steps (`fleet::failover`)
        // itself.
        Step::Wait(_)
        | Step::Barrier(_)
        | Step::Load(_)
        | Step::Fault(_)
        | Step::ChatThrough(_)
        | Step::CalibrateLogin(_) => {}
    }
    u
}

pub(super) fn connected(u: &User) -> impl Iterator<Item = (usize, &Session)> {
    u.sessions
        .iter()
        .enumerate()
        .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
}

pub(super) fn deadline(ctx: &Ctx) -> Instant {
    clock::now() + ctx.timeouts.delivery.0
}

/// When a paced login step reaches `u`'s first session (`None`: at once).
pub(super) fn login_turn(step: &Step, u: &User, start: Instant) -> Option<Instant> {
    match step {
        Step::Login(l) => l
            .rate
            .map(|r| start + Duration::from_secs_f64(u.first_slot as f64 / r)),
        _ => None,
    }
}

async fn login(u: &mut User, rate: Option<f64>, ctx: &Arc<Ctx>, start: Instant) {
    for k in 0..u.resources.len() {
        let slot = (u.first_slot + k) as f64;
        let intended = match rate {
            Some(r) => start + Duration::from_secs_f64(slot / r),
            None => start,
        };
        tokio::time::sleep_until(intended.into()).await;
        let creds = credentials(u, k, ctx);
        ctx.events.count("sessions_attempted", 1);
        let observer = ctx.tracker.clone();
        match Session::connect(
            &ctx.settings.at(u.node),
            &creds,
            u.label(k),
            &ctx.events,
            observer,
            intended,
        )
        .await
        {
            Ok(s) => {
                ctx.events.count("sessions_connected", 1);
                ctx.events.gauge(SESSIONS_CONNECTED, 1);
                s.set_auto_approve(k == 0);
                after_login(&s, u.priorities[k], ctx).await;
                u.sessions[k] = Some(s);
            }
            Err(e) => {
                if let Ok(mut first) = ctx.first_connect_error.lock() {
                    let why = if e.is_unreachable() {
                        format!("target unreachable: {e}")
                    } else {
                        e.to_string()
                    };
                    first.get_or_insert(why);
                }
            }
        }
    }
}

/// How resource `k` of `u` logs in.
pub(super) fn credentials(u: &User, k: usize, ctx: &Ctx) -> Credentials {
    Credentials {
        username: u.account.clone(),
        password: Secret::new(ctx.password.expose().replace("{n}", &u.number.to_string())),
        resource: u.resources[k].clone(),
    }
}

/// Roster get (RFC 6121 §2.1.3, which also makes the session an interested resource) and
/// initial presence.
pub(super) async fn after_login(s: &Session, priority: i8, ctx: &Ctx) {
    // A fresh session has no XEP-0280 carbons, whatever an earlier one of this label had.
    ctx.tracker.carbons.forget(s.label());
    let get = stanza::iq("get", "", None, Some(Element::new("query", ns::ROSTER)));
    match s.request(get).await {
        Ok((sent, resp)) => {
            judge_iq(s, ctx, resp.as_ref().map(|r| &r.el));
            if let Some(r) = resp {
                s.judge(&ctx.events, &c::ROSTER_GET, oracle::roster_result(&r.el));
                ctx.events.latency(Op::Roster, sent, sent, r.at);
            } else {
                ctx.events
                    .op_failed(Op::Roster, s.label(), "roster get timed out");
            }
        }
        Err(e) => ctx.events.op_failed(Op::Roster, s.label(), e.to_string()),
    }
    let p = Element::new("presence", ns::CLIENT)
        .with_child(Element::new("priority", ns::CLIENT).with_text(priority.to_string()));
    if let Err(e) = s.send(&p).await {
        ctx.events
            .error(s.label(), format!("initial presence: {e}"));
    }
}

/// RFC 6120 §8.2.3 on a request's response (the session correlates by id, so a response
/// that arrived carries the request's id).
pub(super) fn judge_iq(s: &Session, ctx: &Ctx, resp: Option<&Element>) {
    let id = resp.and_then(|r| r.attr("id")).unwrap_or("request");
    s.judge(&ctx.events, &c::IQ_RESPONSE, oracle::iq_response(id, resp));
}

async fn subscribe(u: &User, ctx: &Ctx, dir: &Directory, start: Instant) {
    let Some(s0) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    let partners: Vec<Jid> = u
        .partners
        .iter()
        .filter_map(|g| dir.get(*g))
        .map(|e| e.bare.clone())
        .collect();
    for p in &partners {
        roster_add(s0, p, ctx).await;
    }
    let mut sent = start;
    for p in &partners {
        match s0
            .send(&stanza::presence(Some("subscribe"), Some(&p.to_string())))
            .await
        {
            Ok(at) => sent = at,
            Err(e) => ctx
                .events
                .op_failed(Op::Subscribe, s0.label(), e.to_string()),
        }
    }
    let until = deadline(ctx);
    for p in &partners {
        let bare = p.to_string();
        for (k, s) in connected(u) {
            let is_subscribed = |el: &Element| {
                el.name == "presence"
                    && el.attr("type") == Some("subscribed")
                    && from_bare(el) == Some(bare.clone())
            };
            let got = s.take(is_subscribed, until).await;
            if k == 0 {
                match &got {
                    Some(r) => ctx.events.latency(Op::Subscribe, start, sent, r.at),
                    None => ctx.events.op_failed(
                        Op::Subscribe,
                        s.label(),
                        format!("no <presence type='subscribed'/> from {bare}"),
                    ),
                }
            }
            let j = got
                .map(|_| ())
                .ok_or_else(|| missing(format!("<presence type='subscribed' from='{bare}'/>")));
            s.judge(&ctx.events, &c::SUBSCRIBED_DELIVERED, j);
            let push = s.take(|el| oracle::is_roster_push_both(el, p), until).await;
            let j = push.map(|_| ()).ok_or_else(|| {
                missing(format!(
                    "roster push <item jid='{bare}' subscription='both'/>"
                ))
            });
            s.judge(&ctx.events, &c::ROSTER_PUSH_BOTH, j);
        }
    }
}

/// RFC 6121 §2.1.5: add the contact to the roster before subscribing, as clients do.
async fn roster_add(s: &Session, contact: &Jid, ctx: &Ctx) {
    let item = Element::new("item", ns::ROSTER)
        .with_attr("jid", contact.to_string())
        .with_attr("name", contact.local().unwrap_or(""))
        .with_child(Element::new("group", ns::ROSTER).with_text("impress"));
    let set = stanza::iq(
        "set",
        "",
        None,
        Some(Element::new("query", ns::ROSTER).with_child(item)),
    );
    match s.request(set).await {
        Ok((_, resp)) => judge_iq(s, ctx, resp.as_ref().map(|r| &r.el)),
        Err(e) => ctx.events.error(s.label(), format!("roster set: {e}")),
    }
}

fn from_bare(el: &Element) -> Option<String> {
    el.attr("from")
        .and_then(|f| f.parse::<Jid>().ok())
        .map(|j| j.bare().to_string())
}

fn missing(what: String) -> Violation {
    Violation {
        expected: what,
        actual: "nothing before the delivery timeout".into(),
    }
}

/// Sessions of `u`'s partners that must receive its broadcasts (connected, and for
/// logout only those that stay online longer: a later wave).
fn watchers(u: &User, dir: &Directory, later_than: Option<usize>) -> Vec<String> {
    u.partners
        .iter()
        .filter_map(|g| dir.get(*g))
        .filter(|e| later_than.is_none_or(|w| e.index % 2 > w))
        .flat_map(|e| e.connected())
        .collect()
}

async fn presence(u: &User, show: Option<&str>, ctx: &Ctx, dir: &Directory, start: Instant) {
    let expect = watchers(u, dir, None);
    let waker = Arc::new(Notify::new());
    let mut tokens = Vec::new();
    for (k, s) in connected(u) {
        let token = ctx.tracker.token();
        let all = Expect::All(expect.clone());
        ctx.tracker
            .expect(&token, Op::Presence, start, s.jid(), all, &waker);
        let mut p = Element::new("presence", ns::CLIENT);
        if let Some(show) = show {
            p.push_child(Element::new("show", ns::CLIENT).with_text(show));
        }
        p.push_child(Element::new("status", ns::CLIENT).with_text(token.as_str()));
        p.push_child(Element::new("priority", ns::CLIENT).with_text(u.priorities[k].to_string()));
        send_tracked(s, &p, &token, ctx).await;
        tokens.push((token, s));
    }
    judge_broadcasts(&tokens, &waker, ctx, &c::PRESENCE_BROADCAST).await;
}

async fn send_tracked(s: &Session, el: &Element, token: &str, ctx: &Ctx) {
    match s.send(el).await {
        Ok(at) => ctx.tracker.sent(token, at),
        Err(e) => ctx.events.error(s.label(), format!("send failed: {e}")),
    }
}

async fn judge_broadcasts(
    tokens: &[(String, &Session)],
    waker: &Notify,
    ctx: &Ctx,
    check: &'static crate::checks::CheckDef,
) {
    let ids: Vec<String> = tokens.iter().map(|(t, _)| t.clone()).collect();
    ctx.tracker.wait(&ids, deadline(ctx), waker).await;
    for (t, s) in tokens {
        let Some(d) = ctx.tracker.finish(t) else {
            continue;
        };
        s.judge(&ctx.events, check, all_received(&d));
    }
}

fn all_received(d: &Delivery) -> Judgement {
    let Expect::All(want) = &d.expect else {
        return Ok(());
    };
    let got = d.receivers();
    let lost: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
    if lost.is_empty() {
        Ok(())
    } else {
        Err(Violation {
            expected: format!("delivered to {want:?}"),
            actual: format!("not delivered to {lost:?} before the delivery timeout"),
        })
    }
}

async fn message(u: &User, m: &MessageStep, ctx: &Ctx, dir: &Directory, start: Instant) {
    let (to, count, every, kind) = (m.to, m.count, m.every.0, m.kind);
    let Some(s0) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    let Some(partner) = u.partners.first().and_then(|g| dir.get(*g)) else {
        return;
    };
    let (addr, expect) = match to {
        Recipient::PartnerBare => (partner.bare.to_string(), Expect::Any(partner.eligible())),
        Recipient::PartnerFull => match &partner.sessions[0] {
            (label, Some(jid)) => (jid.to_string(), Expect::All(vec![label.clone()])),
            (_, None) => return,
        },
    };
    let waker = Arc::new(Notify::new());
    let mut tokens = Vec::new();
    for k in 0..count {
        let intended = start + every * k;
        // Judge what has arrived everywhere it can before sleeping, so a long step keeps
        // only its messages in flight, not a record of every message sent.
        judge_settled(&mut tokens, s0, to, ctx);
        tokio::time::sleep_until(intended.into()).await;
        let token = ctx.tracker.token();
        let e = expect.clone();
        let op = super::intercluster::message_op(&u.bare, &partner.bare);
        ctx.tracker
            .expect(&token, op, intended, s0.jid(), e, &waker);
        let body = format!("impress message {k} from {}", u.account);
        send_tracked(
            s0,
            &stanza::message(kind.as_str(), &token, &addr, &body),
            &token,
            ctx,
        )
        .await;
        ctx.events.count("messages_sent", 1);
        tokens.push(token);
    }
    ctx.tracker.wait(&tokens, deadline(ctx), &waker).await;
    for t in &tokens {
        let Some(d) = ctx.tracker.finish(t) else {
            continue;
        };
        judge_message(s0, &d, to, ctx);
    }
}

/// Judges and forgets the messages among `tokens` that every possible recipient has.
fn judge_settled(tokens: &mut Vec<String>, s: &Session, to: Recipient, ctx: &Ctx) {
    tokens.retain(|t| {
        if !ctx.tracker.settled(t) {
            return true;
        }
        if let Some(d) = ctx.tracker.finish(t) {
            judge_message(s, &d, to, ctx);
        }
        false
    });
}

/// Judges one delivered (or lost) message by the clause its addressing invokes.
pub(super) fn judge_message(s: &Session, d: &Delivery, to: Recipient, ctx: &Ctx) {
    let got = d.receivers();
    let j = match (&d.expect, to) {
        (Expect::Any(avail), Recipient::PartnerBare) => oracle::bare_jid_delivery(&got, avail),
        (Expect::All(want), _) => {
            oracle::full_jid_delivery(&got, want.first().map_or("", String::as_str))
        }
        _ => Ok(()),
    };
    let check = if to == Recipient::PartnerBare {
        &c::BARE_JID_CHAT
    } else {
        &c::FULL_JID_ONLY
    };
    s.judge(&ctx.events, check, j);
    if !got.is_empty() {
        let j = match &d.bad_from {
            None => Ok(()),
            Some((from, raw)) => Err(Violation {
                expected: format!("from='{}'", d.sender),
                actual: format!("from='{from}' in {raw}"),
            }),
        };
        s.judge(&ctx.events, &c::FROM_STAMPED, j);
    }
}

async fn ping(u: &User, ctx: &Ctx) {
    for (_, s) in connected(u) {
        let req = stanza::iq(
            "get",
            "",
            Some(&ctx.settings.domain),
            Some(Element::new("ping", ns::PING)),
        );
        exchange(s, req, Op::Ping, ctx, &c::SERVER_PING, oracle::ping_reply).await;
    }
}

async fn disco(u: &User, ctx: &Ctx) {
    for (_, s) in connected(u) {
        let q = Element::new("query", ns::DISCO_INFO);
        let req = stanza::iq("get", "", Some(&ctx.settings.domain), Some(q));
        exchange(
            s,
            req,
            Op::Disco,
            ctx,
            &c::DISCO_IDENTITY,
            oracle::disco_identity,
        )
        .await;
    }
}

/// One IQ round trip judged by RFC 6120 §8.2.3 and by `oracle`.
async fn exchange(
    s: &Session,
    req: Element,
    op: Op,
    ctx: &Ctx,
    check: &'static crate::checks::CheckDef,
    judge: fn(&Element) -> Judgement,
) {
    match s.request(req).await {
        Ok((sent, Some(r))) => {
            judge_iq(s, ctx, Some(&r.el));
            s.judge(&ctx.events, check, judge(&r.el));
            ctx.events.latency(op, sent, sent, r.at);
        }
        Ok((_, None)) => {
            judge_iq(s, ctx, None);
            ctx.events
                .op_failed(op, s.label(), "no response before the timeout");
        }
        Err(e) => ctx.events.op_failed(op, s.label(), e.to_string()),
    }
}

async fn logout(u: &mut User, ctx: &Ctx, dir: &Directory, wave: usize) {
    let expect = watchers(u, dir, Some(wave));
    let waker = Arc::new(Notify::new());
    let mut tokens = Vec::new();
    for (_, s) in connected(u) {
        let token = ctx.tracker.token();
        if !expect.is_empty() {
            let all = Expect::All(expect.clone());
            ctx.tracker
                .expect(&token, Op::Presence, clock::now(), s.jid(), all, &waker);
        }
        let p = stanza::presence(Some("unavailable"), None)
            .with_child(Element::new("status", ns::CLIENT).with_text(token.as_str()));
        send_tracked(s, &p, &token, ctx).await;
        if !expect.is_empty() {
            tokens.push((token, s));
        }
    }
    judge_broadcasts(&tokens, &waker, ctx, &c::UNAVAILABLE_BROADCAST).await;
    for k in 0..u.sessions.len() {
        let Some(s) = u.sessions[k].take() else {
            continue;
        };
        close(s, ctx).await;
    }
}

pub(super) async fn close(s: Session, ctx: &Ctx) {
    let label = s.label().to_string();
    // The session is gone after this whatever the server answers.
    ctx.events.gauge(SESSIONS_CONNECTED, -1);
    match s.close(ctx.timeouts.response.0).await {
        Ok((sent, seen)) => {
            match seen {
                Some(at) => ctx.events.latency(Op::Logout, sent, sent, at),
                None => ctx.events.op_failed_quietly(Op::Logout),
            }
            s.judge(
                &ctx.events,
                &c::STREAM_CLOSE,
                oracle::stream_closed(seen.is_some()),
            );
        }
        Err(e) => ctx.events.op_failed(Op::Logout, &label, e.to_string()),
    }
}
