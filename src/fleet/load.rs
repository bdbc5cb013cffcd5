//! The load phase (`do = "load"`): every selected user runs one scheduler loop over its
//! [`Planner`] — closed model (act, await the outcome, think) or open model (dispatch at
//! each arrival without waiting for earlier actions, at most `max_in_flight` per user; a
//! further arrival is dropped and counted). Each action has an intended start: response
//! time counts from it, service time from the actual send, and the lateness of the start
//! itself is the generator's scheduler lag (`scheduler_lag`), recorded for every action.

use super::schedule::{
    self, Arrival, Content, Planned, Planner, Profile, Schedule, Slot, Stage, Think,
};
use super::steps::{deadline, judge_message};
use super::tracker::Expect;
use super::watch;
use super::{Ctx, Directory, User};
use crate::checks::catalogue as c;
use crate::checks::oracle;
use crate::clock;
use crate::metrics::Op;
use crate::metrics::lag::LagMonitor;
use crate::proto::xmpp::{Element, ns, stanza};
use crate::scenario::suite::{MessageKind, Recipient};
use crate::scenario::suite_load::{ArrivalKind, LoadAction, LoadModel, LoadStep, ThinkSpec};
use crate::session::Session;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Time from planning to the first intended action, per acting user: spawning the user
/// loops must not itself make the first actions late.
const LEAD_PER_USER: Duration = Duration::from_micros(5);

/// Least lead time.
const LEAD_MIN: Duration = Duration::from_millis(20);

/// A user loop yields to the runtime after this many actions in a row without sleeping,
/// so a generator that is behind still lets sessions read and the collector fold.
const YIELD_EVERY: u64 = 32;

/// Counters are flushed to the collector after this many actions (and at the end).
const FLUSH_EVERY: u64 = 1024;

/// The schedule a load step describes.
pub fn schedule_of(step: &LoadStep) -> Schedule {
    match step.model {
        LoadModel::Closed => Schedule::Closed {
            think: step.think.map_or(Think::Constant(Duration::ZERO), think_of),
            duration: step.duration.unwrap_or_default().0,
            ramp_up: step.ramp_up.unwrap_or_default().0,
            ramp_down: step.ramp_down.unwrap_or_default().0,
        },
        LoadModel::Open => Schedule::Open {
            arrival: match step.arrival.unwrap_or_default() {
                ArrivalKind::Constant => Arrival::Constant,
                ArrivalKind::Poisson => Arrival::Poisson,
            },
            profile: Profile {
                start_rate: step.start_rate(),
                stages: step
                    .stages()
                    .unwrap_or_default()
                    .iter()
                    .map(|s| Stage {
                        rate: s.rate,
                        duration: s.duration.0,
                    })
                    .collect(),
            },
        },
    }
}

fn think_of(t: ThinkSpec) -> Think {
    match t {
        ThinkSpec::Constant { value } => Think::Constant(value.0),
        ThinkSpec::Uniform { min, max } => Think::Uniform {
            min: min.0,
            max: max.0,
        },
        ThinkSpec::Exponential { mean } => Think::Exponential { mean: mean.0 },
        ThinkSpec::Normal { mean, stddev } => Think::Normal {
            mean: mean.0,
            stddev: stddev.0,
        },
        ThinkSpec::Lognormal { mean, stddev } => Think::LogNormal {
            mean: mean.0,
            stddev: stddev.0,
        },
    }
}

/// Where one message goes and who must receive it.
#[derive(Debug, Clone)]
struct Target {
    addr: String,
    expect: Expect,
}

/// What every user loop of one phase shares.
struct Phase {
    ctx: Arc<Ctx>,
    lag: Arc<LagMonitor>,
    schedule: Schedule,
    seed: u64,
    action: LoadAction,
    to: Recipient,
    kind: MessageKind,
    body: (usize, usize),
    max_in_flight: usize,
    start: Instant,
    /// Past this instant nothing more is started: the rest is dropped.
    cutoff: Instant,
}

/// Runs a load phase over the selected users and hands every user back.
pub(super) async fn run(
    mut users: Vec<User>,
    step: &LoadStep,
    fleet: Option<usize>,
    ctx: &Arc<Ctx>,
    seed: u64,
    lag: &Arc<LagMonitor>,
) -> Vec<User> {
    let (acting, mut idle) = partition(&mut users, step, fleet);
    let n = acting.len();
    let schedule = schedule_of(step);
    let start = clock::now() + (LEAD_PER_USER * n as u32).max(LEAD_MIN);
    let phase = Arc::new(Phase {
        ctx: ctx.clone(),
        lag: lag.clone(),
        cutoff: start + schedule.duration() + lag.limit(),
        schedule,
        seed,
        action: step.action,
        to: step.to,
        kind: step.kind,
        body: (step.body_bytes.min, step.body_bytes.max),
        max_in_flight: step.max_in_flight,
        start,
    });
    tracing::info!(acting = n, idle = idle.len(), "load phase");
    lag.arm(true);
    let marks = tokio::spawn(mark_stages(phase.clone()));
    let mut set = JoinSet::new();
    for (position, (u, targets)) in acting.into_iter().enumerate() {
        let slot = Slot {
            position,
            acting: n,
        };
        set.spawn(user_loop(u, slot, targets, phase.clone()));
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(u) => idle.push(u),
            Err(e) => ctx
                .events
                .error("fleet", format!("a load task failed: {e}")),
        }
    }
    marks.abort();
    lag.arm(false);
    idle.sort_by_key(|u| u.gid);
    idle
}

/// Splits the users into those that act in this phase (selected, first session connected,
/// and for messages a connected partner), with their targets, and the others.
fn partition(
    users: &mut Vec<User>,
    step: &LoadStep,
    fleet: Option<usize>,
) -> (Vec<(User, Vec<Target>)>, Vec<User>) {
    let dir = super::directory(users);
    let mut idle = Vec::new();
    let mut acting = Vec::new();
    for u in users.drain(..) {
        let selected = fleet.is_none_or(|f| f == u.fleet);
        let targets = targets(&u, step, &dir);
        let ready = u.sessions.first().is_some_and(Option::is_some);
        let can_act = step.action == LoadAction::Ping || !targets.is_empty();
        if selected && ready && can_act {
            acting.push((u, targets));
        } else {
            idle.push(u);
        }
    }
    (acting, idle)
}

/// Marks each open-model stage on the report's timeline when it begins.
async fn mark_stages(phase: Arc<Phase>) {
    let Schedule::Open { profile, .. } = &phase.schedule else {
        return;
    };
    let mut at = phase.start;
    for (i, s) in profile.stages.iter().enumerate() {
        tokio::time::sleep_until(at.into()).await;
        phase
            .ctx
            .events
            .mark(format!("load stage {}: ramp to {}/s", i + 1, s.rate));
        at += s.duration;
    }
}

/// The partners `u` can message in this phase (connected ones only).
fn targets(u: &User, step: &LoadStep, dir: &Directory) -> Vec<Target> {
    if step.action != LoadAction::Message {
        return Vec::new();
    }
    u.partners
        .iter()
        .filter_map(|g| dir.get(*g))
        .filter_map(|p| match step.to {
            Recipient::PartnerBare => {
                let on = p.connected();
                (!on.is_empty()).then(|| Target {
                    addr: p.bare.to_string(),
                    expect: Expect::Any(on),
                })
            }
            Recipient::PartnerFull => match p.sessions.first() {
                Some((label, Some(jid))) => Some(Target {
                    addr: jid.to_string(),
                    expect: Expect::All(vec![label.clone()]),
                }),
                _ => None,
            },
        })
        .collect()
}

/// Counts of one user's phase, flushed to the collector in batches.
#[derive(Debug, Default)]
struct Counts {
    scheduled: u64,
    started: u64,
    dropped: u64,
    flushed: (u64, u64, u64),
}

impl Counts {
    /// The current action and `rest` more were never started.
    fn drop_rest(&mut self, rest: u64) {
        self.scheduled += rest;
        self.dropped += 1 + rest;
    }

    fn flush(&mut self, phase: &Phase) {
        let (s, t, d) = self.flushed;
        let ev = &phase.ctx.events;
        ev.count("actions_scheduled", self.scheduled - s);
        ev.count("actions_started", self.started - t);
        ev.count("actions_dropped", self.dropped - d);
        phase.lag.count(self.scheduled - s, self.dropped - d);
        self.flushed = (self.scheduled, self.started, self.dropped);
    }
}

/// One user's scheduler loop: the same for both models, which differ only in whether an
/// action is awaited (closed) or dispatched (open).
async fn user_loop(mut u: User, slot: Slot, targets: Vec<Target>, phase: Arc<Phase>) -> User {
    let Some(s) = u.sessions[0].take() else {
        return u;
    };
    let s = Arc::new(s);
    let targets = Arc::new(targets);
    let content = Content {
        partners: targets.len(),
        body_min: phase.body.0,
        body_max: phase.body.1,
    };
    let mut planner = Planner::new(&phase.schedule, phase.seed, u.gid, slot, content);
    let mut inflight = JoinSet::new();
    let mut n = Counts::default();
    let mut done = Duration::ZERO;
    while let Some(p) = planner.next(done) {
        let intended = phase.start + p.at;
        n.scheduled += 1;
        let now = clock::now();
        if now >= phase.cutoff {
            // Too far behind to start anything more: this action and every later one are
            // dropped; this one's lateness is the lower bound of theirs.
            watch::record(&phase.lag, &phase.ctx.events, intended, now);
            n.drop_rest(planner.remaining());
            break;
        }
        if intended > now {
            tokio::time::sleep_until(intended.into()).await;
        } else if n.scheduled % YIELD_EVERY == 0 {
            tokio::task::yield_now().await;
        }
        watch::record(&phase.lag, &phase.ctx.events, intended, clock::now());
        if phase.schedule.is_open() {
            while inflight.try_join_next().is_some() {}
            if inflight.len() >= phase.max_in_flight {
                n.dropped += 1;
            } else {
                n.started += 1;
                inflight.spawn(act(phase.clone(), s.clone(), targets.clone(), p, intended));
            }
        } else {
            n.started += 1;
            act(phase.clone(), s.clone(), targets.clone(), p, intended).await;
            done = clock::now().saturating_duration_since(phase.start);
        }
        if n.scheduled % FLUSH_EVERY == 0 {
            n.flush(&phase);
        }
    }
    while inflight.join_next().await.is_some() {}
    n.flush(&phase);
    // Every action task has ended, so the session is this loop's alone again.
    match Arc::try_unwrap(s) {
        Ok(s) => u.sessions[0] = Some(s),
        Err(_) => phase
            .ctx
            .events
            .error(&u.label(0), "session still shared; dropped"),
    }
    u
}

/// One action.
async fn act(
    phase: Arc<Phase>,
    s: Arc<Session>,
    targets: Arc<Vec<Target>>,
    p: Planned,
    intended: Instant,
) {
    match phase.action {
        LoadAction::Message => {
            if let Some(t) = targets.get(p.partner) {
                message(&phase, &s, t, p, intended).await;
            }
        }
        LoadAction::Ping => ping(&phase, &s, intended).await,
    }
}

/// Sends one tracked message and waits for its delivery (or the delivery timeout); the
/// tracker records its latency from `intended` and its accounting.
async fn message(phase: &Phase, s: &Session, t: &Target, p: Planned, intended: Instant) {
    let ctx = &phase.ctx;
    let token = ctx.tracker.token();
    let waker = Arc::new(Notify::new());
    ctx.tracker.expect(
        &token,
        Op::Message,
        intended,
        s.jid(),
        t.expect.clone(),
        &waker,
    );
    let body = schedule::body_text(p.body_len, p.body_seed);
    let el = stanza::message(phase.kind.as_str(), &token, &t.addr, &body);
    ctx.events.count("messages_sent", 1);
    match s.send(&el).await {
        Ok(at) => {
            ctx.tracker.sent(&token, at);
            let tokens = [token];
            ctx.tracker.wait(&tokens, deadline(ctx), &waker).await;
            let [token] = tokens;
            if let Some(d) = ctx.tracker.finish(&token) {
                judge_message(s, &d, phase.to, ctx);
            }
        }
        Err(e) => {
            ctx.events.error(s.label(), format!("send failed: {e}"));
            ctx.tracker.finish(&token);
        }
    }
}

/// One XEP-0199 ping, its response time counted from `intended`.
async fn ping(phase: &Phase, s: &Session, intended: Instant) {
    let ctx = &phase.ctx;
    let q = Element::new("ping", ns::PING);
    let req = stanza::iq("get", "", Some(&ctx.settings.domain), Some(q));
    match s.request(req).await {
        Ok((sent, Some(r))) => {
            s.judge(&ctx.events, &c::SERVER_PING, oracle::ping_reply(&r.el));
            ctx.events.latency(Op::Ping, intended, sent, r.at);
        }
        Ok((_, None)) => {
            ctx.events
                .op_failed(Op::Ping, s.label(), "no response before the timeout")
        }
        Err(e) => ctx.events.op_failed(Op::Ping, s.label(), e.to_string()),
    }
}
