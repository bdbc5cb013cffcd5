//! Pure oracles for XEP-0045 Multi-User Chat: given what the room sent, does a clause hold?
//! The MUC steps call them with the stanzas a session received (or `None` when nothing
//! came before the delivery timeout); unit tests call them on hand-written stanzas.

use super::oracle::{Judgement, Violation, describe};
use crate::proto::xmpp::stanza::StanzaError;
use crate::proto::xmpp::{Element, Jid, ns};
use std::time::Instant;

const NOTHING: &str = "nothing before the delivery timeout";

fn violation(expected: impl Into<String>, actual: impl Into<String>) -> Violation {
    Violation {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// The `<x xmlns='http://jabber.org/protocol/muc#user'/>` of a stanza.
pub fn muc_user(el: &Element) -> Option<&Element> {
    el.child("x", ns::MUC_USER)
}

/// The status codes of a stanza's `muc#user` extension.
pub fn status_codes(el: &Element) -> Vec<u16> {
    muc_user(el)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", ns::MUC_USER))
                .filter_map(|c| c.attr("code")?.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `(affiliation, role)` of the `<item/>` in a stanza's `muc#user` extension.
pub fn item(el: &Element) -> Option<(&str, &str)> {
    let i = muc_user(el)?.child("item", ns::MUC_USER)?;
    Some((i.attr("affiliation")?, i.attr("role")?))
}

/// Whether a stanza is of `type='error'` with this defined condition.
pub fn has_error(el: &Element, condition: &str) -> bool {
    StanzaError::from_stanza(el).is_some_and(|e| e.condition == condition)
}

/// Whether a message is a subject change or the room subject: `<subject/>`, no `<body/>`
/// (§7.2.15, §8.1).
pub fn is_subject(el: &Element) -> bool {
    el.name == "message"
        && el.attr("type") == Some("groupchat")
        && el.child("subject", &el.ns).is_some()
        && el.child("body", &el.ns).is_none()
}

/// Whether a message carries a XEP-0203 `<delay/>`.
pub fn is_delayed(el: &Element) -> bool {
    el.child("delay", ns::DELAY).is_some()
}

fn codes_text(el: &Element) -> String {
    format!("{} with status codes {:?}", describe(el), status_codes(el))
}

/// §7.2.2: the self-presence of a join is available presence with status code 110.
pub fn self_presence(el: Option<&Element>) -> Judgement {
    let expected = "self-presence with <status code='110'/>";
    let Some(el) = el else {
        return Err(violation(expected, NOTHING));
    };
    if el.attr("type").is_some() || !status_codes(el).contains(&110) {
        return Err(violation(expected, codes_text(el)));
    }
    Ok(())
}

/// §10.1.1: the creator's first self-presence says owner and status code 201.
pub fn room_created(el: Option<&Element>) -> Judgement {
    let expected = "self-presence with <item affiliation='owner'/> and <status code='201'/>";
    let Some(el) = el else {
        return Err(violation(expected, NOTHING));
    };
    let owner = item(el).is_some_and(|(a, _)| a == "owner");
    if el.attr("type").is_some() || !owner || !status_codes(el).contains(&201) {
        let aff = item(el).map_or("no <item/>", |(a, _)| a);
        return Err(violation(
            expected,
            format!("{} (affiliation: {aff})", codes_text(el)),
        ));
    }
    Ok(())
}

/// §5.1.2: the role of a self-presence is the default role for the affiliation.
pub fn default_role(el: &Element, expected_role: &str) -> Judgement {
    match item(el) {
        Some((_, role)) if role == expected_role => Ok(()),
        Some((aff, role)) => Err(violation(
            format!("role='{expected_role}'"),
            format!("role='{role}' (affiliation='{aff}')"),
        )),
        None => Err(violation(
            format!("<item role='{expected_role}'/>"),
            "no muc#user <item/>",
        )),
    }
}

/// §7.2.2: presence from every other occupant arrived; `missing` are the nicks whose
/// presence did not.
pub fn occupants_seen(expected: &[String], missing: &[String]) -> Judgement {
    if missing.is_empty() {
        return Ok(());
    }
    Err(violation(
        format!("presence from every occupant {expected:?}"),
        format!("no presence from {missing:?} before the delivery timeout"),
    ))
}

/// When each event of one join arrived, for §7.1.
#[derive(Debug, Clone, Default)]
pub struct JoinTrace {
    /// Occupants already in the room before the join: nick and when their presence came.
    pub existing: Vec<(String, Option<Instant>)>,
    /// The self-presence.
    pub own: Option<Instant>,
    /// Each discussion history message.
    pub history: Vec<Instant>,
    /// The room subject.
    pub subject: Option<Instant>,
}

/// §7.1: occupants' presence, then self-presence, then history, then the subject. Events
/// that did not arrive are judged by their own checks; equal times are not a violation.
pub fn order_of_events(t: &JoinTrace) -> Judgement {
    let expected = "other occupants' presence, self-presence, history, subject, in that order";
    let Some(own) = t.own else {
        return Ok(());
    };
    if let Some((nick, _)) = t
        .existing
        .iter()
        .find(|(_, at)| at.is_some_and(|at| at > own))
    {
        return Err(violation(
            expected,
            format!("presence of occupant '{nick}' after the self-presence"),
        ));
    }
    if t.history.iter().any(|h| *h < own) {
        return Err(violation(expected, "history before the self-presence"));
    }
    match (t.subject, t.history.iter().max()) {
        (Some(s), _) if s < own => Err(violation(expected, "subject before the self-presence")),
        (Some(s), Some(h)) if s < *h => Err(violation(expected, "history after the subject")),
        _ => Ok(()),
    }
}

/// §7.2.14: `got` history messages for `<history maxstanzas='max'/>` in a room where
/// `posted` messages were posted; exactly `min(max, posted)` are required.
pub fn history_count(max: u32, posted: u32, got: usize) -> Judgement {
    let want = max.min(posted) as usize;
    if got == want {
        return Ok(());
    }
    Err(violation(
        format!("{want} history messages (maxstanzas='{max}', {posted} posted in the room)"),
        format!("{got} history messages before the room subject"),
    ))
}

/// §7.2.13: a history message has `<delay xmlns='urn:xmpp:delay' stamp from=room/>`.
pub fn history_delay(el: &Element, room: &Jid) -> Judgement {
    let expected = format!("<delay xmlns='urn:xmpp:delay' from='{room}' stamp='…'/>");
    let Some(d) = el.child("delay", ns::DELAY) else {
        return Err(violation(expected, "a history message without <delay/>"));
    };
    let from = d.attr("from").unwrap_or("");
    let from_ok = from.parse::<Jid>().is_ok_and(|j| j == *room);
    if d.attr("stamp").is_none_or(|s| s.trim().is_empty()) || !from_ok {
        return Err(violation(expected, d.to_xml()));
    }
    Ok(())
}

/// §7.2.15: the room subject arrived on joining.
pub fn subject_on_join(el: Option<&Element>) -> Judgement {
    match el {
        Some(el) if is_subject(el) => Ok(()),
        Some(el) => Err(violation(
            "<message type='groupchat'> with <subject/> and no <body/>",
            describe(el),
        )),
        None => Err(violation("the room subject after joining", NOTHING)),
    }
}

/// §7.2.6 (registration-required), §7.2.8 (conflict), §7.2.9 (service-unavailable): the
/// join is refused with `condition`.
pub fn join_refused(el: Option<&Element>, condition: &str) -> Judgement {
    let expected = format!("<presence type='error'> with <{condition}/>");
    match el {
        Some(el) if has_error(el, condition) => Ok(()),
        Some(el) if el.attr("type").is_none() => {
            Err(violation(expected, format!("admitted: {}", codes_text(el))))
        }
        Some(el) => Err(violation(expected, describe(el))),
        None => Err(violation(expected, NOTHING)),
    }
}

/// §7.4: one occupant's copies of the messages posted: `missing` ids never came, and
/// `wrong_from` are (id, from) of copies not from the sender's occupant JID.
pub fn fanout(expected: usize, missing: &[String], wrong_from: &[(String, String)]) -> Judgement {
    let want = format!("all {expected} groupchat messages, each from its sender's occupant JID");
    if let Some((id, from)) = wrong_from.first() {
        return Err(violation(want, format!("message {id} from '{from}'")));
    }
    if !missing.is_empty() {
        return Err(violation(
            want,
            format!(
                "{} not delivered before the delivery timeout: {missing:?}",
                missing.len()
            ),
        ));
    }
    Ok(())
}

/// §7.4: what a visitor got back for its groupchat message: a `<forbidden/>` error, never
/// the reflection.
pub fn visitor_refused(el: Option<&Element>) -> Judgement {
    let expected = "<message type='error'> with <forbidden/>, no reflection";
    match el {
        Some(el) if has_error(el, "forbidden") => Ok(()),
        Some(el) if el.attr("type") == Some("groupchat") => Err(violation(
            expected,
            "the visitor's message was reflected to the room",
        )),
        Some(el) => Err(violation(expected, describe(el))),
        None => Err(violation(expected, NOTHING)),
    }
}

/// §8.1: an occupant got the subject change `subject` from the room or its sender.
pub fn subject_change(el: Option<&Element>, subject: &str, room: &Jid, sender: &Jid) -> Judgement {
    let expected = format!("<message type='groupchat'><subject>{subject}</subject>");
    let Some(el) = el else {
        return Err(violation(expected, NOTHING));
    };
    let text = el
        .child("subject", &el.ns)
        .map(Element::text)
        .unwrap_or_default();
    let from = el.attr("from").and_then(|f| f.parse::<Jid>().ok());
    let from_ok = from.is_some_and(|f| f == *room || f == *sender);
    if !is_subject(el) || text.trim() != subject || !from_ok {
        return Err(violation(
            format!("{expected} from '{room}' or '{sender}'"),
            format!("{} from '{}'", describe(el), el.attr("from").unwrap_or("")),
        ));
    }
    Ok(())
}

/// §7.14: the departing occupant gets unavailable self-presence with status 110.
pub fn exit_self(el: Option<&Element>) -> Judgement {
    let expected = "<presence type='unavailable'> with <status code='110'/>";
    match el {
        Some(el) if el.attr("type") == Some("unavailable") && status_codes(el).contains(&110) => {
            Ok(())
        }
        Some(el) => Err(violation(expected, codes_text(el))),
        None => Err(violation(expected, NOTHING)),
    }
}

/// §7.14: a remaining occupant gets the departing occupant's unavailable presence.
pub fn exit_broadcast(el: Option<&Element>) -> Judgement {
    match el {
        Some(el) if el.attr("type") == Some("unavailable") => Ok(()),
        Some(el) => Err(violation(
            "<presence type='unavailable'> from the departed occupant",
            describe(el),
        )),
        None => Err(violation(
            "<presence type='unavailable'> from the departed occupant",
            NOTHING,
        )),
    }
}

/// §10.9: an occupant of a destroyed room gets unavailable presence whose `<destroy/>`
/// carries the owner's `reason`.
pub fn destroyed(el: Option<&Element>, reason: &str) -> Judgement {
    let expected = format!("<presence type='unavailable'> with <destroy><reason>{reason}</reason>");
    let Some(el) = el else {
        return Err(violation(expected, NOTHING));
    };
    let got = muc_user(el)
        .and_then(|x| x.child("destroy", ns::MUC_USER))
        .map(|d| {
            d.child("reason", ns::MUC_USER)
                .map(Element::text)
                .unwrap_or_default()
        });
    match got {
        Some(r) if r.trim() == reason && el.attr("type") == Some("unavailable") => Ok(()),
        Some(r) => Err(violation(
            expected,
            format!("{} with <destroy> reason '{}'", describe(el), r.trim()),
        )),
        None => Err(violation(
            expected,
            format!("{} without <destroy/>", describe(el)),
        )),
    }
}

/// An IQ request to the room answered with `type='result'` (§10.1.3 form submission and
/// §10.9 destruction).
pub fn iq_result(what: &str, resp: Option<&Element>) -> Judgement {
    match resp {
        Some(r) if r.attr("type") == Some("result") => Ok(()),
        Some(r) => Err(violation(format!("IQ result to {what}"), describe(r))),
        None => Err(violation(format!("IQ result to {what}"), NOTHING)),
    }
}

/// A field of a room configuration form: `var`, `type` and the offered option values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The field's `var`.
    pub var: String,
    /// The field's `type` (empty when absent).
    pub kind: String,
    /// The values of its `<option/>`s.
    pub options: Vec<String>,
    /// Its current `<value/>`s.
    pub values: Vec<String>,
}

/// §10.1.3: the owner's form request is answered with an IQ result carrying a
/// `jabber:x:data` form (or an empty query when nothing is configurable); its fields.
pub fn config_form(resp: Option<&Element>) -> Result<Vec<FormField>, Violation> {
    let expected = "IQ result with a jabber:x:data configuration form";
    let Some(r) = resp else {
        return Err(violation(expected, NOTHING));
    };
    if r.attr("type") != Some("result") {
        return Err(violation(expected, describe(r)));
    }
    let query = r.child("query", ns::MUC_OWNER);
    let Some(x) = query.and_then(|q| q.child("x", ns::DATA_FORMS)) else {
        return match query {
            Some(q) if q.children().next().is_none() => Ok(Vec::new()),
            _ => Err(violation(expected, "a result without a form")),
        };
    };
    let fields = x
        .children()
        .filter(|f| f.is("field", ns::DATA_FORMS))
        .filter_map(|f| {
            Some(FormField {
                var: f.attr("var")?.to_string(),
                kind: f.attr("type").unwrap_or("").to_string(),
                options: f
                    .children()
                    .filter(|o| o.is("option", ns::DATA_FORMS))
                    .filter_map(|o| o.child("value", ns::DATA_FORMS).map(Element::text))
                    .collect(),
                values: f
                    .children()
                    .filter(|v| v.is("value", ns::DATA_FORMS))
                    .map(|v| v.text().trim().to_string())
                    .collect(),
            })
        })
        .collect();
    Ok(fields)
}

/// A form value as compared: XEP-0004 booleans `true`/`false` read as `1`/`0`.
fn normal(v: &str) -> &str {
    match v.trim() {
        "true" => "1",
        "false" => "0",
        other => other,
    }
}

/// §10.2: the form asked again after the submission shows every submitted value.
pub fn config_in_effect(submitted: &[(String, String)], form: &[FormField]) -> Judgement {
    for (var, want) in submitted {
        // XEP-0004 §3.3: a boolean field's default value is false.
        let now = form
            .iter()
            .find(|f| f.var == *var)
            .map(|f| match f.values.as_slice() {
                [] if f.kind == "boolean" => "0".to_string(),
                v => v.join(" "),
            });
        match now {
            Some(v) if normal(&v) == normal(want) => {}
            Some(v) => {
                return Err(violation(
                    format!("{var} = '{want}' as submitted"),
                    format!("{var} = '{v}' in the room's configuration form"),
                ));
            }
            None => {
                return Err(violation(
                    format!("{var} = '{want}' as submitted"),
                    format!("no {var} in the room's configuration form"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "oracle_muc_tests.rs"]
mod tests;
