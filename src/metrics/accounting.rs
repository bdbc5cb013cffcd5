//! Message accounting: for every recipient (a session label, or a bare account for
//! messages addressed to a bare JID) how many tracked messages were addressed to it,
//! delivered, duplicated, lost and reordered. The tracker emits one [`Accounted`] per
//! recipient of a judged message; the collector folds them into an [`Accounting`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lost message ids kept in the report; the rest are only counted.
pub const MAX_LOST_IDS: usize = 1000;

/// Counts for one recipient, or for the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    /// Messages addressed to the recipient.
    pub sent: u64,
    /// Messages it received (first copy).
    pub delivered: u64,
    /// Copies beyond the first.
    pub duplicated: u64,
    /// Messages it never received before the delivery timeout.
    pub lost: u64,
    /// Messages that arrived after a later message of the same sender.
    pub reordered: u64,
}

impl AccountRow {
    /// Adds another row to this one.
    pub fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.duplicated += o.duplicated;
        self.lost += o.lost;
        self.reordered += o.reordered;
    }

    /// Whether anything went wrong for this recipient.
    pub fn troubled(&self) -> bool {
        self.duplicated + self.lost + self.reordered > 0
    }
}

/// What the tracker reports for one recipient of one judged message.
#[derive(Debug, Clone)]
pub struct Accounted {
    /// The recipient.
    pub recipient: String,
    /// Its counts for this message (`sent` is 1).
    pub row: AccountRow,
    /// The message id, when the message was lost.
    pub lost_id: Option<String>,
}

impl Accounted {
    /// One message to `recipient`, delivered once or lost.
    pub fn one(recipient: &str, id: &str, delivered: bool) -> Self {
        Self {
            recipient: recipient.to_string(),
            row: AccountRow {
                sent: 1,
                delivered: u64::from(delivered),
                lost: u64::from(!delivered),
                ..AccountRow::default()
            },
            lost_id: (!delivered).then(|| id.to_string()),
        }
    }
}

/// A lost message: its id and whom it was addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostMessage {
    /// The stanza id (the tracker's token).
    pub id: String,
    /// The recipient that never received it.
    pub recipient: String,
}

/// The run's message accounting, as reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    /// Sum over every recipient.
    pub total: AccountRow,
    /// Per recipient.
    pub recipients: BTreeMap<String, AccountRow>,
    /// Lost messages with ids (at most [`MAX_LOST_IDS`]; `total.lost` counts all).
    pub lost: Vec<LostMessage>,
}

impl Accounting {
    /// Folds one tracker report in.
    pub fn record(&mut self, a: Accounted) {
        self.total.add(&a.row);
        self.recipients
            .entry(a.recipient.clone())
            .or_default()
            .add(&a.row);
        if let Some(id) = a.lost_id
            && self.lost.len() < MAX_LOST_IDS
        {
            self.lost.push(LostMessage {
                id,
                recipient: a.recipient,
            });
        }
    }

    /// Adds another run's accounting (e.g. one shard of a split run).
    pub fn merge(&mut self, o: &Self) {
        self.total.add(&o.total);
        for (r, row) in &o.recipients {
            self.recipients.entry(r.clone()).or_default().add(row);
        }
        let room = MAX_LOST_IDS.saturating_sub(self.lost.len());
        self.lost.extend(o.lost.iter().take(room).cloned());
    }

    /// Whether no message was ever accounted.
    pub fn is_empty(&self) -> bool {
        self.total.sent == 0
    }

    /// Recipients with losses, duplicates or reordering, worst first (at most `n`).
    pub fn troubled(&self, n: usize) -> Vec<(&String, &AccountRow)> {
        let mut v: Vec<_> = self
            .recipients
            .iter()
            .filter(|(_, r)| r.troubled())
            .collect();
        v.sort_by_key(|(_, r)| std::cmp::Reverse(r.lost + r.duplicated + r.reordered));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(recipient: &str, delivered: bool, dup: u64, id: &str) -> Accounted {
        Accounted {
            recipient: recipient.into(),
            row: AccountRow {
                sent: 1,
                delivered: u64::from(delivered),
                duplicated: dup,
                lost: u64::from(!delivered),
                reordered: 0,
            },
            lost_id: (!delivered).then(|| id.to_string()),
        }
    }

    #[test]
    fn folds_per_recipient_and_total() {
        let mut a = Accounting::default();
        a.record(one("u1/a", true, 0, "m1"));
        a.record(one("u1/a", false, 0, "m2"));
        a.record(one("u2/a", true, 2, "m3"));
        assert_eq!(a.total.sent, 3);
        assert_eq!(a.total.lost, 1);
        assert_eq!(a.total.duplicated, 2);
        assert_eq!(a.recipients["u1/a"].delivered, 1);
        assert_eq!(
            a.lost,
            vec![LostMessage {
                id: "m2".into(),
                recipient: "u1/a".into()
            }]
        );
        let t = a.troubled(10);
        assert_eq!(t[0].0, "u2/a", "two duplicates outrank one loss");
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = Accounting::default();
        a.record(one("u1/a", false, 0, "m1"));
        let mut b = Accounting::default();
        b.record(one("u1/a", true, 1, "m2"));
        b.record(one("u3/a", false, 0, "m3"));
        a.merge(&b);
        assert_eq!(a.total.sent, 3);
        assert_eq!(a.total.lost, 2);
        assert_eq!(a.recipients["u1/a"].sent, 2);
        assert_eq!(a.lost.len(), 2);
    }

    #[test]
    fn lost_ids_are_bounded() {
        let mut a = Accounting::default();
        for i in 0..MAX_LOST_IDS + 5 {
            a.record(one("u", false, 0, &format!("m{i}")));
        }
        assert_eq!(a.lost.len(), MAX_LOST_IDS);
        assert_eq!(a.total.lost as usize, MAX_LOST_IDS + 5);
    }
}
