//! What the tracker still needs to know about messages it has already judged: which
//! session received which token, so that a copy arriving after its message was judged is
//! still accounted as a duplicate. A judged message leaves the tracker's pending map (a
//! record of ~1 KiB with its receivers, times and waker) and only its token number stays
//! here, in a sorted set per receiving session: 8 bytes per delivered copy, where keeping
//! the record until the end of the run cost ~0.8 KiB per message.
//!
//! Token numbers come from one fleet-wide counter, so the numbers one session receives
//! are increasing but far apart (every other sender draws from the same counter): a sorted
//! vector beats a bitmap (a bit per number in between) and a range set (two numbers per
//! isolated token) for that shape.

use std::collections::HashMap;

/// A set of token numbers, kept sorted; appending in increasing order (the usual arrival
/// order) is amortised O(1), an out-of-order insert shifts the tail.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SeqSet {
    seqs: Vec<u64>,
}

impl SeqSet {
    /// Adds `n`; false when it was already there.
    pub(crate) fn insert(&mut self, n: u64) -> bool {
        if self.seqs.last().is_none_or(|&top| n > top) {
            self.seqs.push(n);
            return true;
        }
        match self.seqs.binary_search(&n) {
            Ok(_) => false,
            Err(i) => {
                self.seqs.insert(i, n);
                true
            }
        }
    }

    /// Whether `n` is in the set.
    pub(crate) fn contains(&self, n: u64) -> bool {
        self.seqs.binary_search(&n).is_ok()
    }

    /// How many numbers the set holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }
}

/// Whom a late duplicate is accounted to: the receiving session (a message that had to
/// reach that session), or its account (a message addressed to the bare JID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountedTo {
    /// The session label.
    Session,
    /// The bare account, the label up to its `/`.
    Account,
}

/// Per receiving session, the judged tokens it received, by how they are accounted.
#[derive(Debug, Default)]
pub(crate) struct DeliveredLedger {
    by_session: HashMap<String, [SeqSet; 2]>,
}

fn slot(to: AccountedTo) -> usize {
    match to {
        AccountedTo::Session => 0,
        AccountedTo::Account => 1,
    }
}

impl DeliveredLedger {
    /// Remembers that session `label` received judged token number `n`.
    pub(crate) fn record(&mut self, label: &str, n: u64, to: AccountedTo) {
        if let Some(sets) = self.by_session.get_mut(label) {
            sets[slot(to)].insert(n);
        } else {
            let mut sets = <[SeqSet; 2]>::default();
            sets[slot(to)].insert(n);
            self.by_session.insert(label.to_string(), sets);
        }
    }

    /// The recipient a copy of judged token `n` at session `label` is a duplicate for, or
    /// None when that session never received it before it was judged.
    pub(crate) fn duplicate_for(&self, label: &str, n: u64) -> Option<String> {
        let sets = self.by_session.get(label)?;
        if sets[0].contains(n) {
            Some(label.to_string())
        } else if sets[1].contains(n) {
            Some(label.split('/').next().unwrap_or(label).to_string())
        } else {
            None
        }
    }

    /// Token numbers held, over every session.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_session
            .values()
            .map(|s| s[0].len() + s[1].len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_numbers_append() {
        let mut s = SeqSet::default();
        for n in [3, 7, 9, 5000, 10_001] {
            assert!(s.insert(n));
        }
        assert_eq!(s.len(), 5);
        assert!(s.contains(9) && s.contains(10_001));
        assert!(!s.contains(8) && !s.contains(0) && !s.contains(20_000));
    }

    #[test]
    fn out_of_order_numbers_stay_sorted() {
        let mut s = SeqSet::default();
        for n in [50, 10, 30, 20, 40, 1] {
            assert!(s.insert(n));
        }
        assert_eq!(s.seqs, vec![1, 10, 20, 30, 40, 50]);
        assert!(s.contains(1) && s.contains(30) && !s.contains(25));
    }

    #[test]
    fn a_number_is_held_once() {
        let mut s = SeqSet::default();
        assert!(s.insert(5));
        assert!(s.insert(9));
        assert!(!s.insert(5), "out of order duplicate");
        assert!(!s.insert(9), "in order duplicate");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn late_duplicates_are_accounted_to_session_or_account() {
        let mut l = DeliveredLedger::default();
        l.record("alice/a", 11, AccountedTo::Session);
        l.record("alice/a", 12, AccountedTo::Account);
        l.record("bob/b", 12, AccountedTo::Account);
        assert_eq!(l.duplicate_for("alice/a", 11).as_deref(), Some("alice/a"));
        assert_eq!(l.duplicate_for("alice/a", 12).as_deref(), Some("alice"));
        assert_eq!(l.duplicate_for("bob/b", 12).as_deref(), Some("bob"));
        // Never received before it was judged (it was lost there): not a duplicate.
        assert_eq!(l.duplicate_for("bob/b", 11), None);
        assert_eq!(l.duplicate_for("carol/c", 11), None);
        assert_eq!(l.len(), 3);
    }
}
