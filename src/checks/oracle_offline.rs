//! Pure oracles for offline messages (XEP-0160), their delay stamps (XEP-0203, with the
//! XEP-0082 dateTime they use), in-order delivery (RFC 6120 §10.1) and the contact-list
//! maximum (RFC 6121 §2.3.2). Times are parameters (Unix milliseconds), never read here.

use super::oracle::{Judgement, Violation, describe};
use crate::proto::xmpp::stanza::StanzaError;
use crate::proto::xmpp::{Element, Jid, ns};

/// Clock skew allowed between impress and the server when a delay stamp is compared with
/// the send and delivery times impress observed (they are on different clocks).
pub const STAMP_SKEW_MS: i64 = 30_000;

/// One message a sender sent to a recipient that was offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentOffline {
    /// Position in the sender's sequence (0 first).
    pub seq: u32,
    /// The stanza id.
    pub id: String,
    /// When it was written, Unix milliseconds (impress's clock).
    pub sent_unix_ms: i64,
}

/// An error the server returned to the sender for one of its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The id of the bounced message.
    pub id: String,
    /// The defined condition, e.g. `service-unavailable` (empty if none was given).
    pub condition: String,
}

fn violation(expected: impl Into<String>, actual: impl Into<String>) -> Violation {
    Violation {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// The bounce a `<message type='error'/>` carries back to its sender, if it is one.
pub fn bounce(el: &Element) -> Option<Bounce> {
    if el.name != "message" {
        return None;
    }
    let e = StanzaError::from_stanza(el)?;
    Some(Bounce {
        id: el.attr("id").unwrap_or_default().to_string(),
        condition: e.condition,
    })
}

/// `<condition/>`, or `an error without a condition`.
fn condition(c: &str) -> String {
    if c.is_empty() {
        "an error without a defined condition".into()
    } else {
        format!("<{c}/>")
    }
}

/// What became of the sent messages that were not delivered: `2 bounced with
/// <resource-constraint/>, 1 dropped without an error`.
fn fates(missing: &[&SentOffline], bounces: &[Bounce]) -> String {
    let mut by_condition: std::collections::BTreeMap<String, usize> = Default::default();
    let mut dropped = 0;
    for m in missing {
        match bounces.iter().find(|b| b.id == m.id) {
            Some(b) => *by_condition.entry(condition(&b.condition)).or_default() += 1,
            None => dropped += 1,
        }
    }
    let mut parts: Vec<String> = by_condition
        .iter()
        .map(|(c, n)| format!("{n} bounced with {c}"))
        .collect();
    if dropped > 0 {
        parts.push(format!("{dropped} dropped without an error"));
    }
    parts.join(", ")
}

fn missing<'a>(sent: &'a [SentOffline], delivered: &[String]) -> Vec<&'a SentOffline> {
    sent.iter().filter(|s| !delivered.contains(&s.id)).collect()
}

/// XEP-0160 §2: every message in `expected` (those the store had room for) was delivered
/// at the next login (`delivered`: ids received, in arrival order).
pub fn offline_stored(
    expected: &[SentOffline],
    delivered: &[String],
    bounces: &[Bounce],
) -> Judgement {
    let lost = missing(expected, delivered);
    if lost.is_empty() {
        return Ok(());
    }
    Err(violation(
        format!(
            "the {} messages sent while the recipient was offline delivered at its next login",
            expected.len()
        ),
        format!(
            "{} of {} not delivered: {}",
            lost.len(),
            expected.len(),
            fates(&lost, bounces)
        ),
    ))
}

/// The `<delay xmlns='urn:xmpp:delay'/>` children of a stanza.
fn delays(el: &Element) -> Vec<&Element> {
    el.children().filter(|c| c.is("delay", ns::DELAY)).collect()
}

/// XEP-0160 §2: a delivered offline message carries a XEP-0203 `<delay/>`.
pub fn delay_added(el: &Element) -> Judgement {
    if delays(el).is_empty() {
        return Err(violation(
            "a <delay xmlns='urn:xmpp:delay'/> on the offline message",
            format!("{} without <delay/>", describe(el)),
        ));
    }
    Ok(())
}

/// XEP-0203 §2: one `<delay/>` whose `stamp` is an XEP-0082 UTC dateTime no earlier than the
/// send and no later than the delivery (within [`STAMP_SKEW_MS`]). `Ok` when there is no
/// `<delay/>` at all: that is [`delay_added`]'s concern.
pub fn delay_stamp(el: &Element, sent_unix_ms: i64, delivered_unix_ms: i64) -> Judgement {
    let found = delays(el);
    let Some(d) = found.first() else {
        return Ok(());
    };
    let expected = "one <delay/> with stamp = the send time, an XEP-0082 dateTime in UTC";
    if found.len() > 1 {
        return Err(violation(
            expected,
            format!("{} <delay/> children", found.len()),
        ));
    }
    let Some(stamp) = d.attr("stamp") else {
        return Err(violation(expected, "<delay/> without a 'stamp'"));
    };
    let (at, utc) = parse_datetime(stamp)
        .map_err(|why| violation(expected, format!("stamp='{stamp}': {why}")))?;
    if !utc {
        return Err(violation(
            expected,
            format!("stamp='{stamp}' is not in UTC"),
        ));
    }
    // A stamp has whole seconds at least: the send time may be up to 1 s past it.
    let earliest = sent_unix_ms - 1000 - STAMP_SKEW_MS;
    let latest = delivered_unix_ms + STAMP_SKEW_MS;
    if at < earliest || at > latest {
        return Err(violation(
            expected,
            format!(
                "stamp='{stamp}' is {} s from the send time {}",
                (at - sent_unix_ms) / 1000,
                format_unix_ms(sent_unix_ms)
            ),
        ));
    }
    Ok(())
}

/// XEP-0203 §2: the `<delay/>` names who delayed the stanza: the server (`domain`) or the
/// original `sender`. `Ok` when there is no `<delay/>`.
pub fn delay_from(el: &Element, domain: &str, sender: &Jid) -> Judgement {
    let Some(d) = delays(el).into_iter().next() else {
        return Ok(());
    };
    let expected = format!("<delay from='{domain}'/> or from the sender {sender}");
    let Some(from) = d.attr("from") else {
        return Err(violation(expected, "<delay/> without 'from'"));
    };
    let ok = match from.parse::<Jid>() {
        Ok(j) => j.to_string() == domain || j.bare() == sender.bare(),
        Err(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(violation(expected, format!("<delay from='{from}'/>")))
    }
}

/// RFC 6120 §10.1: the sequence numbers of one sender's messages, in arrival order,
/// increase.
pub fn in_order(seqs: &[u32]) -> Judgement {
    if seqs.windows(2).all(|w| w[0] < w[1]) {
        return Ok(());
    }
    Err(violation(
        "the messages delivered in the order they were sent",
        format!("sent positions in arrival order: {seqs:?}"),
    ))
}

/// XEP-0160 §2 with the deployment's store `limit`: at most `limit` of `sent` stored and
/// delivered, every other one bounced with `<service-unavailable/>`. `Ok` carries what the
/// server did, for the report.
pub fn queue_full(
    limit: u32,
    sent: &[SentOffline],
    delivered: &[String],
    bounces: &[Bounce],
) -> Result<String, Violation> {
    let n = sent.len();
    let lost = missing(sent, delivered);
    let stored = n - lost.len();
    let what = format!("{stored} of {n} stored");
    let expected = format!(
        "at most {limit} of {n} stored (the store limit), each other one bounced with <service-unavailable/>"
    );
    if stored > limit as usize {
        return Err(violation(
            expected,
            format!("{what}: the store kept more than the limit"),
        ));
    }
    let overflow = fates(&lost, bounces);
    let all_unavailable = lost.iter().all(|m| {
        bounces
            .iter()
            .any(|b| b.id == m.id && b.condition == "service-unavailable")
    });
    if !all_unavailable {
        return Err(violation(expected, format!("{what}; overflow: {overflow}")));
    }
    Ok(format!("limit {limit}: {what}; overflow: {overflow}"))
}

/// What a contact-list fill observed (RFC 6121 §2.3.2 with the deployment's maximum).
#[derive(Debug, Clone, Copy)]
pub struct RosterFill<'a> {
    /// The deployment's contact-list maximum (the suite's `max`).
    pub max: usize,
    /// An add refused before the maximum: the roster size it would have reached and the
    /// answer.
    pub refused_early: Option<(usize, &'a Element)>,
    /// The answer to the add beyond the maximum (`None`: no answer before the timeout).
    pub beyond: Option<&'a Element>,
    /// Items in the roster after that add, if the roster could be read.
    pub final_items: Option<usize>,
}

/// RFC 6121 §2.3.2: adds up to the maximum succeed, the one beyond it gets an IQ error and
/// creates nothing. `Ok` says how it was refused, for the report.
pub fn roster_max(f: &RosterFill<'_>) -> Result<String, Violation> {
    let max = f.max;
    let expected = format!(
        "adds up to {max} contacts accepted, the add of contact {} refused with an IQ error",
        max + 1
    );
    if let Some((n, answer)) = f.refused_early {
        return Err(violation(
            expected,
            format!(
                "the add of contact {n} was refused with {}: the maximum is lower",
                describe(answer)
            ),
        ));
    }
    let Some(answer) = f.beyond else {
        return Err(violation(
            expected,
            "no answer to the add beyond the maximum",
        ));
    };
    let Some(err) = StanzaError::from_stanza(answer) else {
        return Err(violation(
            expected,
            format!("contact {} accepted ({})", max + 1, describe(answer)),
        ));
    };
    let how = format!(
        "the add of contact {} was refused with {} (type '{}')",
        max + 1,
        condition(&err.condition),
        err.error_type
    );
    match f.final_items {
        Some(items) if items > max => Err(violation(
            expected,
            format!("{how}, yet the roster holds {items} items"),
        )),
        _ => Ok(how),
    }
}

/// Parses an XEP-0082 dateTime (`CCYY-MM-DDThh:mm:ss[.sss]TZD`, TZD `Z` or `±hh:mm`):
/// Unix milliseconds and whether it is expressed in UTC.
pub fn parse_datetime(s: &str) -> Result<(i64, bool), String> {
    let bad = || format!("not an XEP-0082 dateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD): '{s}'");
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    if !shape || !s.is_ascii() {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let t = &s[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let (millis, tzd) = fraction(&s[19..]).ok_or_else(bad)?;
    let offset_min = zone(tzd).ok_or_else(bad)?;
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && h < 24
        && mi < 60
        && sec < 60;
    if !valid {
        return Err(format!("'{s}' names no valid date and time"));
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Ok((secs * 1000 + millis, offset_min == 0))
}

/// Splits `[.sss]TZD` into milliseconds and the zone designator.
fn fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(frac) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let ms: String = frac[..digits.min(3)]
        .chars()
        .chain("000".chars())
        .take(3)
        .collect();
    Some((ms.parse().ok()?, &frac[digits..]))
}

/// Minutes east of UTC of `Z`, `+hh:mm` or `-hh:mm`.
fn zone(tzd: &str) -> Option<i64> {
    if tzd == "Z" {
        return Some(0);
    }
    let b = tzd.as_bytes();
    if b.len() != 6 || b[3] != b':' || !(b[0] == b'+' || b[0] == b'-') {
        return None;
    }
    let h: i64 = tzd[1..3].parse().ok()?;
    let m: i64 = tzd[4..6].parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    let minutes = h * 60 + m;
    Some(if b[0] == b'-' { -minutes } else { minutes })
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-05-01T12:00:00Z` for messages (seconds precision).
pub fn format_unix_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
#[path = "oracle_offline_tests.rs"]
mod tests;
