//! A failover in one deployment observed from another's watchers (intercluster, HA-12):
//! users of the failed deployment are watched by users of a federated one, over s2s. For
//! each watched user that lost its connection this says whether a remote watcher saw it
//! unavailable (a presence flap: Prosody sends none when a peer dies, so often none is
//! seen), when a remote watcher saw it available again (the remote presence outage, from
//! the fault), and how the messages that crossed deployments during the outage fared.

use super::accounting::AccountRow;
use super::recovery::{MsStats, StepFacts, UserRecovery, outcomes, tally};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// What a recovering user's remote watchers saw.
#[derive(Debug, Clone, Default)]
pub struct RemoteSightings {
    /// The user has watchers on another deployment (a partner in another domain).
    pub watched: bool,
    /// When a remote watcher first saw it unavailable after the fault.
    pub unavailable_at: Option<Instant>,
    /// When a remote watcher saw it available again after it came back.
    pub available_at: Option<Instant>,
}

/// The remote-watcher view of one failover step, as reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteWatch {
    /// Users with remote watchers that lost their connection.
    pub watched_disconnected: usize,
    /// Of those, users a remote watcher saw unavailable.
    pub seen_unavailable: usize,
    /// Of those, users a remote watcher saw available again.
    pub seen_available_again: usize,
    /// Fault → a remote watcher sees the user available again (the remote presence
    /// outage), per watched user.
    pub presence_outage: MsStats,
    /// Unavailable seen → available seen again (presence flap), for users seen unavailable.
    pub flap: MsStats,
    /// Messages across deployments sent from the fault until the last user was back.
    pub messages_during_outage: AccountRow,
    /// Every message across deployments in the step.
    pub messages_total: AccountRow,
    /// Ids of messages across deployments lost during the outage.
    pub lost_ids: Vec<String>,
}

/// The remote view of the step, `None` when no user has a watcher on another deployment.
/// `users` and `seen` are parallel; `remote_messages` are the step's messages across
/// deployments as (sent at, accounted row, token).
pub fn summarize_remote(
    f: &StepFacts,
    users: &[UserRecovery],
    seen: &[RemoteSightings],
    remote_messages: &[(Instant, AccountRow, String)],
) -> Option<RemoteWatch> {
    if !seen.iter().any(|s| s.watched) {
        return None;
    }
    let (_, _, origin, all_back) = outcomes(f, users);
    let since = |t: Instant| origin.map_or(Duration::ZERO, |o| t.saturating_duration_since(o));
    let watched: Vec<&RemoteSightings> = users
        .iter()
        .zip(seen)
        .filter(|(u, s)| s.watched && u.lost_at.is_some())
        .map(|(_, s)| s)
        .collect();
    let flaps = watched
        .iter()
        .filter_map(|s| Some(s.available_at?.saturating_duration_since(s.unavailable_at?)));
    let end = all_back.unwrap_or_else(|| {
        let last = remote_messages.iter().map(|m| m.0).max();
        last.unwrap_or_else(crate::clock::now)
    });
    let (during, total, lost_ids) = tally(remote_messages, origin, end);
    Some(RemoteWatch {
        watched_disconnected: watched.len(),
        seen_unavailable: watched
            .iter()
            .filter(|s| s.unavailable_at.is_some())
            .count(),
        seen_available_again: watched.iter().filter(|s| s.available_at.is_some()).count(),
        presence_outage: MsStats::of(
            watched
                .iter()
                .filter_map(|s| s.available_at)
                .map(since)
                .collect(),
        ),
        flap: MsStats::of(flaps.collect()),
        messages_during_outage: during,
        messages_total: total,
        lost_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(at: Instant) -> StepFacts {
        StepFacts {
            step: "5 chat-through".into(),
            fault: Some(("kill node0".into(), at)),
            detection_bound: Duration::from_secs(3),
            resume_budget: Duration::ZERO,
            lower: Duration::from_secs(1),
            upper: Duration::from_secs(3),
            backoff: "suite".into(),
            slack: Duration::from_secs(2),
            nodes: 3,
        }
    }

    #[test]
    fn remote_outage_runs_from_the_fault_to_the_watchers_sighting() {
        let t0 = Instant::now();
        let ms = |m| t0 + Duration::from_millis(m);
        let user = |lost: Option<u64>| UserRecovery {
            lost_at: lost.map(ms),
            back_at: lost.map(|l| ms(l + 2000)),
            ..UserRecovery::default()
        };
        let users = [user(Some(100)), user(Some(200)), user(None)];
        let seen = [
            RemoteSightings {
                watched: true,
                unavailable_at: Some(ms(500)),
                available_at: Some(ms(2500)),
            },
            RemoteSightings {
                watched: true,
                unavailable_at: None,
                available_at: Some(ms(3000)),
            },
            RemoteSightings::default(),
        ];
        let row = |delivered| AccountRow {
            sent: 1,
            delivered,
            lost: 1 - delivered,
            ..AccountRow::default()
        };
        let msgs = [
            (ms(3000), row(1), "a".to_string()),
            (ms(1000), row(0), "b".to_string()),
            (ms(1500), row(1), "c".to_string()),
        ];
        let w = summarize_remote(&facts(t0), &users, &seen, &msgs).expect("watched");
        assert_eq!((w.watched_disconnected, w.seen_unavailable), (2, 1));
        assert_eq!(w.seen_available_again, 2);
        assert_eq!(
            (w.presence_outage.min_ms, w.presence_outage.max_ms),
            (2500, 3000)
        );
        assert_eq!((w.flap.count, w.flap.max_ms), (1, 2000));
        assert_eq!(
            (w.messages_during_outage.sent, w.messages_during_outage.lost),
            (2, 1)
        );
        assert_eq!(w.messages_total.sent, 3);
        assert_eq!(w.lost_ids, ["b"]);
    }

    #[test]
    fn nothing_without_remote_watchers() {
        let t0 = Instant::now();
        let users = [UserRecovery::default()];
        let seen = [RemoteSightings::default()];
        assert!(summarize_remote(&facts(t0), &users, &seen, &[]).is_none());
    }
}
