//! Pure oracles for a user on several resources: RFC 6121 delivery of messages to the bare
//! JID (which resources got a copy, none with a negative priority, the observed forking
//! policy, lock-in after a reply) and XEP-0280 Message Carbons (feature, enable/disable,
//! `<received/>`/`<sent/>` copies, their wrapper, and no copies where none may go).
//! Sessions are named by their labels (`user3/desktop`).

use super::oracle::{Judgement, Violation, describe};
use crate::proto::xmpp::carbons::{self, Direction};
use crate::proto::xmpp::{Element, Jid, ns};

/// Longest excerpt of a copy's wire bytes quoted in a violation.
const RAW_EXCERPT: usize = 600;

fn violation(expected: impl Into<String>, actual: impl Into<String>) -> Violation {
    Violation {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// One carbon copy a session received, as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySeen {
    /// Label of the session it arrived at.
    pub session: String,
    /// `<received/>` or `<sent/>`.
    pub direction: Direction,
    /// The wrapper's 'from'.
    pub from: Option<String>,
    /// The wrapper's 'to'.
    pub to: Option<String>,
    /// The frame as received (bounded), for evidence.
    pub raw: String,
}

impl CopySeen {
    /// The id of the forwarded original and the copy, if `outer` is a carbon copy that
    /// arrived at `session`.
    pub fn from_wire(session: &str, outer: &Element, raw: &[u8]) -> Option<(String, Self)> {
        let c = carbons::parse(outer)?;
        let id = c.inner.attr("id").unwrap_or("").to_string();
        let text = String::from_utf8_lossy(raw);
        let raw = match text.char_indices().nth(RAW_EXCERPT) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.into_owned(),
        };
        let copy = Self {
            session: session.to_string(),
            direction: c.direction,
            from: outer.attr("from").map(str::to_string),
            to: outer.attr("to").map(str::to_string),
            raw,
        };
        Some((id, copy))
    }

    fn describe(&self) -> String {
        format!(
            "<{}/> copy at {}: {}",
            self.direction.as_str(),
            self.session,
            self.raw
        )
    }
}

/// XEP-0280 §3: the server's disco#info lists the `urn:xmpp:carbons:2` feature.
pub fn carbons_advertised(resp: Option<&Element>) -> Judgement {
    let expected = format!("disco#info result with <feature var='{}'/>", ns::CARBONS);
    let Some(resp) = resp else {
        return Err(violation(
            expected,
            "no disco#info result before the timeout",
        ));
    };
    let q = resp
        .child("query", ns::DISCO_INFO)
        .filter(|_| resp.attr("type") == Some("result"));
    let Some(q) = q else {
        return Err(violation(expected, describe(resp)));
    };
    let has = q
        .children()
        .any(|f| f.name == "feature" && f.attr("var") == Some(ns::CARBONS));
    if has {
        Ok(())
    } else {
        Err(violation(
            expected,
            "the feature list has no urn:xmpp:carbons:2",
        ))
    }
}

/// XEP-0280 §4/§5: an `<enable/>` or `<disable/>` (`request`) is answered by an IQ result.
pub fn carbons_toggled(resp: Option<&Element>, request: &str) -> Judgement {
    let expected = format!(
        "<iq type='result'/> to <{request} xmlns='{}'/>",
        ns::CARBONS
    );
    match resp {
        Some(r) if r.attr("type") == Some("result") => Ok(()),
        Some(r) => Err(violation(expected, describe(r))),
        None => Err(violation(expected, "no answer before the timeout")),
    }
}

/// XEP-0280 §7/§8: a `direction` copy of the message reached `session`.
pub fn copy_delivered(seen: &[CopySeen], session: &str, direction: Direction) -> Judgement {
    let expected = format!("a <{}/> copy at {session}", direction.as_str());
    let mine: Vec<&CopySeen> = seen.iter().filter(|c| c.session == session).collect();
    if mine.iter().any(|c| c.direction == direction) {
        return Ok(());
    }
    match mine.first() {
        Some(other) => Err(violation(expected, format!("only {}", other.describe()))),
        None => Err(violation(expected, "no copy before the delivery timeout")),
    }
}

/// No copy of the message reached any of `sessions` (`why` says which rule forbids it:
/// `<private/>`, the addressee, a disabled resource, ...).
pub fn no_copies(seen: &[CopySeen], sessions: &[String], why: &str) -> Judgement {
    match seen.iter().find(|c| sessions.contains(&c.session)) {
        None => Ok(()),
        Some(c) => Err(violation(
            format!("no carbon copy at {sessions:?} ({why})"),
            c.describe(),
        )),
    }
}

/// XEP-0280 §7/§8/§11: a copy arriving at a session whose full JID is `full` comes from
/// that user's bare JID; a `<received/>` copy is addressed to `full` (a `<sent/>` one
/// SHOULD be, §8, which this MUST check does not demand). A missing 'to' is the server
/// omitting the connected client's own address, which RFC 6120 permits.
pub fn wrapper_addressed(copy: &CopySeen, full: &Jid) -> Judgement {
    let bare = full.bare().to_string();
    let expected = format!("wrapper from='{bare}' to='{full}'");
    if copy.from.as_deref() != Some(bare.as_str()) {
        let from = copy.from.as_deref().unwrap_or("(none)");
        return Err(violation(
            expected,
            format!("from='{from}' in {}", copy.describe()),
        ));
    }
    let wrong_to = copy
        .to
        .as_deref()
        .is_some_and(|t| t.parse::<Jid>().ok().as_ref() != Some(full));
    if copy.direction == Direction::Received && wrong_to {
        let to = copy.to.as_deref().unwrap_or_default();
        return Err(violation(
            expected,
            format!("to='{to}' in {}", copy.describe()),
        ));
    }
    Ok(())
}

/// RFC 6121 §8.5.2.1.1: a message to the bare JID reached no negative-priority resource.
pub fn no_negative_priority(received_by: &[String], negative: &[String]) -> Judgement {
    match received_by.iter().find(|r| negative.contains(r)) {
        None => Ok(()),
        Some(r) => Err(violation(
            format!("no copy at the negative-priority resources {negative:?}"),
            format!("delivered to {r} (received by {received_by:?})"),
        )),
    }
}

/// RFC 6121 §5.1 as the seed deployment applies it: after the contact replied from
/// `replier`, a message to the contact's bare JID reaches that resource only.
pub fn lock_in(received_by: &[String], replier: &str) -> Judgement {
    if received_by.len() == 1 && received_by[0] == replier {
        return Ok(());
    }
    let actual = if received_by.is_empty() {
        "delivered to no resource".to_string()
    } else {
        format!("delivered to {received_by:?}: the server does not lock in; clients must")
    };
    Err(violation(
        format!("delivered to [{replier}] only (the resource that replied)"),
        actual,
    ))
}

/// Which resources a server chose for one message to a bare JID (RFC 6121 §8.5.2.1.1
/// allows the "most available" resource or resources, or all non-negative ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkPolicy {
    /// Every resource of the highest non-negative priority.
    AllMostAvailable,
    /// One of several resources sharing the highest priority.
    OneMostAvailable,
    /// Every non-negative resource, lower priorities included.
    AllNonNegative,
    /// No resource.
    Undelivered,
    /// Any other set (e.g. one that includes a negative resource).
    Other,
}

impl ForkPolicy {
    /// The counter that records how often a server chose this.
    pub fn counter(self) -> &'static str {
        match self {
            Self::AllMostAvailable => "fork_all_most_available",
            Self::OneMostAvailable => "fork_one_most_available",
            Self::AllNonNegative => "fork_all_non_negative",
            Self::Undelivered => "fork_undelivered",
            Self::Other => "fork_other",
        }
    }
}

/// Classifies who received a message to a bare JID, given the available resources and
/// their priorities.
pub fn fork_policy(received_by: &[String], resources: &[(String, i8)]) -> ForkPolicy {
    let set = |v: Vec<&String>| {
        let mut v: Vec<String> = v.into_iter().cloned().collect();
        v.sort();
        v.dedup();
        v
    };
    let got = set(received_by.iter().collect());
    let non_negative: Vec<&(String, i8)> = resources.iter().filter(|(_, p)| *p >= 0).collect();
    let Some(top) = non_negative.iter().map(|(_, p)| *p).max() else {
        return if got.is_empty() {
            ForkPolicy::Undelivered
        } else {
            ForkPolicy::Other
        };
    };
    let most = set(non_negative
        .iter()
        .filter(|(_, p)| *p == top)
        .map(|(l, _)| l)
        .collect());
    let all = set(non_negative.iter().map(|(l, _)| l).collect());
    if got.is_empty() {
        ForkPolicy::Undelivered
    } else if got == most {
        ForkPolicy::AllMostAvailable
    } else if got == all {
        ForkPolicy::AllNonNegative
    } else if got.len() == 1 && most.contains(&got[0]) {
        ForkPolicy::OneMostAvailable
    } else {
        ForkPolicy::Other
    }
}

#[cfg(test)]
#[path = "oracle_carbons_tests.rs"]
mod tests;
