//! What one SIP user does in each `sip-…` step, and the clauses each step judges. A SIP
//! user has one user agent per device (`resources`); messages and presence go from its
//! first device to its partner's address-of-record.

use super::sip_probe;
use super::steps::deadline;
use super::tracker::Expect;
use super::{Ctx, Directory, User};
use crate::checks::catalogue as c;
use crate::checks::oracle::Judgement;
use crate::checks::oracle_sip as o;
use crate::checks::oracle_sip_proxy as op;
use crate::clock;
use crate::metrics::Op;
use crate::proto::sip::build;
use crate::proto::sip::pidf::{Basic, Pidf};
use crate::proto::sip::{Dialog, Message, Method, NameAddr};
use crate::scenario::Secret;
use crate::scenario::suite::{Fleet, Protocol, Step};
use crate::scenario::suite_sip::{BasicStatus, SipMessageStep, SipPublishStep, SipRegisterStep};
use crate::session::sip::{Exchange, SipError, SipTransport, SipUa};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The gauge of registered SIP devices.
const SIP_REGISTERED: &str = "sip_registered";

/// A subscription of a user's first device to its partner's presence.
#[derive(Debug)]
pub struct Subscription {
    /// The partner's AOR.
    pub target: String,
    /// The dialog, once the first NOTIFY arrived.
    pub dialog: Option<Dialog>,
}

/// SIP state of one user.
#[derive(Debug, Default)]
pub struct SipState {
    /// Whether the user belongs to a SIP fleet.
    pub enabled: bool,
    /// Transport of its devices.
    pub transport: SipTransport,
    /// Address-of-record, set at registration.
    pub aor: String,
    /// User agents, by device (`None`: not registered).
    pub uas: Vec<Option<SipUa>>,
    /// The first device's presence subscription.
    pub sub: Option<Subscription>,
    /// The first device's publication entity tag.
    pub etag: Option<String>,
    /// Body of the last PUBLISH.
    pub published: Option<Vec<u8>>,
}

impl SipState {
    /// Empty state for a user of fleet `f`.
    pub fn new(f: &Fleet) -> Self {
        Self {
            enabled: f.protocol == Protocol::Sip,
            transport: f.transport.unwrap_or_default(),
            uas: f.resources.iter().map(|_| None).collect(),
            ..Self::default()
        }
    }

    /// Labels of the registered devices.
    pub fn registered(&self, _u: &User) -> Vec<String> {
        self.uas
            .iter()
            .flatten()
            .map(|ua| ua.label().to_string())
            .collect()
    }

    /// The first device, when registered.
    pub fn first(&self) -> Option<&SipUa> {
        self.uas.first().and_then(Option::as_ref)
    }
}

/// Runs a SIP step for one user (a no-op for XMPP users).
pub(super) async fn run(
    u: &mut User,
    step: &Step,
    ctx: &Arc<Ctx>,
    dir: &Directory,
    start: Instant,
) {
    if !u.sip.enabled || ctx.sip.is_none() {
        return;
    }
    match step {
        Step::SipRegister(r) => register(u, r, ctx, start).await,
        Step::SipUnregister(_) => unregister(u, ctx).await,
        Step::SipSubscribe(s) => subscribe(u, s.expires, ctx, dir, start).await,
        Step::SipUnsubscribe(_) => unsubscribe(u, ctx).await,
        Step::SipPublish(p) => publish(u, p, ctx, dir, start).await,
        Step::SipUnpublish(_) => unpublish(u, ctx).await,
        Step::SipMessage(m) => message(u, m, ctx, dir, start).await,
        Step::SipProbe(_) => sip_probe::probe(u, ctx).await,
        _ => {}
    }
}

/// Judges the response clauses every exchange exercises (RFC 3261 §8.2.6.2, §22).
pub(super) fn judge_exchange(ua: &SipUa, ctx: &Ctx, ex: &Exchange) {
    let (req, resp) = (&ex.request, &ex.response);
    ua.judge(&ctx.events, &c::SIP_TO_TAG, o::to_tag(req, resp));
    ua.judge(
        &ctx.events,
        &c::SIP_FROM_CALLID_CSEQ,
        o::from_callid_cseq(req, resp),
    );
    ua.judge(&ctx.events, &c::SIP_VIA_COPIED, o::via_copied(req, resp));
    if let Some(ch) = &ex.challenge {
        match ch.status() {
            Some(401) => ua.judge(
                &ctx.events,
                &c::SIP_WWW_AUTHENTICATE,
                o::www_authenticate(ch),
            ),
            Some(407) => {
                ua.judge(
                    &ctx.events,
                    &c::SIP_PROXY_AUTHENTICATE,
                    o::proxy_authenticate(ch),
                );
            }
            _ => {}
        }
        ua.judge(
            &ctx.events,
            &c::SIP_QOP_IN_CHALLENGE,
            o::qop_in_challenge(ch),
        );
    }
}

/// Reports an exchange that failed on the harness or network side.
pub(super) fn failed(ctx: &Ctx, who: &str, op: Op, what: &str, e: &SipError) {
    ctx.events.op_failed(op, who, format!("{what}: {e}"));
}

fn is_2xx(ex: &Exchange) -> bool {
    (200..300).contains(&ex.status())
}

async fn register(u: &mut User, r: &SipRegisterStep, ctx: &Arc<Ctx>, start: Instant) {
    let Some(s) = ctx.sip.as_ref() else { return };
    u.sip.aor = format!("sip:{}@{}", u.account, s.domain);
    for k in 0..u.resources.len() {
        let intended = match r.rate {
            Some(rate) => start + Duration::from_secs_f64((u.first_slot + k) as f64 / rate),
            None => start,
        };
        tokio::time::sleep_until(intended.into()).await;
        let password = Secret::new(ctx.password.expose().replace("{n}", &u.number.to_string()));
        let observer: Arc<dyn crate::session::sip::SipObserver> = ctx.tracker.clone();
        let label = u.label(k);
        let ua = SipUa::connect(
            s,
            u.sip.transport,
            &u.account,
            password,
            label.clone(),
            Some(observer),
        )
        .await;
        let ua = match ua {
            Ok(ua) => ua,
            Err(e) => {
                connect_error(ctx, &e);
                failed(ctx, &label, Op::SipRegister, "connect", &e);
                continue;
            }
        };
        match ua.register(r.expires).await {
            Ok(ex) => {
                judge_exchange(&ua, ctx, &ex);
                let contact = ua.local().contact.uri.clone();
                ua.judge(
                    &ctx.events,
                    &c::SIP_REGISTER_CONTACTS,
                    registered(&contact, &ex),
                );
                if is_2xx(&ex) {
                    ctx.events
                        .latency(Op::SipRegister, intended, ex.sent, ex.at);
                    ctx.events.gauge(SIP_REGISTERED, 1);
                    u.sip.uas[k] = Some(ua);
                } else {
                    ctx.events
                        .op_failed(Op::SipRegister, &label, o::describe(&ex.response));
                }
            }
            Err(e) => {
                connect_error(ctx, &e);
                failed(ctx, &label, Op::SipRegister, "REGISTER", &e);
            }
        }
    }
}

fn registered(contact: &str, ex: &Exchange) -> Judgement {
    o::register_contacts(contact, Some(&ex.response))
}

fn connect_error(ctx: &Ctx, e: &SipError) {
    if let Ok(mut first) = ctx.first_connect_error.lock() {
        let why = if e.is_unreachable() {
            format!("SIP target unreachable: {e}")
        } else {
            e.to_string()
        };
        first.get_or_insert(why);
    }
}

async fn unregister(u: &mut User, ctx: &Ctx) {
    for slot in &mut u.sip.uas {
        let Some(ua) = slot.take() else { continue };
        let contact = ua.local().contact.uri.clone();
        match ua.register(0).await {
            Ok(ex) => {
                judge_exchange(&ua, ctx, &ex);
                let j = o::binding_removed(&contact, Some(&ex.response));
                ua.judge(&ctx.events, &c::SIP_UNREGISTER, j);
            }
            Err(e) => failed(ctx, ua.label(), Op::SipRegister, "un-REGISTER", &e),
        }
        ctx.events.gauge(SIP_REGISTERED, -1);
        ua.close().await;
    }
}

fn partner_aor(u: &User, dir: &Directory) -> Option<(String, Vec<String>)> {
    let p = u.partners.first().and_then(|g| dir.get(*g))?;
    (!p.aor.is_empty()).then(|| (p.aor.clone(), p.sip_devices.clone()))
}

fn is_notify(m: &Message) -> bool {
    m.method() == Some(&Method::Notify)
}

async fn subscribe(u: &mut User, expires: u32, ctx: &Ctx, dir: &Directory, start: Instant) {
    let Some((target, _)) = partner_aor(u, dir) else {
        return;
    };
    let Some(ua) = u.sip.first() else { return };
    let local = ua.local().clone();
    let to = NameAddr::new(target.clone());
    let r = ua
        .request_new(|ids| build::subscribe(&local, &to, ids, "presence", expires))
        .await;
    let ex = match r {
        Ok(ex) => ex,
        Err(e) => return failed(ctx, ua.label(), Op::SipSubscribe, "SUBSCRIBE", &e),
    };
    judge_exchange(ua, ctx, &ex);
    if !is_2xx(&ex) {
        return ctx
            .events
            .op_failed(Op::SipSubscribe, ua.label(), o::describe(&ex.response));
    }
    let call_id = ex.request.call_id().to_string();
    let first = ua
        .take(|m| is_notify(m) && m.call_id() == call_id, deadline(ctx))
        .await;
    let Some(n) = first else {
        return ctx
            .events
            .op_failed(Op::SipSubscribe, ua.label(), "no initial NOTIFY");
    };
    ctx.events.latency(Op::SipSubscribe, start, ex.sent, n.at);
    ua.judge(
        &ctx.events,
        &c::SIP_SUBSCRIPTION_STATE,
        o::subscription_state(&n.msg),
    );
    let dialog = Dialog::from_notify(&ex.request, &n.msg).ok();
    u.sip.sub = Some(Subscription { target, dialog });
}

async fn unsubscribe(u: &mut User, ctx: &Ctx) {
    let Some(mut sub) = u.sip.sub.take() else {
        return;
    };
    let (Some(ua), Some(dialog)) = (u.sip.first(), sub.dialog.as_mut()) else {
        return;
    };
    let call_id = dialog.id.call_id.clone();
    let branch = build::new_branch(&mut rand::thread_rng());
    let req = dialog.subscribe(ua.local(), &branch, "presence", 0).build();
    let ex = match req {
        Ok(m) => ua.send_built(m).await,
        Err(e) => Err(SipError::Parse(e)),
    };
    match ex {
        Ok(ex) => judge_exchange(ua, ctx, &ex),
        Err(e) => return failed(ctx, ua.label(), Op::SipSubscribe, "un-SUBSCRIBE", &e),
    }
    let terminated = |m: &Message| {
        is_notify(m)
            && m.call_id() == call_id
            && m.header("Subscription-State")
                .is_some_and(|v| v.trim_start().starts_with("terminated"))
    };
    let last = ua.take(terminated, deadline(ctx)).await;
    let msg = last.as_ref().map(|r| &r.msg);
    ua.judge(
        &ctx.events,
        &c::SIP_FINAL_NOTIFY,
        o::final_notify_terminated(msg),
    );
    if let Some(m) = msg {
        ua.judge(
            &ctx.events,
            &c::SIP_TERMINATED_NO_EXPIRES,
            o::terminated_without_expires(m),
        );
    }
}

/// Watchers of `u`: users whose partner `u` is and who subscribed (their first device).
fn watchers(u: &User, dir: &Directory) -> Vec<String> {
    u.partners
        .iter()
        .filter_map(|g| dir.get(*g))
        .filter_map(|e| e.sip_devices.first().cloned())
        .collect()
}

async fn publish(u: &mut User, p: &SipPublishStep, ctx: &Ctx, dir: &Directory, start: Instant) {
    let Some(ua) = u.sip.first() else { return };
    let token = ctx.tracker.token();
    let basic = match p.basic {
        BasicStatus::Open => Basic::Open,
        BasicStatus::Closed => Basic::Closed,
    };
    let doc = Pidf::single(&u.sip.aor, "t1", basic, Some(&token))
        .to_xml()
        .into_bytes();
    let waker = Arc::new(Notify::new());
    let expect = Expect::All(watchers(u, dir));
    ctx.tracker
        .expect(&token, Op::SipNotify, start, &u.bare, expect, &waker);
    ctx.tracker.set_sender(&token, &u.sip.aor);
    let local = ua.local().clone();
    let etag = u.sip.etag.clone();
    let body = doc.clone();
    let r = ua
        .request_new(|ids| {
            let b = Some(("application/pidf+xml", body.clone()));
            build::publish(&local, ids, "presence", p.expires, etag.as_deref(), b)
        })
        .await;
    let ex = match r {
        Ok(ex) => ex,
        Err(e) => {
            ctx.tracker.finish(&token);
            return failed(ctx, ua.label(), Op::SipPublish, "PUBLISH", &e);
        }
    };
    ctx.tracker.sent(&token, ex.sent);
    judge_exchange(ua, ctx, &ex);
    if is_2xx(&ex) {
        ctx.events.latency(Op::SipPublish, start, ex.sent, ex.at);
        ua.judge(
            &ctx.events,
            &c::SIP_PUBLISH_ETAG,
            o::publish_etag(&ex.response),
        );
        if let Some(prev) = &u.sip.etag {
            ua.judge(
                &ctx.events,
                &c::SIP_PUBLISH_NEW_ETAG,
                o::new_etag(prev, &ex.response),
            );
        }
        u.sip.etag = ex.response.sip_etag().map(str::to_string);
        u.sip.published = Some(doc);
    } else {
        ctx.events
            .op_failed(Op::SipPublish, ua.label(), o::describe(&ex.response));
    }
    ctx.tracker
        .wait(std::slice::from_ref(&token), deadline(ctx), &waker)
        .await;
    ctx.tracker.finish(&token);
    judge_watcher_notify(u, ctx, dir).await;
}

/// The watcher side of `sip-publish`: the NOTIFY with the partner's new state carries a
/// PIDF body for that presentity (RFC 3856 §6.5).
async fn judge_watcher_notify(u: &User, ctx: &Ctx, dir: &Directory) {
    let (Some(ua), Some(sub)) = (u.sip.first(), u.sip.sub.as_ref()) else {
        return;
    };
    let Some((aor, _)) = partner_aor(u, dir) else {
        return;
    };
    let call_id = sub.dialog.as_ref().map(|d| d.id.call_id.clone());
    let with_state = |m: &Message| {
        is_notify(m)
            && call_id.as_deref().is_none_or(|c| m.call_id() == c)
            && String::from_utf8_lossy(m.body()).contains("impress-")
    };
    let until = clock::now() + Duration::from_millis(200);
    if let Some(n) = ua.take(with_state, until).await {
        ua.judge(&ctx.events, &c::SIP_PIDF_BODY, o::pidf_body(&n.msg, &aor));
        ua.judge(
            &ctx.events,
            &c::SIP_SUBSCRIPTION_STATE,
            o::subscription_state(&n.msg),
        );
    }
}

async fn unpublish(u: &mut User, ctx: &Ctx) {
    let Some(etag) = u.sip.etag.take() else {
        return;
    };
    let Some(ua) = u.sip.first() else { return };
    let local = ua.local().clone();
    let r = ua
        .request_new(|ids| build::publish(&local, ids, "presence", 0, Some(&etag), None))
        .await;
    match r {
        Ok(ex) => judge_exchange(ua, ctx, &ex),
        Err(e) => failed(ctx, ua.label(), Op::SipPublish, "PUBLISH (remove)", &e),
    }
}

async fn message(u: &User, m: &SipMessageStep, ctx: &Ctx, dir: &Directory, start: Instant) {
    let Some((aor, devices)) = partner_aor(u, dir) else {
        return;
    };
    let Some(ua) = u.sip.first() else { return };
    let waker = Arc::new(Notify::new());
    let mut sent = Vec::new();
    for k in 0..m.count {
        let intended = start + m.every.0 * k;
        tokio::time::sleep_until(intended.into()).await;
        let token = ctx.tracker.token();
        let body = format!("{token} message {k} from {}", u.account).into_bytes();
        let expect = Expect::All(devices.clone());
        ctx.tracker
            .expect(&token, Op::SipMessage, intended, &u.bare, expect, &waker);
        ctx.tracker.set_sender(&token, &u.sip.aor);
        let (local, to) = (ua.local().clone(), NameAddr::new(aor.clone()));
        let b = body.clone();
        match ua
            .request_new(|ids| build::message(&local, &to, ids, "text/plain", b.clone()))
            .await
        {
            Ok(ex) => {
                ctx.tracker.sent(&token, ex.sent);
                judge_exchange(ua, ctx, &ex);
                ua.judge(
                    &ctx.events,
                    &c::SIP_MESSAGE_2XX,
                    o::message_2xx(&ex.response),
                );
            }
            Err(e) => failed(ctx, ua.label(), Op::SipMessage, "MESSAGE", &e),
        }
        ctx.events.count("messages_sent", 1);
        sent.push((token, body));
    }
    let tokens: Vec<String> = sent.iter().map(|(t, _)| t.clone()).collect();
    ctx.tracker.wait(&tokens, deadline(ctx), &waker).await;
    for (t, body) in &sent {
        let Some(d) = ctx.tracker.finish(t) else {
            continue;
        };
        let got = d.receivers();
        ua.judge(
            &ctx.events,
            &c::SIP_FORKED_TO_EVERY_CONTACT,
            op::forked_to_every_contact(&devices, &got),
        );
        if let Some(received) = &d.body {
            ua.judge(
                &ctx.events,
                &c::SIP_BODY_UNMODIFIED,
                op::body_unmodified(body, received),
            );
        }
    }
}
