//! The offline-message step (XEP-0160) and the contact-list maximum step, and the clauses
//! each judges.
//!
//! `offline` pairs users like messages do (user1 ↔ user2, …): the even-positioned user
//! goes offline (unavailable presence, stream closed), its partner sends it `count`
//! messages to its bare JID, then it logs in again and judges what its server delivered.
//! The two tasks hand over through a per-step board instead of timers, so a slow machine
//! cannot make a message race the recipient's return: the recipient says when it is
//! offline, the sender says what it sent (and what bounced) once its server has processed
//! all of it.

use super::steps::{SESSIONS_CONNECTED, after_login, close, credentials, deadline, judge_iq};
use super::{Ctx, Directory, Entry, User};
use crate::checks::catalogue as c;
use crate::checks::oracle::Violation;
use crate::checks::oracle_offline::{self as oracle, Bounce, RosterFill, SentOffline};
use crate::checks::{CheckDef, Outcome, Verdict};
use crate::clock;
use crate::metrics::Op;
use crate::metrics::accounting::{AccountRow, Accounted};
use crate::proto::xmpp::stanza::StanzaError;
use crate::proto::xmpp::{Element, Jid, ns, stanza};
use crate::scenario::suite_offline::{OfflineStep, RosterLimitStep};
use crate::session::Session;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Instant, UNIX_EPOCH};
use tokio::sync::watch;

/// One message a sender sent, with the instant the schedule meant it to go.
#[derive(Debug, Clone)]
struct Sent {
    msg: SentOffline,
    intended: Instant,
}

/// What a sender hands its offline partner.
#[derive(Debug)]
struct Batch {
    /// The sender's full JID.
    sender: Jid,
    /// Its messages, in the order sent.
    sent: Vec<Sent>,
    /// The errors its server returned for them.
    bounces: Vec<Bounce>,
}

/// The hand-over between one recipient and its sender within one step.
#[derive(Debug)]
struct Handoff {
    /// The recipient has gone offline.
    offline: watch::Sender<bool>,
    /// The sender is done.
    batch: watch::Sender<Option<Arc<Batch>>>,
}

/// (the step's directory, the step's start, the recipient's gid): every task of one step
/// shares the same directory and start, and no other step does.
type Key = (usize, Instant, usize);

/// The per-step board. Entries live from the first of the pair to arrive until the
/// recipient has its batch.
static BOARD: LazyLock<Mutex<HashMap<Key, Arc<Handoff>>>> = LazyLock::new(Default::default);

fn key(dir: &Directory, start: Instant, recipient: usize) -> Key {
    (std::ptr::from_ref(dir).addr(), start, recipient)
}

fn handoff(dir: &Directory, start: Instant, recipient: usize) -> Arc<Handoff> {
    let mut board = BOARD.lock().unwrap_or_else(PoisonError::into_inner);
    board
        .entry(key(dir, start, recipient))
        .or_insert_with(|| {
            Arc::new(Handoff {
                offline: watch::channel(false).0,
                batch: watch::channel(None).0,
            })
        })
        .clone()
}

fn release(dir: &Directory, start: Instant, recipient: usize) {
    let mut board = BOARD.lock().unwrap_or_else(PoisonError::into_inner);
    board.remove(&key(dir, start, recipient));
}

/// Wall-clock milliseconds of a monotonic instant (delay stamps are wall-clock times).
fn unix_ms(at: Instant) -> i64 {
    let now = clock::wall()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now - clock::now().saturating_duration_since(at).as_millis() as i64
}

/// The partner of `u` in an `offline` pair, if it was logged in when the step started.
fn pair_partner<'a>(u: &User, dir: &'a Directory) -> Option<(usize, &'a Entry)> {
    let gid = *u.partners.first()?;
    let p = dir.get(gid)?;
    let roles_differ = p.index % 2 != u.index % 2;
    (roles_differ && p.sessions.first().is_some_and(|(_, j)| j.is_some())).then_some((gid, p))
}

/// `offline`: even users go offline and come back; odd users send to them meanwhile.
pub(super) async fn offline(
    u: &mut User,
    step: &OfflineStep,
    ctx: &Arc<Ctx>,
    dir: &Directory,
    start: Instant,
) {
    if u.sessions.first().and_then(Option::as_ref).is_none() {
        return;
    }
    let Some((partner_gid, partner)) = pair_partner(u, dir) else {
        return;
    };
    if u.index.is_multiple_of(2) {
        recipient(u, step, ctx, dir, start).await;
    } else {
        let h = handoff(dir, start, partner_gid);
        sender(u, partner, &h, step, ctx).await;
    }
}

async fn sender(u: &User, partner: &Entry, h: &Handoff, step: &OfflineStep, ctx: &Ctx) {
    let Some(s) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    // The partner closes each of its streams, each bounded by the response timeout.
    let until = clock::now() + ctx.timeouts.response.0 * (partner.sessions.len() as u32 + 1);
    let mut rx = h.offline.subscribe();
    let offline = tokio::time::timeout_at(until.into(), rx.wait_for(|o| *o))
        .await
        .is_ok_and(|r| r.is_ok());
    if !offline {
        ctx.events.error(
            s.label(),
            format!(
                "{} did not go offline in time; sending anyway",
                partner.bare
            ),
        );
    }
    let sent = send_batch(s, &partner.bare, step, ctx).await;
    // In-order processing: once the ping is answered, every message was stored or bounced.
    ping_barrier(s, ctx).await;
    let mut bounces = Vec::new();
    let ours =
        |el: &Element| oracle::bounce(el).is_some_and(|b| sent.iter().any(|m| m.msg.id == b.id));
    while let Some(r) = s.take(ours, clock::now()).await {
        bounces.extend(oracle::bounce(&r.el));
    }
    ctx.events.count("offline_bounced", bounces.len() as u64);
    let batch = Batch {
        sender: s.jid().clone(),
        sent,
        bounces,
    };
    h.batch.send_replace(Some(Arc::new(batch)));
}

async fn send_batch(s: &Session, to: &Jid, step: &OfflineStep, ctx: &Ctx) -> Vec<Sent> {
    let first = clock::now();
    // A run-unique stem; not the tracker's own prefix, so replies reach this step's inbox.
    let stem = ctx.tracker.token();
    let mut sent = Vec::new();
    for k in 0..step.count {
        let intended = first + step.every.0 * k;
        tokio::time::sleep_until(intended.into()).await;
        let id = format!("offline-{stem}-{k}");
        let body = format!("impress offline message {k} of {}", step.count);
        let msg = stanza::message(step.kind.as_str(), &id, &to.to_string(), &body);
        match s.send(&msg).await {
            Ok(at) => sent.push(Sent {
                msg: SentOffline {
                    seq: k,
                    id,
                    sent_unix_ms: unix_ms(at),
                },
                intended,
            }),
            Err(e) => {
                ctx.events.error(s.label(), format!("send failed: {e}"));
                break;
            }
        }
        ctx.events.count("offline_sent", 1);
    }
    sent
}

/// A ping to the server, answered after everything sent before it was processed.
async fn ping_barrier(s: &Session, ctx: &Ctx) {
    let ping = stanza::iq(
        "get",
        "",
        Some(&ctx.settings.domain),
        Some(Element::new("ping", ns::PING)),
    );
    if let Err(e) = s.request(ping).await {
        ctx.events.error(s.label(), format!("ping: {e}"));
    }
}

async fn recipient(
    u: &mut User,
    step: &OfflineStep,
    ctx: &Arc<Ctx>,
    dir: &Directory,
    start: Instant,
) {
    let h = handoff(dir, start, u.gid);
    go_offline(u, ctx).await;
    h.offline.send_replace(true);
    let t = ctx.timeouts;
    let until = clock::now() + step.sending_time() + t.response.0 * 2 + t.delivery.0;
    let mut rx = h.batch.subscribe();
    let batch = match tokio::time::timeout_at(until.into(), rx.wait_for(Option::is_some)).await {
        Ok(Ok(b)) => b.clone(),
        _ => None,
    };
    release(dir, start, u.gid);
    match batch {
        Some(b) => come_back(u, step, &b, ctx).await,
        None => {
            ctx.events
                .error(&u.label(0), "the partner never reported what it sent");
            for k in 0..u.resources.len() {
                u.sessions[k] = login_again(u, k, ctx).await.map(|(s, _)| s);
            }
        }
    }
}

/// Unavailable presence, then the stream closed, on every session: the user is offline.
async fn go_offline(u: &mut User, ctx: &Ctx) {
    for k in 0..u.sessions.len() {
        let Some(s) = u.sessions[k].take() else {
            continue;
        };
        if let Err(e) = s.send(&stanza::presence(Some("unavailable"), None)).await {
            ctx.events
                .error(s.label(), format!("unavailable presence: {e}"));
        }
        close(s, ctx).await;
    }
}

/// Logs resource `k` in again (roster get, initial presence); returns the session and when
/// its available presence was sent.
async fn login_again(u: &User, k: usize, ctx: &Ctx) -> Option<(Session, Instant)> {
    let creds = credentials(u, k, ctx);
    let observer = ctx.tracker.clone();
    let s = Session::connect(
        &ctx.settings,
        &creds,
        u.label(k),
        &ctx.events,
        observer,
        clock::now(),
    )
    .await
    .ok()?;
    ctx.events.gauge(SESSIONS_CONNECTED, 1);
    s.set_auto_approve(k == 0);
    after_login(&s, u.priority, ctx).await;
    Some((s, clock::now()))
}

/// A message delivered at the login.
#[derive(Debug)]
struct Got {
    id: String,
    el: Element,
    at: Instant,
}

/// The first resource logs in and collects the partner's messages; the others follow.
async fn come_back(u: &mut User, step: &OfflineStep, batch: &Batch, ctx: &Ctx) {
    let Some((s, presence_at)) = login_again(u, 0, ctx).await else {
        return;
    };
    if u.priority < 0 {
        let why = "a negative presence priority never receives offline messages (XEP-0160 §2)";
        let o = Outcome::new(&c::OFFLINE_STORED, Verdict::Impossible, s.label(), why);
        ctx.events.outcome(o);
    } else {
        let (got, duplicates) = collect(&s, batch, step.storable() as usize, ctx).await;
        judge_offline(&s, u, step, batch, &got, ctx);
        account(u, step, batch, &got, duplicates, presence_at, ctx);
    }
    u.sessions[0] = Some(s);
    for k in 1..u.resources.len() {
        u.sessions[k] = login_again(u, k, ctx).await.map(|(s, _)| s);
    }
}

/// The partner's messages as they arrive (first copy of each, in arrival order), and the
/// number of extra copies. Waits for `expect` of them, then lets a ping round trip flush
/// anything else the server had stored (it delivers in order).
async fn collect(s: &Session, batch: &Batch, expect: usize, ctx: &Ctx) -> (Vec<Got>, u64) {
    let ours = |el: &Element| {
        el.name == "message"
            && el.attr("type") != Some("error")
            && el
                .attr("id")
                .is_some_and(|id| batch.sent.iter().any(|m| m.msg.id == id))
    };
    let mut got: Vec<Got> = Vec::new();
    let mut duplicates = 0;
    let mut add = |el: Element, at: Instant| {
        let id = el.attr("id").unwrap_or_default().to_string();
        if got.iter().any(|g| g.id == id) {
            duplicates += 1;
        } else {
            got.push(Got { id, el, at });
        }
    };
    let until = deadline(ctx);
    let mut seen = 0;
    while seen < expect {
        let Some(r) = s.take(ours, until).await else {
            break;
        };
        seen += 1;
        add(r.el, r.at);
    }
    ping_barrier(s, ctx).await;
    while let Some(r) = s.take(ours, clock::now()).await {
        add(r.el, r.at);
    }
    (got, duplicates)
}

fn judge_offline(s: &Session, u: &User, step: &OfflineStep, batch: &Batch, got: &[Got], ctx: &Ctx) {
    let sent: Vec<SentOffline> = batch.sent.iter().map(|m| m.msg.clone()).collect();
    let storable = (step.storable() as usize).min(sent.len());
    let delivered: Vec<String> = got.iter().map(|g| g.id.clone()).collect();
    let j = oracle::offline_stored(&sent[..storable], &delivered, &batch.bounces);
    s.judge(&ctx.events, &c::OFFLINE_STORED, j);
    let domain = u.bare.domain();
    let mut seqs = Vec::new();
    for g in got {
        let Some(m) = sent.iter().find(|m| m.id == g.id) else {
            continue;
        };
        seqs.push(m.seq);
        s.judge(&ctx.events, &c::OFFLINE_DELAY, oracle::delay_added(&g.el));
        let stamp = oracle::delay_stamp(&g.el, m.sent_unix_ms, unix_ms(g.at));
        s.judge(&ctx.events, &c::DELAY_STAMP, stamp);
        let from = oracle::delay_from(&g.el, domain, &batch.sender);
        s.judge(&ctx.events, &c::DELAY_FROM, from);
    }
    if !seqs.is_empty() {
        s.judge(&ctx.events, &c::OFFLINE_IN_ORDER, oracle::in_order(&seqs));
    }
    if let Some(limit) = step.limit.filter(|l| *l < step.count) {
        let j = oracle::queue_full(limit, &sent, &delivered, &batch.bounces);
        judge_noted(s, ctx, &c::OFFLINE_QUEUE_FULL, j);
    }
}

/// A judgement whose pass carries a note for the report (what the server did).
fn judge_noted(s: &Session, ctx: &Ctx, check: &'static CheckDef, j: Result<String, Violation>) {
    match j {
        Ok(note) => ctx
            .events
            .outcome(Outcome::new(check, Verdict::Pass, s.label(), note)),
        Err(v) => s.judge(&ctx.events, check, Err(v)),
    }
}

/// Latencies, counters and message accounting of one recipient. Messages within the store
/// limit are accounted (a lost one is lost); the overflow only feeds the counters.
fn account(
    u: &User,
    step: &OfflineStep,
    batch: &Batch,
    got: &[Got],
    duplicates: u64,
    presence_at: Instant,
    ctx: &Ctx,
) {
    let storable = step.storable() as usize;
    for (i, m) in batch.sent.iter().enumerate() {
        let arrived = got.iter().position(|g| g.id == m.msg.id);
        let reordered =
            arrived.is_some_and(|p| got[..p].iter().any(|g| seq_of(batch, g) > m.msg.seq));
        if let Some(p) = arrived {
            ctx.events
                .latency(Op::Offline, m.intended, presence_at, got[p].at);
        }
        if i >= storable {
            continue;
        }
        if arrived.is_none() {
            ctx.events.op_failed_quietly(Op::Offline);
        }
        let row = AccountRow {
            sent: 1,
            delivered: u64::from(arrived.is_some()),
            duplicated: 0,
            lost: u64::from(arrived.is_none()),
            reordered: u64::from(reordered),
        };
        ctx.events.accounted(Accounted {
            recipient: u.account.clone(),
            row,
            lost_id: arrived.is_none().then(|| m.msg.id.clone()),
        });
    }
    let bounced = batch.bounces.len() as u64;
    let stored = got.len() as u64;
    let dropped = (batch.sent.len() as u64).saturating_sub(stored + bounced);
    ctx.events.count("offline_stored", stored);
    ctx.events.count("offline_dropped", dropped);
    ctx.events.count("offline_duplicated", duplicates);
}

fn seq_of(batch: &Batch, g: &Got) -> u32 {
    batch
        .sent
        .iter()
        .find(|m| m.msg.id == g.id)
        .map_or(0, |m| m.msg.seq)
}

/// `roster-limit`: fill the roster up to `max`, add one more, judge, clean up.
pub(super) async fn roster_limit(u: &User, step: &RosterLimitStep, ctx: &Ctx) {
    let Some(s) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    let check = &c::ROSTER_MAX_REFUSED;
    let Some(existing) = roster_size(s, ctx).await else {
        return outcome(
            ctx,
            s,
            check,
            Verdict::Error,
            "the roster could not be read",
        );
    };
    if existing > step.max {
        let why = format!(
            "the roster already holds {existing} items, more than the maximum {}",
            step.max
        );
        return outcome(ctx, s, check, Verdict::Impossible, &why);
    }
    let f = fill(s, existing, step.max, ctx).await;
    match &f.failed {
        Some(why) => outcome(ctx, s, check, Verdict::Error, why),
        None => {
            let refused = f
                .beyond
                .as_ref()
                .and_then(StanzaError::from_stanza)
                .is_some();
            let counter = if refused {
                "roster_limit_refused"
            } else {
                "roster_limit_not_refused"
            };
            ctx.events.count(counter, 1);
            let fill = RosterFill {
                max: step.max,
                refused_early: f.early.as_ref().map(|(n, a)| (*n, a)),
                beyond: f.beyond.as_ref(),
                final_items: roster_size(s, ctx).await,
            };
            judge_noted(s, ctx, check, oracle::roster_max(&fill));
        }
    }
    clean_up(s, &f.added, ctx).await;
}

/// What filling a roster did.
#[derive(Debug, Default)]
struct Filled {
    /// Contacts the server accepted (to remove again).
    added: Vec<Jid>,
    /// An add refused before the maximum: the roster size it would have reached, the answer.
    early: Option<(usize, Element)>,
    /// The answer to the add beyond the maximum.
    beyond: Option<Element>,
    /// Why the fill could not finish (the harness's or the network's fault).
    failed: Option<String>,
}

/// Adds `impress-contact<n>` for n from `existing + 1` to `max + 1`, stopping at the
/// first refusal below the maximum.
async fn fill(s: &Session, existing: usize, max: usize, ctx: &Ctx) -> Filled {
    let mut f = Filled::default();
    for n in existing + 1..=max + 1 {
        let contact = match Jid::new(
            Some(&format!("impress-contact{n}")),
            &ctx.settings.domain,
            None,
        ) {
            Ok(j) => j,
            Err(e) => {
                f.failed = Some(format!("contact JID: {e}"));
                break;
            }
        };
        let Some(answer) = roster_set(s, &contact, None, ctx).await else {
            f.failed = Some(format!("no answer to the add of contact {n}"));
            break;
        };
        let accepted = answer.attr("type") == Some("result");
        if accepted {
            f.added.push(contact);
        }
        if n > max {
            f.beyond = Some(answer);
        } else if !accepted {
            f.early = Some((n, answer));
            break;
        }
    }
    f
}

/// Removes the contacts a fill added and drops their roster pushes from the inbox.
async fn clean_up(s: &Session, added: &[Jid], ctx: &Ctx) {
    for contact in added {
        roster_set(s, contact, Some("remove"), ctx).await;
    }
    let pushed = |el: &Element| {
        el.name == "iq"
            && el
                .child("query", ns::ROSTER)
                .and_then(|q| q.child("item", ns::ROSTER))
                .and_then(|i| i.attr("jid"))
                .is_some_and(|j| j.starts_with("impress-contact"))
    };
    while s.take(pushed, clock::now()).await.is_some() {}
}

fn outcome(ctx: &Ctx, s: &Session, check: &'static CheckDef, v: Verdict, why: &str) {
    if v == Verdict::Error {
        ctx.events.error(s.label(), why.to_string());
    }
    ctx.events.outcome(Outcome::new(check, v, s.label(), why));
}

/// Items in the roster (a roster get), `None` if it could not be read.
async fn roster_size(s: &Session, ctx: &Ctx) -> Option<usize> {
    let get = stanza::iq("get", "", None, Some(Element::new("query", ns::ROSTER)));
    let (_, resp) = s.request(get).await.ok()?;
    let resp = resp?;
    judge_iq(s, ctx, Some(&resp.el));
    let query = resp.el.child("query", ns::ROSTER)?;
    Some(query.children().filter(|i| i.name == "item").count())
}

/// A roster set for `contact` (`subscription` `remove` deletes it); the server's answer.
async fn roster_set(
    s: &Session,
    contact: &Jid,
    subscription: Option<&str>,
    ctx: &Ctx,
) -> Option<Element> {
    let mut item = Element::new("item", ns::ROSTER).with_attr("jid", contact.to_string());
    if let Some(sub) = subscription {
        item.set_attr("subscription", sub);
    }
    let set = stanza::iq(
        "set",
        "",
        None,
        Some(Element::new("query", ns::ROSTER).with_child(item)),
    );
    match s.request(set).await {
        Ok((_, resp)) => {
            judge_iq(s, ctx, resp.as_ref().map(|r| &r.el));
            resp.map(|r| r.el)
        }
        Err(e) => {
            ctx.events.error(s.label(), format!("roster set: {e}"));
            None
        }
    }
}
