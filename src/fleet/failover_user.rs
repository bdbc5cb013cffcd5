//! One user riding through faults in a `chat-through` step, like the seed's clients: it
//! messages its partner every `interval`, pings the server every `ping_interval`, and
//! declares its connection dead when a ping goes unanswered for `ping_timeout` or the
//! stream ends. It then tries XEP-0198 resumption where its session enabled it (on the same
//! node first when that node may be alive, then the next), else waits Uniform[lower, upper]
//! from its own seeded PRNG and logs in again on the next node of the list (cycling),
//! again after each failure, and re-sends initial presence so its partner sees it again.
//! "Next" stays within the user's deployment: the next node serving its domain
//! ([`next_in_group`]). A user watching partners on another deployment notes when it sees
//! them unavailable, for the remote-watcher view of the recovery
//! ([`crate::metrics::remote_watch`]).

use super::intercluster::next_in_group;
use super::rng::UserRng;
use super::steps::{SESSIONS_CONNECTED, credentials};
use super::tracker::Expect;
use super::{Ctx, Directory, User};
use crate::clock;
use crate::metrics::Op;
use crate::metrics::accounting::AccountRow;
use crate::metrics::recovery::UserRecovery;
use crate::metrics::remote_watch::RemoteSightings;
use crate::proto::xmpp::{Element, ns, stanza};
use crate::scenario::suite_failover::{Backoff, ChatThroughStep};
use crate::session::Session;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Mixed into the suite seed so re-login waits do not share a stream with load phases.
const SALT: u64 = 0xFA11_0BE8_5EED_0001;

/// How often a user looks at its connection between its scheduled actions.
const POLL: Duration = Duration::from_millis(100);

/// What every user of the step shares.
#[derive(Debug)]
pub(super) struct Plan {
    /// The step.
    pub step: ChatThroughStep,
    /// Re-login wait bounds.
    pub backoff: Backoff,
    /// Try resumption first.
    pub resume: bool,
    /// When traffic starts.
    pub start: Instant,
    /// When traffic ends.
    pub end: Instant,
    /// When a user still down stops trying.
    pub give_up: Instant,
    /// Suite seed.
    pub seed: u64,
    /// Number of nodes.
    pub nodes: usize,
    /// Each node's domain (empty: one domain); recovery moves users among the nodes of
    /// their own domain.
    pub domains: Vec<String>,
}

impl Plan {
    /// The node a user of `node` tries next.
    fn next(&self, node: usize) -> usize {
        next_in_group(&self.domains, self.nodes, node)
    }
}

/// What the user hands back.
#[derive(Debug)]
pub(super) struct Ride {
    /// The user (its session replaced if it recovered).
    pub user: User,
    /// What it went through.
    pub rec: UserRecovery,
    /// Its messages: when sent, how they fared, their ids.
    pub messages: Vec<(Instant, AccountRow, String)>,
    /// Whether its messages cross deployments (its partner is in another domain).
    pub remote: bool,
    /// What its remote watchers saw (`unavailable_at` is filled in from theirs).
    pub seen: RemoteSightings,
    /// Partners on another deployment it saw unavailable: (bare JID, when).
    pub unavailable: Vec<(String, Instant)>,
}

/// Per-user traffic state.
struct Traffic {
    to: Option<(String, String)>,
    watchers: Vec<String>,
    /// Watchers on another deployment (session labels).
    remote_watchers: Vec<String>,
    /// Partners on another deployment (bare JIDs) whose unavailability it notes.
    remote_partners: Vec<String>,
    unavailable: Vec<(String, Instant)>,
    waker: Arc<Notify>,
    sent: Vec<(Instant, String)>,
    presence: Vec<String>,
    ping: Option<(String, Instant)>,
    seq: u64,
}

/// Runs one user through the step.
pub(super) async fn ride(mut u: User, plan: Arc<Plan>, ctx: Arc<Ctx>, dir: Arc<Directory>) -> Ride {
    let mut rng = UserRng::new(plan.seed ^ SALT, u.gid as u64);
    let mut rec = UserRecovery {
        label: u.label(0),
        node_before: u.node,
        ..UserRecovery::default()
    };
    let mut t = traffic(&u, &dir);
    if u.sessions.first().is_some_and(Option::is_some) {
        chat(&mut u, &mut t, &mut rec, &mut rng, &plan, &ctx).await;
    }
    rec.node_after = u.node;
    rec.connected_at_end = u.sessions.first().is_some_and(Option::is_some);
    let mut seen = RemoteSightings {
        watched: !t.remote_watchers.is_empty(),
        ..RemoteSightings::default()
    };
    let messages = settle(&mut t, &mut rec, &mut seen, &ctx).await;
    let remote =
        t.to.as_ref()
            .is_some_and(|(to, _)| to.rsplit('@').next() != Some(u.bare.domain()));
    Ride {
        user: u,
        rec,
        messages,
        remote,
        seen,
        unavailable: t.unavailable,
    }
}

/// The partner's bare JID and first session label, and who watches this user's presence.
fn traffic(u: &User, dir: &Directory) -> Traffic {
    let partner = u.partners.first().and_then(|g| dir.get(*g));
    let to = partner.map(|p| (p.bare.to_string(), p.sessions[0].0.clone()));
    let partners: Vec<_> = u.partners.iter().filter_map(|g| dir.get(*g)).collect();
    let watchers = partners.iter().map(|e| e.sessions[0].0.clone()).collect();
    let remote: Vec<_> = partners
        .iter()
        .filter(|e| e.bare.domain() != u.bare.domain())
        .collect();
    Traffic {
        to,
        watchers,
        remote_watchers: remote.iter().map(|e| e.sessions[0].0.clone()).collect(),
        remote_partners: remote.iter().map(|e| e.bare.to_string()).collect(),
        unavailable: Vec::new(),
        waker: Arc::new(Notify::new()),
        sent: Vec::new(),
        presence: Vec::new(),
        ping: None,
        seq: 0,
    }
}

/// The traffic loop until the step ends (or the user gives up coming back).
async fn chat(
    u: &mut User,
    t: &mut Traffic,
    rec: &mut UserRecovery,
    rng: &mut UserRng,
    plan: &Plan,
    ctx: &Ctx,
) {
    let s = &plan.step;
    // Each user starts at its own phase, so a fleet's sends and pings are not in lockstep.
    let mut next_msg = plan.start + s.interval.0.mul_f64(rng.unit());
    let mut next_ping = plan.start + s.ping_interval.0.mul_f64(rng.unit());
    loop {
        let now = clock::now();
        if now >= plan.end {
            return;
        }
        if let Some(cause) = dead(u, t, now, s.ping_timeout.0).await {
            if !recover(u, t, rec, rng, plan, ctx, cause).await {
                return;
            }
            let now = clock::now();
            (next_msg, next_ping) = (next_msg.max(now), now + s.ping_interval.0);
            continue;
        }
        let Some(session) = u.sessions[0].as_ref() else {
            return;
        };
        note_unavailable(session, t, now).await;
        if now >= next_msg {
            send_message(session, u, t, ctx).await;
            next_msg += s.interval.0;
        }
        if now >= next_ping && t.ping.is_none() {
            t.ping = send_ping(session, t).await;
            next_ping = now + s.ping_interval.0;
        }
        let ping_deadline = t.ping.as_ref().map(|(_, at)| *at + s.ping_timeout.0);
        let wake = [
            Some(next_msg),
            Some(next_ping),
            ping_deadline,
            Some(now + POLL),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + POLL)
        .min(plan.end);
        tokio::time::sleep_until(wake.into()).await;
    }
}

/// Why the connection is dead, if it is: the stream ended, or the ping in flight has had
/// no answer for `timeout`. A pong that arrived clears the ping.
async fn dead(u: &User, t: &mut Traffic, now: Instant, timeout: Duration) -> Option<String> {
    let s = u.sessions[0].as_ref()?;
    if let Some(why) = s.closed() {
        return Some(format!("connection closed: {why}"));
    }
    let (id, sent) = t.ping.clone()?;
    let pong = |el: &Element| el.name == "iq" && el.attr("id") == Some(id.as_str());
    // A deadline of now only looks at what already arrived.
    if s.take(pong, now).await.is_some() {
        t.ping = None;
        return None;
    }
    (now >= sent + timeout).then(|| format!("no ping reply within {timeout:?}"))
}

/// Takes the unavailable presences of remote partners that arrived, noting who and when.
async fn note_unavailable(s: &Session, t: &mut Traffic, now: Instant) {
    if t.remote_partners.is_empty() {
        return;
    }
    let partners = &t.remote_partners;
    let from_partner = |el: &Element| {
        el.name == "presence"
            && el.attr("type") == Some("unavailable")
            && el
                .attr("from")
                .is_some_and(|f| partners.iter().any(|p| f.split('/').next() == Some(p)))
    };
    while let Some(got) = s.take(from_partner, now).await {
        let from = got.el.attr("from").unwrap_or_default();
        let bare = from.split('/').next().unwrap_or_default().to_string();
        t.unavailable.push((bare, got.at));
    }
}

async fn send_message(s: &Session, u: &User, t: &mut Traffic, ctx: &Ctx) {
    let Some((addr, label)) = t.to.clone() else {
        return;
    };
    let token = ctx.tracker.token();
    let now = clock::now();
    let expect = Expect::All(vec![label]);
    ctx.tracker
        .expect(&token, Op::Message, now, s.jid(), expect, &t.waker);
    let body = format!("impress chat-through {} from {}", t.seq, u.account);
    t.seq += 1;
    match s.send(&stanza::message("chat", &token, &addr, &body)).await {
        Ok(at) => ctx.tracker.sent(&token, at),
        // It counts as lost: the connection is dying and the next look will say so.
        Err(_) => ctx.events.count("messages_unsent", 1),
    }
    ctx.events.count("messages_sent", 1);
    t.sent.push((now, token));
}

async fn send_ping(s: &Session, t: &mut Traffic) -> Option<(String, Instant)> {
    let id = format!("fping{}", t.seq);
    t.seq += 1;
    let ping = Element::new("ping", ns::PING);
    // The user's own server: in a federation another deployment's domain would be
    // answered (or not) over s2s.
    let server = s.jid().domain().to_owned();
    let req = stanza::iq("get", &id, Some(&server), Some(ping));
    let at = s.send(&req).await.ok()?;
    Some((id, at))
}

/// Drops the dead connection and brings the user back: resumption while the re-login
/// wait runs, else re-login once it is over. Returns false when it gave up (the step's
/// recovery time ran out).
async fn recover(
    u: &mut User,
    t: &mut Traffic,
    rec: &mut UserRecovery,
    rng: &mut UserRng,
    plan: &Plan,
    ctx: &Ctx,
    cause: String,
) -> bool {
    let lost = clock::now();
    if rec.lost_at.is_none() {
        rec.lost_at = Some(lost);
        rec.cause = Some(cause);
    }
    ctx.events.count("connections_lost", 1);
    ctx.events.gauge(SESSIONS_CONNECTED, -1);
    t.ping = None;
    let Some(old) = u.sessions[0].take() else {
        return false;
    };
    let sm = old.sm_enabled();
    // The first re-login is due Uniform[lower, upper] after the loss, resumed or not.
    let first = lost + wait(rng, &plan.backoff);
    if plan.resume && old.sm_resumable() {
        let detached = old.cut().await;
        if resume(u, &detached, rec, plan, ctx, first).await {
            note_back(rec, lost, ctx);
            return true;
        }
    } else {
        drop(old);
    }
    let back = relogin(u, t, rec, rng, plan, ctx, sm, first).await;
    if back {
        note_back(rec, lost, ctx);
    }
    back
}

fn note_back(rec: &mut UserRecovery, lost: Instant, ctx: &Ctx) {
    let now = clock::now();
    ctx.events.latency(Op::Outage, lost, lost, now);
    ctx.events.gauge(SESSIONS_CONNECTED, 1);
    if rec.back_at.is_none() {
        rec.back_at = Some(now);
    }
}

/// Pause between resumption rounds while nodes refuse connections.
const RESUME_RETRY: Duration = Duration::from_millis(250);

/// XEP-0198 resumption, in rounds: the same node, then the next one; each exchange waits
/// at most `ping_timeout`. Rounds repeat while nodes are unreachable, until `until` (the
/// re-login time); a node that answers `<failed/>` ends them (the session is gone).
async fn resume(
    u: &mut User,
    d: &crate::session::Detached,
    rec: &mut UserRecovery,
    plan: &Plan,
    ctx: &Ctx,
    until: Instant,
) -> bool {
    let next = plan.next(u.node);
    let mut order = vec![u.node];
    if next != u.node {
        order.push(next);
    }
    let creds = credentials(u, 0, ctx);
    while clock::now() < until {
        for &node in &order {
            rec.resume_attempts += 1;
            let mut settings = ctx.settings.at(node);
            settings.response_timeout = plan.step.ping_timeout.0;
            settings.connect_timeout = settings.connect_timeout.min(plan.step.ping_timeout.0);
            let Ok(attempt) = d.resume(&settings, &creds, &ctx.events).await else {
                continue;
            };
            let Some(s) = attempt.session else {
                // Answered, but not `<resumed/>`: this session cannot be resumed.
                return false;
            };
            ctx.events
                .latency(Op::Resume, d.cut_at(), attempt.sent, clock::now());
            rec.resume_successes += 1;
            rec.resumed = rec.back_at.is_none();
            u.node = node;
            u.sessions[0] = Some(s);
            return true;
        }
        tokio::time::sleep(RESUME_RETRY).await;
    }
    false
}

/// Logs in on the next node at `first`, and again Uniform[lower, upper] after each
/// failure, until it is back or the step's recovery time runs out.
#[allow(clippy::too_many_arguments)]
async fn relogin(
    u: &mut User,
    t: &mut Traffic,
    rec: &mut UserRecovery,
    rng: &mut UserRng,
    plan: &Plan,
    ctx: &Ctx,
    sm: bool,
    first: Instant,
) -> bool {
    let creds = credentials(u, 0, ctx);
    let mut at = first.max(clock::now());
    loop {
        if at > plan.give_up {
            return false;
        }
        tokio::time::sleep_until(at.into()).await;
        u.node = plan.next(u.node);
        rec.relogin_attempts += 1;
        ctx.events.count("relogin_attempts", 1);
        let observer = ctx.tracker.clone();
        let settings = ctx.settings.at(u.node);
        let Ok(s) =
            Session::connect(&settings, &creds, u.label(0), &ctx.events, observer, at).await
        else {
            at = clock::now() + wait(rng, &plan.backoff);
            continue;
        };
        rec.relogins.push(clock::now());
        s.set_auto_approve(true);
        if sm {
            let _ = s.sm_enable().await;
        }
        announce(&s, u, t, ctx).await;
        u.sessions[0] = Some(s);
        return true;
    }
}

/// A uniform wait in [lower, upper] from the user's stream.
fn wait(rng: &mut UserRng, b: &Backoff) -> Duration {
    let spread = b.upper.saturating_sub(b.lower);
    b.lower + spread.mul_f64(rng.unit())
}

/// Roster get, then initial presence carrying a token, so the partner's arrival of it
/// measures presence re-convergence.
async fn announce(s: &Session, u: &User, t: &mut Traffic, ctx: &Ctx) {
    let get = stanza::iq("get", "", None, Some(Element::new("query", ns::ROSTER)));
    let _ = s.request(get).await;
    let token = ctx.tracker.token();
    if !t.watchers.is_empty() {
        let all = Expect::All(t.watchers.clone());
        ctx.tracker
            .expect(&token, Op::Presence, clock::now(), s.jid(), all, &t.waker);
        t.presence.push(token.clone());
    }
    let p = Element::new("presence", ns::CLIENT)
        .with_child(Element::new("priority", ns::CLIENT).with_text(u.priorities[0].to_string()))
        .with_child(Element::new("status", ns::CLIENT).with_text(token.as_str()));
    match s.send(&p).await {
        Ok(at) => ctx.tracker.sent(&token, at),
        Err(e) => ctx
            .events
            .error(s.label(), format!("initial presence: {e}")),
    }
}

/// Waits for the step's messages and presences (delivery timeout), then accounts them.
async fn settle(
    t: &mut Traffic,
    rec: &mut UserRecovery,
    sight: &mut RemoteSightings,
    ctx: &Ctx,
) -> Vec<(Instant, AccountRow, String)> {
    let mut all: Vec<String> = t.sent.iter().map(|(_, k)| k.clone()).collect();
    all.extend(t.presence.iter().cloned());
    ctx.tracker
        .wait(&all, clock::now() + ctx.timeouts.delivery.0, &t.waker)
        .await;
    for p in &t.presence {
        if let Some(d) = ctx.tracker.finish(p) {
            // The user's own resources get its presence too: only watchers count.
            let seen = d
                .got
                .iter()
                .filter(|(l, _)| t.watchers.contains(l))
                .map(|(_, at)| *at)
                .min();
            rec.presence_seen_at = rec.presence_seen_at.or(seen);
            let remote = d.got.iter().filter(|(l, _)| t.remote_watchers.contains(l));
            let remote_seen = remote.map(|(_, at)| *at).min();
            sight.available_at = sight.available_at.or(remote_seen);
        }
    }
    let mut out = Vec::new();
    for (at, token) in &t.sent {
        let Some(d) = ctx.tracker.finish(token) else {
            continue;
        };
        let got = !d.got.is_empty();
        let row = AccountRow {
            sent: 1,
            delivered: u64::from(got),
            duplicated: d.duplicates,
            lost: u64::from(!got),
            reordered: u64::from(!d.reordered_at.is_empty()),
        };
        out.push((*at, row, token.clone()));
    }
    out
}
