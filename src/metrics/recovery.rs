//! Recovery metrics of a failover (`chat-through`) step: what each user went through
//! ([`UserRecovery`]), folded into one [`RecoveryReport`] per step with its verdict.
//!
//! Times are taken from the fault that struck during (or just before) the step: detection
//! (fault → the client declares its connection dead), outage (dead → logged in or resumed
//! again), time until 100 % are back, the re-login arrival rate against the expected
//! `N / (upper − lower)`, resumptions, presence re-convergence (a partner sees the user
//! available again) and the accounting of messages sent while users were out.
//!
//! The verdict: every user that lost its connection is back within
//! `detection bound + resumption budget + upper + slack` of the fault ⇒ pass, else fail.

use super::accounting::AccountRow;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Lost message ids kept per report.
pub const MAX_LOST_IDS: usize = 200;

/// What one user went through in a failover step.
#[derive(Debug, Clone, Default)]
pub struct UserRecovery {
    /// Session label, e.g. `user3/impress`.
    pub label: String,
    /// Node at the start of the step.
    pub node_before: usize,
    /// Node at the end (where it is logged in, or last tried).
    pub node_after: usize,
    /// When the client first declared its connection dead.
    pub lost_at: Option<Instant>,
    /// Why (ping timeout, closed, …).
    pub cause: Option<String>,
    /// When it was logged in (or resumed) again after the first loss.
    pub back_at: Option<Instant>,
    /// Whether it came back by XEP-0198 resumption.
    pub resumed: bool,
    /// `<resume/>` attempts and how many succeeded.
    pub resume_attempts: u32,
    /// Successful resumptions.
    pub resume_successes: u32,
    /// Login attempts after a loss (failed ones included).
    pub relogin_attempts: u32,
    /// When each successful re-login completed (arrivals at the surviving node).
    pub relogins: Vec<Instant>,
    /// When a partner saw the user available again after it came back.
    pub presence_seen_at: Option<Instant>,
    /// Whether the user is connected at the end of the step.
    pub connected_at_end: bool,
}

/// Summary statistics in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MsStats {
    /// Samples.
    pub count: usize,
    /// Smallest.
    pub min_ms: u64,
    /// Median.
    pub p50_ms: u64,
    /// 95th percentile.
    pub p95_ms: u64,
    /// Largest.
    pub max_ms: u64,
}

impl MsStats {
    /// Statistics of `d` (empty: all zero).
    pub fn of(mut d: Vec<Duration>) -> Self {
        if d.is_empty() {
            return Self::default();
        }
        d.sort();
        let ms = |x: Duration| x.as_millis() as u64;
        let at = |q: f64| ms(d[((d.len() - 1) as f64 * q).round() as usize]);
        Self {
            count: d.len(),
            min_ms: ms(d[0]),
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            max_ms: ms(d[d.len() - 1]),
        }
    }
}

/// Pass or fail of a recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecoveryVerdict {
    /// Every user that lost its connection came back within the bound.
    Pass,
    /// Some did not, or too late.
    Fail,
}

/// One failover step's recovery, as reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// The step, e.g. `4 chat-through`.
    pub step: String,
    /// The fault recovery is measured from, e.g. `kill node0` (none: from the first loss).
    pub fault: Option<String>,
    /// Users in the step.
    pub users: usize,
    /// Users whose connection died.
    pub disconnected: usize,
    /// Of those, users back (resumed or logged in again).
    pub recovered: usize,
    /// Of those, users back by XEP-0198 resumption.
    pub resumed: usize,
    /// `<resume/>` attempts.
    pub resume_attempts: u64,
    /// Successful resumptions.
    pub resume_successes: u64,
    /// Login attempts after losses (failed ones included).
    pub relogin_attempts: u64,
    /// Successful re-logins.
    pub relogins: u64,
    /// Fault → connection declared dead.
    pub detection: MsStats,
    /// The longest detection can take: `ping_interval + ping_timeout`.
    pub detection_bound_ms: u64,
    /// Whether every detection was within that bound.
    pub detected_within_bound: bool,
    /// Per-user outage: declared dead → back.
    pub outage: MsStats,
    /// Fault → the last user back (`None`: not every user came back).
    pub time_to_all_back_ms: Option<u64>,
    /// Re-login wait bounds used (Uniform[lower, upper]).
    pub lower_ms: u64,
    /// Upper bound of the wait.
    pub upper_ms: u64,
    /// Where the bounds came from (`suite`, `profile 1000-as`).
    pub backoff: String,
    /// Expected re-login arrival rate `N / (upper − lower)`, per second.
    pub expected_rate_per_s: Option<f64>,
    /// Observed: re-logins / (last − first re-login), per second.
    pub observed_rate_per_s: Option<f64>,
    /// Users whose partner saw them available again.
    pub presence_converged: usize,
    /// Fault → a partner sees the user available again.
    pub presence: MsStats,
    /// Messages sent from the fault until the last user was back (or the step's end).
    pub messages_during_outage: AccountRow,
    /// Every message of the step.
    pub messages_total: AccountRow,
    /// Ids of messages lost during the outage (at most [`MAX_LOST_IDS`]).
    pub lost_ids: Vec<String>,
    /// Users per node at the end of the step (where each is logged in or last tried).
    pub nodes_after: Vec<usize>,
    /// The recovery bound: detection bound + resumption budget + upper + slack.
    pub bound_ms: u64,
    /// How the bound is made up, spelled out.
    pub bound_formula: String,
    /// Pass or fail.
    pub verdict: RecoveryVerdict,
    /// Why, in one line.
    pub reason: String,
    /// What watchers on another deployment saw (intercluster; `None`: no such watchers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<super::remote_watch::RemoteWatch>,
}

/// What the step knows beyond the users' own records.
#[derive(Debug, Clone)]
pub struct StepFacts {
    /// The step label.
    pub step: String,
    /// The fault and when it struck.
    pub fault: Option<(String, Instant)>,
    /// `ping_interval + ping_timeout`.
    pub detection_bound: Duration,
    /// Time allowed for resumption attempts before re-login.
    pub resume_budget: Duration,
    /// Re-login wait bounds.
    pub lower: Duration,
    /// Upper wait bound.
    pub upper: Duration,
    /// Where they came from.
    pub backoff: String,
    /// Tolerance.
    pub slack: Duration,
    /// Number of nodes.
    pub nodes: usize,
}

/// Folds the users' records into the step's report. `messages` are the step's messages
/// as (sent at, accounted row, token).
pub fn summarize(
    f: &StepFacts,
    users: &[UserRecovery],
    messages: &[(Instant, AccountRow, String)],
) -> RecoveryReport {
    let (lost, back, origin, all_back) = outcomes(f, users);
    let since = |t: Instant| origin.map_or(Duration::ZERO, |o| t.saturating_duration_since(o));
    let detection = MsStats::of(lost.iter().filter_map(|u| u.lost_at).map(since).collect());
    let window_end = all_back.unwrap_or_else(|| {
        messages
            .iter()
            .map(|m| m.0)
            .max()
            .unwrap_or_else(crate::clock::now)
    });
    let (during, total, lost_ids) = tally(messages, origin, window_end);
    let (bound, bound_formula) = bound(f);
    let relogged = back.iter().filter(|u| !u.resumed).count();
    let mut r = RecoveryReport {
        step: f.step.clone(),
        fault: f.fault.as_ref().map(|(l, _)| l.clone()),
        users: users.len(),
        disconnected: lost.len(),
        recovered: back.len(),
        resumed: back.len() - relogged,
        resume_attempts: sum(users, |u| u64::from(u.resume_attempts)),
        resume_successes: sum(users, |u| u64::from(u.resume_successes)),
        relogin_attempts: sum(users, |u| u64::from(u.relogin_attempts)),
        relogins: sum(users, |u| u.relogins.len() as u64),
        detection,
        detection_bound_ms: ms(f.detection_bound),
        detected_within_bound: f.fault.is_none() || detection.max_ms <= ms(f.detection_bound),
        outage: MsStats::of(back.iter().filter_map(|u| outage(u)).collect()),
        time_to_all_back_ms: all_back.map(|t| ms(since(t))),
        lower_ms: ms(f.lower),
        upper_ms: ms(f.upper),
        backoff: f.backoff.clone(),
        expected_rate_per_s: expected_rate(relogged, f.lower, f.upper),
        observed_rate_per_s: observed_rate(users),
        presence_converged: back.iter().filter(|u| u.presence_seen_at.is_some()).count(),
        presence: MsStats::of(
            back.iter()
                .filter_map(|u| u.presence_seen_at)
                .map(since)
                .collect(),
        ),
        messages_during_outage: during,
        messages_total: total,
        lost_ids,
        nodes_after: nodes_after(users, f.nodes),
        bound_ms: ms(bound),
        bound_formula,
        verdict: RecoveryVerdict::Pass,
        reason: String::new(),
        remote: None,
    };
    judge(&mut r);
    r
}

/// Users that lost their connection, those of them back, the origin of the times (the
/// fault, else the first loss) and when the last one came back (`None`: not all did).
pub(super) fn outcomes<'a>(
    f: &StepFacts,
    users: &'a [UserRecovery],
) -> (
    Vec<&'a UserRecovery>,
    Vec<&'a UserRecovery>,
    Option<Instant>,
    Option<Instant>,
) {
    let lost: Vec<&UserRecovery> = users.iter().filter(|u| u.lost_at.is_some()).collect();
    let origin = f
        .fault
        .as_ref()
        .map(|(_, at)| *at)
        .or_else(|| lost.iter().filter_map(|u| u.lost_at).min());
    let back: Vec<&UserRecovery> = lost
        .iter()
        .copied()
        .filter(|u| u.back_at.is_some())
        .collect();
    let all_back = (back.len() == lost.len())
        .then(|| back.iter().filter_map(|u| u.back_at).max())
        .flatten();
    (lost, back, origin, all_back)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn sum(users: &[UserRecovery], f: impl Fn(&UserRecovery) -> u64) -> u64 {
    users.iter().map(f).sum()
}

fn outage(u: &UserRecovery) -> Option<Duration> {
    Some(u.back_at?.saturating_duration_since(u.lost_at?))
}

/// The recovery bound and how it is made up.
fn bound(f: &StepFacts) -> (Duration, String) {
    let bound = f.detection_bound + f.resume_budget + f.upper + f.slack;
    let from = if f.fault.is_some() {
        "fault"
    } else {
        "first loss"
    };
    let text = format!(
        "detection {} + resumption {} + upper {} + slack {} = {} ms from the {from}",
        ms(f.detection_bound),
        ms(f.resume_budget),
        ms(f.upper),
        ms(f.slack),
        ms(bound),
    );
    (bound, text)
}

fn judge(r: &mut RecoveryReport) {
    let (verdict, reason) = if r.disconnected == 0 {
        (
            RecoveryVerdict::Pass,
            "no user lost its connection".to_string(),
        )
    } else if r.recovered < r.disconnected {
        (
            RecoveryVerdict::Fail,
            format!(
                "{} of {} users that lost their connection never came back",
                r.disconnected - r.recovered,
                r.disconnected
            ),
        )
    } else {
        match r.time_to_all_back_ms {
            Some(t) if t <= r.bound_ms => (
                RecoveryVerdict::Pass,
                format!(
                    "all {} users back after {t} ms (bound {} ms)",
                    r.recovered, r.bound_ms
                ),
            ),
            t => (
                RecoveryVerdict::Fail,
                format!(
                    "the last user came back after {} ms, beyond the bound of {} ms",
                    t.unwrap_or(0),
                    r.bound_ms
                ),
            ),
        }
    };
    r.verdict = verdict;
    r.reason = reason;
}

/// Accounting of the messages sent in [origin, end] and of all of them, with lost ids.
pub(super) fn tally(
    messages: &[(Instant, AccountRow, String)],
    origin: Option<Instant>,
    end: Instant,
) -> (AccountRow, AccountRow, Vec<String>) {
    let (mut during, mut total, mut ids) =
        (AccountRow::default(), AccountRow::default(), Vec::new());
    for (at, row, token) in messages {
        total.add(row);
        if origin.is_some_and(|o| *at >= o && *at <= end) {
            during.add(row);
            if row.lost > 0 && ids.len() < MAX_LOST_IDS {
                ids.push(token.clone());
            }
        }
    }
    (during, total, ids)
}

fn expected_rate(n: usize, lower: Duration, upper: Duration) -> Option<f64> {
    let spread = upper.saturating_sub(lower).as_secs_f64();
    (n > 0 && spread > 0.0).then(|| n as f64 / spread)
}

fn observed_rate(users: &[UserRecovery]) -> Option<f64> {
    let all: Vec<Instant> = users
        .iter()
        .flat_map(|u| u.relogins.iter().copied())
        .collect();
    let (first, last) = (all.iter().min()?, all.iter().max()?);
    let span = last.saturating_duration_since(*first).as_secs_f64();
    (all.len() > 1 && span > 0.0).then(|| (all.len() - 1) as f64 / span)
}

fn nodes_after(users: &[UserRecovery], nodes: usize) -> Vec<usize> {
    let mut v = vec![0; nodes.max(1)];
    for u in users {
        if let Some(c) = v.get_mut(u.node_after) {
            *c += 1;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(now: Instant) -> StepFacts {
        StepFacts {
            step: "2 chat-through".into(),
            fault: Some(("kill node0".into(), now)),
            detection_bound: Duration::from_secs(3),
            resume_budget: Duration::ZERO,
            lower: Duration::from_secs(1),
            upper: Duration::from_secs(3),
            backoff: "suite".into(),
            slack: Duration::from_secs(2),
            nodes: 2,
        }
    }

    fn user(now: Instant, lost: u64, back: Option<u64>) -> UserRecovery {
        let at = |ms| now + Duration::from_millis(ms);
        UserRecovery {
            label: "u".into(),
            lost_at: Some(at(lost)),
            back_at: back.map(at),
            node_after: 1,
            relogins: back.map(at).into_iter().collect(),
            ..UserRecovery::default()
        }
    }

    #[test]
    fn all_back_within_the_bound_passes() {
        let now = Instant::now();
        let users = [user(now, 10, Some(2000)), user(now, 20, Some(3500))];
        let r = summarize(&facts(now), &users, &[]);
        assert_eq!(r.verdict, RecoveryVerdict::Pass, "{}", r.reason);
        assert_eq!(r.time_to_all_back_ms, Some(3500));
        assert_eq!(r.bound_ms, 8000);
        assert_eq!(r.nodes_after, vec![0, 2]);
        assert!(r.detected_within_bound);
    }

    #[test]
    fn a_user_never_back_fails() {
        let now = Instant::now();
        let users = [user(now, 10, Some(2000)), user(now, 20, None)];
        let r = summarize(&facts(now), &users, &[]);
        assert_eq!(r.verdict, RecoveryVerdict::Fail);
        assert_eq!(r.time_to_all_back_ms, None);
    }

    #[test]
    fn late_recovery_fails_and_messages_in_the_window_are_counted() {
        let now = Instant::now();
        let users = [user(now, 10, Some(9000))];
        let lost = AccountRow {
            sent: 1,
            lost: 1,
            ..AccountRow::default()
        };
        let ok = AccountRow {
            sent: 1,
            delivered: 1,
            ..AccountRow::default()
        };
        let msgs = [
            (now - Duration::from_secs(1), ok, "a".to_string()),
            (now + Duration::from_secs(1), lost, "b".to_string()),
        ];
        let r = summarize(&facts(now), &users, &msgs);
        assert_eq!(r.verdict, RecoveryVerdict::Fail);
        assert_eq!(r.messages_total.sent, 2);
        assert_eq!(r.messages_during_outage.lost, 1);
        assert_eq!(r.lost_ids, vec!["b".to_string()]);
    }
}
