//! The fleet: virtual users built from the suite, and the runner that plays the script
//! over all of them. Every step runs on all selected users at once and ends with a
//! barrier; a step's intended start time anchors every latency it records.

mod calibrate;
pub mod carbon_ledger;
mod carbons_steps;
mod delivered;
mod failover;
mod failover_user;
mod forking_steps;
pub mod intercluster;
mod load;
mod muc_probe;
mod muc_room;
mod muc_steps;
mod muc_talk;
mod offline_steps;
pub mod rng;
pub mod schedule;
mod sip_probe;
mod sip_steps;
mod sm_steps;
mod steps;
pub mod tracker;
pub mod watch;

pub use muc_room::{RoomConf, Seat};
pub use tracker::Tracker;

use crate::clock;
use crate::events::Events;
use crate::proto::xmpp::Jid;
use crate::scenario::Secret;
use crate::scenario::suite::{Pairs, Step, Suite, Timeouts};
use crate::session::{Session, Settings};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

/// What every user task shares.
#[derive(Debug)]
pub struct Ctx {
    /// Connection settings.
    pub settings: Settings,
    /// Result channel.
    pub events: Events,
    /// Delivery tracker (also every session's observer).
    pub tracker: Arc<Tracker>,
    /// Suite time limits.
    pub timeouts: Timeouts,
    /// Password pattern (`{n}` is the user number).
    pub password: Secret,
    /// First connection error seen (to explain an unreachable target).
    pub first_connect_error: Mutex<Option<String>>,
    /// How SIP user agents connect (`None` when the suite has no SIP fleet).
    pub sip: Option<crate::session::sip::SipSettings>,
    /// The target's nodes and their faults (failover steps).
    pub nodes: Arc<crate::fault::control::Nodes>,
}

/// One virtual user and its sessions (one per resource; `None` when not connected).
#[derive(Debug)]
pub struct User {
    /// Index in the whole fleet list (stable across steps).
    pub gid: usize,
    /// Index within its fleet.
    pub index: usize,
    /// Fleet position in the suite.
    pub fleet: usize,
    /// Account localpart.
    pub account: String,
    /// User number (`{n}`).
    pub number: usize,
    /// Bare JID.
    pub bare: Jid,
    /// Resource names.
    pub resources: Vec<String>,
    /// Presence priority of the first resource (the one steps send from).
    pub priority: i8,
    /// Presence priority of each resource.
    pub priorities: Vec<i8>,
    /// Global index of this user's first session (for login pacing).
    pub first_slot: usize,
    /// Sessions, by resource.
    pub sessions: Vec<Option<Session>>,
    /// Partners (gids), set by the last subscribe step; messages go to the first.
    pub partners: Vec<usize>,
    /// XEP-0045 seats, one per room label (set by `muc-create` steps).
    pub rooms: Vec<Seat>,
    /// SIP user agents and their state (SIP fleets only).
    pub sip: sip_steps::SipState,
    /// The target node this user logs in to (index in [`Settings::nodes`]).
    pub node: usize,
}

impl User {
    /// The session label of resource `k`.
    pub fn label(&self, k: usize) -> String {
        format!("{}/{}", self.account, self.resources[k])
    }
}

/// A snapshot of every user, taken before each step, so user tasks can address each other.
#[derive(Debug)]
pub struct Directory {
    users: std::collections::HashMap<usize, Entry>,
}

impl Directory {
    /// The user with global index `gid`, if it still exists.
    pub fn get(&self, gid: usize) -> Option<&Entry> {
        self.users.get(&gid)
    }
}

/// One user in the directory.
#[derive(Debug)]
pub struct Entry {
    /// Bare JID.
    pub bare: Jid,
    /// Index within its fleet (logout waves use its parity).
    pub index: usize,
    /// Sessions: label and bound JID (`None` when not connected).
    pub sessions: Vec<(String, Option<Jid>)>,
    /// Presence priority of each session.
    pub priorities: Vec<i8>,
    /// XEP-0045 seats, one per room label.
    pub rooms: Vec<Seat>,
    /// SIP: the address-of-record (empty for XMPP users and before registration).
    pub aor: String,
    /// SIP: labels of the registered devices.
    pub sip_devices: Vec<String>,
}

impl Entry {
    /// Labels of the connected sessions.
    pub fn connected(&self) -> Vec<String> {
        self.sessions
            .iter()
            .filter(|(_, j)| j.is_some())
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// Labels of the connected sessions a message to the bare JID may reach: those with a
    /// non-negative priority (RFC 6121 §8.5.2.1.1).
    pub fn eligible(&self) -> Vec<String> {
        self.sessions
            .iter()
            .zip(&self.priorities)
            .filter(|((_, j), p)| j.is_some() && **p >= 0)
            .map(|((l, _), _)| l.clone())
            .collect()
    }
}

/// Builds the users of a suite. `pattern` is the account pattern of fleets without one.
pub fn build_users(suite: &Suite, pattern: &str, domain: &str) -> Result<Vec<User>, String> {
    let mut users = Vec::new();
    let mut slot = 0;
    for (fi, f) in suite.fleets.iter().enumerate() {
        let pat = f.account.as_deref().unwrap_or(pattern);
        for index in 0..f.users {
            let number = f.first + index;
            let account = pat.replace("{n}", &number.to_string());
            let bare = Jid::new(Some(&account), domain, None).map_err(|e| {
                format!(
                    "fleet `{}`: account `{account}`@{domain} is not a valid JID: {e}",
                    f.name
                )
            })?;
            users.push(User {
                gid: users.len(),
                index,
                fleet: fi,
                account,
                number,
                bare,
                resources: f.resources.clone(),
                priority: f.priority_of(0),
                priorities: (0..f.resources.len()).map(|k| f.priority_of(k)).collect(),
                first_slot: slot,
                sessions: f.resources.iter().map(|_| None).collect(),
                partners: Vec::new(),
                rooms: Vec::new(),
                sip: sip_steps::SipState::new(f),
                node: 0,
            });
            slot += f.resources.len();
        }
    }
    Ok(users)
}

fn directory(users: &[User]) -> Directory {
    let users = users
        .iter()
        .map(|u| {
            (
                u.gid,
                Entry {
                    bare: u.bare.clone(),
                    index: u.index,
                    sessions: (0..u.resources.len())
                        .map(|k| (u.label(k), u.sessions[k].as_ref().map(|s| s.jid().clone())))
                        .collect(),
                    priorities: u.priorities.clone(),
                    rooms: u.rooms.clone(),
                    aor: u.sip.aor.clone(),
                    sip_devices: u.sip.registered(u),
                },
            )
        })
        .collect();
    Directory { users }
}

/// Sets every user's partners (gids) for a pairing, within each fleet.
fn pair(users: &mut [User], fleet: Option<usize>, pairs: Pairs) {
    let mut by_fleet: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for u in users.iter().filter(|u| fleet.is_none_or(|f| f == u.fleet)) {
        by_fleet.entry(u.fleet).or_default().push(u.gid);
    }
    let pos: std::collections::HashMap<usize, usize> =
        users.iter().enumerate().map(|(i, u)| (u.gid, i)).collect();
    if pairs == Pairs::Across {
        let fleets: Vec<&Vec<usize>> = by_fleet.values().collect();
        for (j, gids) in fleets.iter().enumerate() {
            for (i, &g) in gids.iter().enumerate() {
                users[pos[&g]].partners = intercluster::across(&fleets, j, i);
            }
        }
        return;
    }
    for gids in by_fleet.values() {
        let n = gids.len();
        for (i, &g) in gids.iter().enumerate() {
            users[pos[&g]].partners = match pairs {
                Pairs::Adjacent if i % 2 == 0 && i + 1 < n => vec![gids[i + 1]],
                Pairs::Adjacent if i % 2 == 1 => vec![gids[i - 1]],
                Pairs::Adjacent => Vec::new(),
                Pairs::Ring if n < 2 => Vec::new(),
                Pairs::Ring if n == 2 => vec![gids[(i + 1) % n]],
                Pairs::Ring => vec![gids[(i + 1) % n], gids[(i + n - 1) % n]],
                Pairs::Across => Vec::new(),
            };
        }
    }
}

/// Why the runner stopped early.
#[derive(Debug, Clone)]
pub struct Invalid(pub String);

/// Plays every step over the users. Returns `Err(Invalid)` when the run cannot be
/// trusted: no session could connect, or the generator fell behind its schedule
/// (`[limits] max_scheduler_lag`, see [`watch`]). Dropping the future aborts every user task.
pub async fn run(suite: &Suite, ctx: Arc<Ctx>, mut users: Vec<User>) -> Result<Vec<User>, Invalid> {
    let fleet_index = |name: &str| suite.fleets.iter().position(|f| f.name == name);
    let watch = watch::Watch::start(ctx.events.clone(), suite.limits.max_scheduler_lag.0);
    // Faults timed with `after` fire in the background; they end with the run.
    let mut background = JoinSet::new();
    for (i, step) in suite.steps.iter().enumerate() {
        tracing::info!(step = i, kind = step.kind(), "step");
        ctx.events.mark(format!("{} {}", i + 1, step.kind()));
        let fleet = step.fleet().and_then(fleet_index);
        match step {
            Step::Wait(w) => tokio::time::sleep(w.duration.0).await,
            Step::Barrier(_) => {}
            Step::Logout(_) => {
                for wave in 0..2 {
                    users = run_step(users, step, fleet, &ctx, Some(wave)).await;
                }
            }
            // Even users, odd users, even users: initial message, reply, locked-in messages.
            Step::LockIn(_) => {
                for phase in 0..3 {
                    users = run_step(users, step, fleet, &ctx, Some(phase)).await;
                }
            }
            Step::Subscribe(sub) => {
                pair(&mut users, fleet, sub.pairs);
                users = run_step(users, step, fleet, &ctx, None).await;
            }
            Step::Load(l) => {
                let lag = watch.monitor();
                users = load::run(users, l, fleet, &ctx, suite.seed, lag).await;
            }
            Step::Fault(f) => failover::fault(f, &ctx, &mut background).await,
            Step::ChatThrough(c) => {
                let label = format!("{} {}", i + 1, step.kind());
                users = failover::run(users, c, fleet, &ctx, suite, label).await;
            }
            Step::CalibrateLogin(c) => {
                let label = format!("{} {}", i + 1, step.kind());
                users = calibrate::run(users, c, fleet, &ctx, label, watch.monitor()).await;
            }
            _ => users = run_step(users, step, fleet, &ctx, None).await,
        }
        if matches!(step, Step::Login(_))
            && users.iter().all(|u| u.sessions.iter().all(Option::is_none))
        {
            let why = ctx.first_connect_error.lock().ok().and_then(|e| e.clone());
            let why = why.unwrap_or_else(|| "see errors".into());
            return Err(Invalid(format!("no session could log in: {why}")));
        }
        if matches!(step, Step::SipRegister(_))
            && users
                .iter()
                .filter(|u| u.sip.enabled)
                .all(|u| u.sip.uas.iter().all(Option::is_none))
        {
            let why = ctx.first_connect_error.lock().ok().and_then(|e| e.clone());
            let why = why.unwrap_or_else(|| "see errors".into());
            return Err(Invalid(format!("no SIP device could register: {why}")));
        }
        // A generator that fell behind measured itself: stop before blaming the target.
        if let Some(why) = watch.verdict() {
            return Err(Invalid(why));
        }
    }
    Ok(users)
}

async fn run_step(
    mut users: Vec<User>,
    step: &Step,
    fleet: Option<usize>,
    ctx: &Arc<Ctx>,
    wave: Option<usize>,
) -> Vec<User> {
    if matches!(step, Step::Login(_) | Step::SipRegister(_)) {
        default_partners(&mut users);
    }
    let dir = Arc::new(directory(&users));
    let start = clock::now();
    let mut set = JoinSet::new();
    let mut idle = Vec::new();
    for u in users.drain(..) {
        let selected =
            fleet.is_none_or(|f| f == u.fleet) && wave.is_none_or(|w| u.index % 2 == w % 2);
        if !selected {
            idle.push(u);
            continue;
        }
        let (ctx, dir, step) = (ctx.clone(), dir.clone(), step.clone());
        // A paced login keeps most users waiting for their slot: they wait in this small
        // future, and the step's state machine (~14 KiB) is allocated when their turn comes,
        // not for 50k waiting users at once.
        let turn = steps::login_turn(&step, &u, start);
        set.spawn(async move {
            if let Some(at) = turn {
                tokio::time::sleep_until(at.into()).await;
            }
            Box::pin(steps::run(u, &step, &ctx, &dir, start, wave)).await
        });
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(u) => idle.push(u),
            Err(e) => ctx
                .events
                .error("fleet", format!("a user task failed: {e}")),
        }
    }
    idle.sort_by_key(|u| u.gid);
    idle
}

/// Before any subscribe step, users are paired adjacently so messages have a partner.
fn default_partners(users: &mut [User]) {
    if users.iter().all(|u| u.partners.is_empty()) {
        pair(users, None, Pairs::Adjacent);
    }
}
