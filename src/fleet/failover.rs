//! Failover steps at the fleet level: `fault` steps (applied at once, or `after` a pause
//! in the background so they land during the next step) and the `chat-through` traffic
//! phase, whose users ride through faults one task each ([`super::failover_user`]) and
//! whose recovery is summarised into the report ([`crate::metrics::recovery`]).

use super::failover_user::{self, Plan, Ride};
use super::{Ctx, User};
use crate::clock;
use crate::events::Event;
use crate::fault::control::FaultRecord;
use crate::metrics::Op;
use crate::metrics::recovery::{StepFacts, UserRecovery, summarize};
use crate::metrics::remote_watch::{RemoteSightings, RemoteWatch, summarize_remote};
use crate::scenario::suite::Suite;
use crate::scenario::suite_failover::{ChatThroughStep, FaultStep, RecoveryConf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Applies a fault step: at once, or in the background `after` the step starts.
pub(super) async fn fault(f: &FaultStep, ctx: &Arc<Ctx>, background: &mut JoinSet<()>) {
    let (node, action, delay) = (f.node, f.action, f.delay.map(|d| d.0));
    match f.after {
        None => {
            // Failures are on the timeline and in the errors; the run goes on.
            let _ = ctx.nodes.apply(node, action, delay, &ctx.events).await;
        }
        Some(after) => {
            let ctx = ctx.clone();
            background.spawn(async move {
                tokio::time::sleep(after.0).await;
                let _ = ctx.nodes.apply(node, action, delay, &ctx.events).await;
            });
        }
    }
}

/// Runs a `chat-through` step over the selected users and reports their recovery.
pub(super) async fn run(
    mut users: Vec<User>,
    step: &ChatThroughStep,
    fleet: Option<usize>,
    ctx: &Arc<Ctx>,
    suite: &Suite,
    label: String,
) -> Vec<User> {
    let conf = suite.recovery.clone().unwrap_or_default();
    let selected = users
        .iter()
        .filter(|u| fleet.is_none_or(|f| f == u.fleet))
        .count();
    let plan = Arc::new(plan(step, &conf, selected, suite.seed, ctx));
    let dir = Arc::new(super::directory(&users));
    let mut set = JoinSet::new();
    let mut idle = Vec::new();
    for u in users.drain(..) {
        if fleet.is_some_and(|f| f != u.fleet) {
            idle.push(u);
            continue;
        }
        let (plan, ctx, dir) = (plan.clone(), ctx.clone(), dir.clone());
        set.spawn(failover_user::ride(u, plan, ctx, dir));
    }
    let mut rides = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(ride) => rides.push(ride),
            Err(e) => ctx
                .events
                .error("fleet", format!("a user task failed: {e}")),
        }
    }
    report(&rides, &plan, &conf, ctx, label);
    idle.extend(rides.into_iter().map(|r| r.user));
    idle.sort_by_key(|u| u.gid);
    idle
}

fn plan(step: &ChatThroughStep, conf: &RecoveryConf, users: usize, seed: u64, ctx: &Ctx) -> Plan {
    let backoff = conf.backoff(users);
    let start = clock::now();
    let end = start + step.duration.0;
    Plan {
        step: step.clone(),
        backoff,
        resume: conf.resume,
        start,
        end,
        give_up: end + recovery_allowance(step, conf, &backoff),
        seed,
        nodes: ctx.settings.nodes.len().max(1),
        domains: ctx.settings.domains.clone(),
    }
}

/// Time beyond the traffic a user still down keeps trying: the whole recovery bound.
fn recovery_allowance(
    step: &ChatThroughStep,
    conf: &RecoveryConf,
    b: &crate::scenario::suite_failover::Backoff,
) -> Duration {
    step.detection_bound() + resume_budget(step, conf) + b.upper + conf.slack.0
}

/// Resumption tries the same node and the next, each bounded by `ping_timeout` per
/// exchange (connect, stream, SASL, resume: counted as two exchanges each).
fn resume_budget(step: &ChatThroughStep, conf: &RecoveryConf) -> Duration {
    if conf.resume {
        step.ping_timeout.0 * 4
    } else {
        Duration::ZERO
    }
}

/// Summarises the step's recovery, records outage and detection samples, and sends the
/// report section.
fn report(rides: &[Ride], plan: &Plan, conf: &RecoveryConf, ctx: &Ctx, label: String) {
    let fault = origin(&ctx.nodes.take_faults());
    let resumable = rides.iter().any(|r| r.rec.resume_attempts > 0);
    let b = &plan.backoff;
    let facts = StepFacts {
        step: label,
        fault: fault
            .as_ref()
            .map(|f| (format!("{} node{}", f.action.name(), f.node), f.at)),
        detection_bound: plan.step.detection_bound(),
        resume_budget: if resumable {
            resume_budget(&plan.step, conf)
        } else {
            Duration::ZERO
        },
        lower: b.lower,
        upper: b.upper,
        backoff: match b.profile {
            Some(p) => format!("profile {p}"),
            None => b.source.to_string(),
        },
        slack: conf.slack.0,
        nodes: plan.nodes,
    };
    let recs: Vec<UserRecovery> = rides.iter().map(|r| r.rec.clone()).collect();
    if let Some(f) = &fault {
        for at in recs.iter().filter_map(|r| r.lost_at) {
            ctx.events.latency(Op::Detection, f.at, f.at, at.max(f.at));
        }
    }
    let messages: Vec<_> = rides.iter().flat_map(|r| r.messages.clone()).collect();
    let mut r = summarize(&facts, &recs, &messages);
    r.remote = remote_view(rides, &facts, &recs);
    ctx.events
        .mark(format!("recovery {:?}: {}", r.verdict, r.reason));
    ctx.events.send(Event::Recovery(Box::new(r)));
}

/// What watchers on other deployments saw: each user's own sightings, with when a remote
/// watcher first saw it unavailable after the fault (or its loss) filled in.
fn remote_view(rides: &[Ride], f: &StepFacts, recs: &[UserRecovery]) -> Option<RemoteWatch> {
    let seen: Vec<RemoteSightings> = rides
        .iter()
        .map(|r| {
            let bare = r.user.bare.to_string();
            let from = f.fault.as_ref().map(|(_, at)| *at).or(r.rec.lost_at);
            let unavailable_at = rides
                .iter()
                .flat_map(|w| &w.unavailable)
                .filter(|(who, at)| *who == bare && from.is_some_and(|o| *at >= o))
                .map(|(_, at)| *at)
                .min();
            RemoteSightings {
                unavailable_at,
                ..r.seen.clone()
            }
        })
        .collect();
    let remote: Vec<_> = rides
        .iter()
        .filter(|r| r.remote)
        .flat_map(|r| r.messages.clone())
        .collect();
    summarize_remote(f, recs, &seen, &remote)
}

/// The fault recovery is measured from: the first disruptive fault of those applied since
/// the last `chat-through` step (one that struck before this step started counts too).
fn origin(faults: &[FaultRecord]) -> Option<FaultRecord> {
    faults.iter().find(|f| f.action.disrupts()).cloned()
}
