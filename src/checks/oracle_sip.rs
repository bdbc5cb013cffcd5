//! Pure SIP oracles: given the request impress sent and what the server answered (parsed
//! [`Message`]s, raw bytes kept for evidence), does a clause of `catalogue::sip` hold?
//! Each returns an [`oracle::Judgement`](super::oracle::Judgement); the caller turns a
//! violation into fail or warn by the check's level.

use super::oracle::{Judgement, Violation};
use crate::proto::sip::digest::Challenge;
use crate::proto::sip::pidf::{self, Pidf};
use crate::proto::sip::{Message, SubState, Via};

fn violation(expected: impl Into<String>, actual: impl Into<String>) -> Violation {
    Violation {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// A one-line description of a message: `SIP/2.0 401 Unauthorized` or `NOTIFY`.
pub fn describe(msg: &Message) -> String {
    match (msg.status(), msg.method()) {
        (Some(code), _) => format!("{code} {}", msg.reason().unwrap_or_default()),
        (None, Some(m)) => m.to_string(),
        (None, None) => "a message".to_owned(),
    }
}

fn answered<'a>(resp: Option<&'a Message>, expected: &str) -> Result<&'a Message, Violation> {
    resp.ok_or_else(|| violation(expected, "no response before the timeout"))
}

/// RFC 3261 §8.2.6.2: a To tag on every response but 100 to a request without one; the
/// To URI (and tag, if the request had one) unchanged.
pub fn to_tag(req: &Message, resp: &Message) -> Judgement {
    let (Ok(sent), Ok(got)) = (req.to(), resp.to()) else {
        return Err(violation("a To header", "none parseable"));
    };
    if sent.uri != got.uri {
        return Err(violation(
            format!("To URI {}", sent.uri),
            format!("To URI {}", got.uri),
        ));
    }
    match (sent.tag(), got.tag(), resp.status()) {
        (Some(s), Some(g), _) if s == g => Ok(()),
        (Some(s), g, _) => Err(violation(format!("To tag {s}"), format!("To tag {g:?}"))),
        (None, _, Some(100)) | (None, Some(_), _) => Ok(()),
        (None, None, _) => Err(violation(
            format!("a To tag on {}", describe(resp)),
            "no To tag",
        )),
    }
}

/// RFC 3261 §8.2.6.2: From, Call-ID and CSeq of the response equal the request's.
pub fn from_callid_cseq(req: &Message, resp: &Message) -> Judgement {
    let from_ok = match (req.from(), resp.from()) {
        (Ok(a), Ok(b)) => a.uri == b.uri && a.tag() == b.tag(),
        _ => false,
    };
    if !from_ok {
        return Err(violation(
            format!("From {}", req.header("From").unwrap_or_default()),
            format!("From {}", resp.header("From").unwrap_or_default()),
        ));
    }
    if req.call_id() != resp.call_id() {
        return Err(violation(
            format!("Call-ID {}", req.call_id()),
            format!("Call-ID {}", resp.call_id()),
        ));
    }
    match (req.cseq(), resp.cseq()) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        _ => Err(violation(
            format!("CSeq {}", req.header("CSeq").unwrap_or_default()),
            format!("CSeq {}", resp.header("CSeq").unwrap_or_default()),
        )),
    }
}

/// Whether two Vias are the same value, ignoring the `received` and `rport` values a
/// server adds to the top one (RFC 3261 §18.2.1, RFC 3581).
fn same_via(sent: &Via, got: &Via) -> bool {
    let strip = |v: &Via| {
        let mut p: Vec<_> = v
            .params
            .iter()
            .filter(|(n, _)| n != "received" && n != "rport")
            .cloned()
            .collect();
        p.sort();
        (v.transport.clone(), v.sent_by.to_ascii_lowercase(), p)
    };
    strip(sent) == strip(got)
}

/// RFC 3261 §8.2.6.2: the response carries the request's Via values, in order.
pub fn via_copied(req: &Message, resp: &Message) -> Judgement {
    let (Ok(sent), Ok(got)) = (req.vias(), resp.vias()) else {
        return Err(violation("parseable Via values", "unparseable Via"));
    };
    let shown = |v: &[Via]| {
        v.iter()
            .map(|v| format!("{} {}", v.transport, v.sent_by))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let same = sent.len() == got.len() && sent.iter().zip(&got).all(|(a, b)| same_via(a, b));
    if same {
        Ok(())
    } else {
        Err(violation(
            format!("Via [{}] with the same parameters", shown(&sent)),
            format!("Via [{}]", shown(&got)),
        ))
    }
}

/// URIs compared as RFC 3261 §19.1.4 mostly allows for what impress sends: user part
/// case-sensitive, the rest case-insensitive, parameter order ignored.
pub fn same_uri(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        let (scheme, rest) = u.trim().split_once(':').unwrap_or(("", u));
        let (user, host) = rest.rsplit_once('@').unwrap_or(("", rest));
        let mut parts: Vec<String> = host.split(';').map(str::to_ascii_lowercase).collect();
        parts[1..].sort();
        (scheme.to_ascii_lowercase(), user.to_owned(), parts)
    };
    norm(a) == norm(b)
}

/// RFC 3261 §10.3 step 8: the 200 to REGISTER lists our binding, every Contact with an
/// `expires` parameter.
pub fn register_contacts(contact_uri: &str, resp: Option<&Message>) -> Judgement {
    let expected = format!("200 listing <{contact_uri}> and every binding with expires");
    let resp = answered(resp, &expected)?;
    if resp.status() != Some(200) {
        return Err(violation(expected, describe(resp)));
    }
    let contacts = resp
        .contacts()
        .map_err(|e| violation(expected.clone(), e.to_string()))?;
    if !contacts.iter().any(|c| same_uri(&c.uri, contact_uri)) {
        return Err(violation(
            expected,
            format!("{} Contacts, ours absent", contacts.len()),
        ));
    }
    match contacts.iter().find(|c| c.expires().is_none()) {
        Some(c) => Err(violation(expected, format!("<{}> without expires", c.uri))),
        None => Ok(()),
    }
}

/// RFC 3261 §10.3 step 7: after a REGISTER with expiration 0 for `contact_uri`, the 200
/// no longer lists that binding.
pub fn binding_removed(contact_uri: &str, resp: Option<&Message>) -> Judgement {
    let expected = format!("200 without <{contact_uri}>");
    let resp = answered(resp, &expected)?;
    if resp.status() != Some(200) {
        return Err(violation(expected, describe(resp)));
    }
    let contacts = resp
        .contacts()
        .map_err(|e| violation(expected.clone(), e.to_string()))?;
    match contacts
        .iter()
        .find(|c| same_uri(&c.uri, contact_uri) && c.expires() != Some(0))
    {
        Some(c) => Err(violation(
            expected,
            format!("<{}> still bound, expires={:?}", c.uri, c.expires()),
        )),
        None => Ok(()),
    }
}

fn challenges(values: Vec<&str>, header: &str, code: u16, resp: &Message) -> Judgement {
    let expected = format!("{header} with a challenge in the {code}");
    if resp.status() != Some(code) {
        return Err(violation(expected, describe(resp)));
    }
    // A challenge is `scheme param=value, ...` (RFC 2617 §1.2).
    let valid = values.iter().any(|v| {
        v.split_once(char::is_whitespace)
            .is_some_and(|(_, p)| p.contains('='))
    });
    if valid {
        Ok(())
    } else if values.is_empty() {
        Err(violation(expected, format!("no {header}")))
    } else {
        Err(violation(
            expected,
            format!("{header}: {}", values.join(" | ")),
        ))
    }
}

/// RFC 3261 §22.2: a 401 carries WWW-Authenticate with at least one challenge.
pub fn www_authenticate(resp: &Message) -> Judgement {
    challenges(resp.www_authenticate(), "WWW-Authenticate", 401, resp)
}

/// RFC 3261 §22.3: a 407 carries Proxy-Authenticate.
pub fn proxy_authenticate(resp: &Message) -> Judgement {
    challenges(resp.proxy_authenticate(), "Proxy-Authenticate", 407, resp)
}

/// RFC 3261 §22.4 item 8: every Digest challenge of a 401/407 has a `qop` parameter.
pub fn qop_in_challenge(resp: &Message) -> Judgement {
    let values: Vec<&str> = resp
        .www_authenticate()
        .into_iter()
        .chain(resp.proxy_authenticate())
        .collect();
    for v in &values {
        match Challenge::parse(v) {
            Ok(c) if c.qop.is_empty() => {
                return Err(violation("a qop parameter in the challenge", v.to_string()));
            }
            Ok(_) => {}
            Err(e) => return Err(violation("a Digest challenge with qop", e.to_string())),
        }
    }
    if values.is_empty() {
        Err(violation("a challenge with qop", describe(resp)))
    } else {
        Ok(())
    }
}

/// RFC 3261 §17.2.2: the final response to a retransmitted request repeats the first
/// (same status, To tag and CSeq).
pub fn same_response(first: &Message, again: Option<&Message>) -> Judgement {
    let expected = format!("{} again (To tag {:?})", describe(first), first.to_tag());
    let again = answered(again, &expected)?;
    let same = first.status() == again.status()
        && first.to_tag() == again.to_tag()
        && first.cseq().ok() == again.cseq().ok();
    if same {
        Ok(())
    } else {
        Err(violation(
            expected,
            format!("{} (To tag {:?})", describe(again), again.to_tag()),
        ))
    }
}

fn status_is(code: u16, what: &str, resp: Option<&Message>) -> Judgement {
    let expected = format!("{code} {what}");
    let resp = answered(resp, &expected)?;
    if resp.status() == Some(code) {
        Ok(())
    } else {
        Err(violation(expected, describe(resp)))
    }
}

/// RFC 3261 §12.2.2: a request with a To tag matching no dialog gets 481.
pub fn unknown_dialog_481(resp: Option<&Message>) -> Judgement {
    status_is(481, "(Call/Transaction Does Not Exist)", resp)
}

/// RFC 3265 §3.1.6.1 (SUBSCRIBE) and RFC 3903 §6 step 2 (PUBLISH): an unknown event
/// package gets 489.
pub fn bad_event_489(resp: Option<&Message>) -> Judgement {
    status_is(489, "(Bad Event)", resp)
}

/// RFC 3903 §6 step 3: an unknown SIP-If-Match gets 412.
pub fn unknown_etag_412(resp: Option<&Message>) -> Judgement {
    status_is(412, "(Conditional Request Failed)", resp)
}

/// RFC 6665 §4.1.3: a NOTIFY carries a parseable Subscription-State.
pub fn subscription_state(notify: &Message) -> Judgement {
    match notify.subscription_state() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(violation("a valid Subscription-State", e.to_string())),
        None => Err(violation("a Subscription-State header", "none")),
    }
}

/// RFC 6665 §4.1.3: `terminated` carries no `expires` parameter.
pub fn terminated_without_expires(notify: &Message) -> Judgement {
    match notify.subscription_state() {
        Some(Ok(s)) if s.state == SubState::Terminated && s.has_expires() => Err(violation(
            "Subscription-State: terminated without expires",
            format!(
                "Subscription-State: {}",
                notify.header("Subscription-State").unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

/// RFC 6665 §4.1.2.3: an unsubscribe is followed by a NOTIFY whose state is terminated.
pub fn final_notify_terminated(notify: Option<&Message>) -> Judgement {
    let expected = "a NOTIFY with Subscription-State: terminated";
    let notify = notify.ok_or_else(|| violation(expected, "no NOTIFY before the timeout"))?;
    match notify.subscription_state() {
        Some(Ok(s)) if s.state == SubState::Terminated => Ok(()),
        _ => Err(violation(
            expected,
            format!(
                "Subscription-State: {}",
                notify.header("Subscription-State").unwrap_or("(none)")
            ),
        )),
    }
}

/// RFC 3903 §6 step 6: a 2xx to PUBLISH carries Expires and a single SIP-ETag.
pub fn publish_etag(resp: &Message) -> Judgement {
    let expected = "2xx with Expires and a single SIP-ETag";
    if !resp.status().is_some_and(|s| (200..300).contains(&s)) {
        return Err(violation(expected, describe(resp)));
    }
    let tags: Vec<&str> = resp.header_values("SIP-ETag").collect();
    let single =
        tags.len() == 1 && !tags[0].trim().is_empty() && !tags[0].trim().contains([',', ' ']);
    if !single {
        return Err(violation(expected, format!("SIP-ETag values {tags:?}")));
    }
    match resp.expires() {
        Some(_) => Ok(()),
        None => Err(violation(expected, "no Expires")),
    }
}

/// RFC 3903 §6 step 6: a successful refresh or modify returns a new entity-tag.
pub fn new_etag(previous: &str, resp: &Message) -> Judgement {
    match resp.sip_etag() {
        Some(t) if t != previous => Ok(()),
        Some(t) => Err(violation(
            format!("an entity-tag other than {previous}"),
            format!("SIP-ETag {t} again"),
        )),
        None => Err(violation(
            "a new SIP-ETag",
            format!("{} without SIP-ETag", describe(resp)),
        )),
    }
}

/// RFC 3428 §7: a 2xx to MESSAGE has no body and no Contact.
pub fn message_2xx(resp: &Message) -> Judgement {
    let expected = "2xx without body or Contact";
    if !resp.status().is_some_and(|s| (200..300).contains(&s)) {
        return Err(violation(expected, describe(resp)));
    }
    if !resp.body().is_empty() {
        return Err(violation(
            expected,
            format!("a {}-byte body", resp.body().len()),
        ));
    }
    match resp.header("Contact") {
        Some(c) => Err(violation(expected, format!("Contact: {c}"))),
        None => Ok(()),
    }
}

/// RFC 3856 §6.5: a presence NOTIFY body is a PIDF document (`application/pidf+xml`)
/// about `presentity`. An empty body (no state yet) is not judged.
pub fn pidf_body(notify: &Message, presentity: &str) -> Judgement {
    if notify.body().is_empty() {
        return Ok(());
    }
    let expected = format!("{} body about {presentity}", pidf::CONTENT_TYPE);
    let media = notify
        .media_type()
        .unwrap_or_else(|| "no Content-Type".into());
    if media != pidf::CONTENT_TYPE {
        return Err(violation(expected, media));
    }
    match Pidf::parse(notify.body()) {
        Ok(doc) if same_uri(&doc.entity, presentity) => Ok(()),
        Ok(doc) => Err(violation(expected, format!("entity {}", doc.entity))),
        Err(e) => Err(violation(expected, e.to_string())),
    }
}

#[cfg(test)]
#[path = "oracle_sip_tests.rs"]
mod tests;
