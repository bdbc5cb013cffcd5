//! Pure oracles: given what the server sent, does a clause hold? Sessions and steps call
//! these and turn the answer into an [`Outcome`](super::Outcome) with evidence; unit
//! tests call them on recorded wire bytes.

use crate::proto::xmpp::sm::{self, Failed, Resumption, StreamMgmt};
use crate::proto::xmpp::stanza::{StanzaError, StreamFeatures};
use crate::proto::xmpp::{Element, Jid, ns};

/// Why a clause does not hold: what it requires and what the server did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What the clause requires here.
    pub expected: String,
    /// What was observed.
    pub actual: String,
}

/// The answer of an oracle.
pub type Judgement = Result<(), Violation>;

fn violation(expected: impl Into<String>, actual: impl Into<String>) -> Violation {
    Violation {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// Short description of a stanza for messages: `<iq type='error'> (service-unavailable)`.
pub fn describe(el: &Element) -> String {
    let kind = el
        .attr("type")
        .map(|t| format!(" type='{t}'"))
        .unwrap_or_default();
    match StanzaError::from_stanza(el) {
        Some(e) => format!("<{}{kind}> with error {}", el.name, e.condition),
        None => format!("<{}{kind}>", el.name),
    }
}

/// RFC 6120 §4.3.2: a restarted stream must carry `<stream:features/>`.
pub fn features_received(first: Option<&Element>) -> Judgement {
    match first {
        Some(el) if el.is("features", ns::STREAM) => Ok(()),
        Some(el) => Err(violation(
            "<stream:features/>",
            format!("<{}/> in {}", el.name, el.ns),
        )),
        None => Err(violation(
            "<stream:features/>",
            "no stanza before the timeout",
        )),
    }
}

/// RFC 6120 §5.4.3.3: no STARTTLS offered on the stream restarted after TLS.
pub fn no_starttls_after_tls(f: &StreamFeatures) -> Judgement {
    match f.starttls {
        None => Ok(()),
        Some(_) => Err(violation(
            "features without <starttls/>",
            "<starttls/> offered again",
        )),
    }
}

/// RFC 6120 §7.4: bind offered after SASL.
pub fn bind_offered(f: &StreamFeatures) -> Judgement {
    if f.bind {
        Ok(())
    } else {
        Err(violation(
            "<bind/> in the post-SASL stream features",
            "no <bind/> feature",
        ))
    }
}

/// RFC 6120 §6.4.6: the SASL exchange for valid credentials ends in `<success/>`.
pub fn sasl_outcome(el: &Element) -> Judgement {
    if el.is("success", ns::SASL) {
        return Ok(());
    }
    let cond = el
        .children()
        .next()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| "no condition".into());
    Err(violation(
        "<success/> for valid credentials",
        format!("<{}/> ({cond})", el.name),
    ))
}

/// RFC 6120 §7.6.1: the bind result is a full JID of the authenticated account.
pub fn bind_result(resp: &Element, account: &Jid) -> Result<Jid, Violation> {
    let expected = format!("IQ result with <jid/> = {account}/<resource>");
    if resp.attr("type") != Some("result") {
        return Err(violation(expected, describe(resp)));
    }
    let text = resp
        .child("bind", ns::BIND)
        .and_then(|b| b.child("jid", ns::BIND))
        .map(|j| j.text())
        .ok_or_else(|| violation(expected.clone(), "result without <bind><jid/></bind>"))?;
    let jid: Jid = text
        .trim()
        .parse()
        .map_err(|_| violation(expected.clone(), format!("unparsable JID '{text}'")))?;
    if jid.is_bare() || jid.bare() != account.bare() {
        return Err(violation(expected, format!("<jid>{text}</jid>")));
    }
    Ok(jid)
}

/// RFC 6120 §8.2.3: a response of type result or error preserving the request's id.
pub fn iq_response(request_id: &str, resp: Option<&Element>) -> Judgement {
    let expected = format!("<iq type='result'|'error' id='{request_id}'>");
    let Some(resp) = resp else {
        return Err(violation(expected, "no response before the timeout"));
    };
    let typed = matches!(resp.attr("type"), Some("result" | "error"));
    if resp.name == "iq" && typed && resp.attr("id") == Some(request_id) {
        Ok(())
    } else {
        Err(violation(expected, describe(resp)))
    }
}

/// RFC 6121 §2.1.3: roster get answered with a roster query.
pub fn roster_result(resp: &Element) -> Judgement {
    if resp.attr("type") == Some("result") && resp.child("query", ns::ROSTER).is_some() {
        Ok(())
    } else {
        Err(violation(
            "IQ result with <query xmlns='jabber:iq:roster'/>",
            describe(resp),
        ))
    }
}

/// RFC 6121 §2.1.6: is `el` a roster push for `contact` with subscription `both`?
pub fn is_roster_push_both(el: &Element, contact: &Jid) -> bool {
    roster_push_item(el, contact).is_some_and(|i| i.attr("subscription") == Some("both"))
}

/// The `<item/>` of a roster push for `contact`, if `el` is one.
pub fn roster_push_item<'a>(el: &'a Element, contact: &Jid) -> Option<&'a Element> {
    if el.name != "iq" || el.attr("type") != Some("set") {
        return None;
    }
    let bare = contact.bare().to_string();
    el.child("query", ns::ROSTER)?
        .children()
        .find(|i| i.name == "item" && i.attr("jid") == Some(bare.as_str()))
}

/// RFC 6120 §8.1.2.1: a delivered stanza carries the sender's full JID as 'from'.
pub fn from_stamped(el: &Element, sender: &Jid) -> Judgement {
    let want = sender.to_string();
    match el.attr("from") {
        Some(f) if f == want => Ok(()),
        Some(f) => Err(violation(format!("from='{want}'"), format!("from='{f}'"))),
        None => Err(violation(format!("from='{want}'"), "no 'from' attribute")),
    }
}

/// RFC 6121 §8.5.2.1.1: a chat message to a bare JID reached at least one of the
/// available non-negative resources, and no other resource.
pub fn bare_jid_delivery(received_by: &[String], available: &[String]) -> Judgement {
    let expected = format!("delivered to one or more of {available:?}");
    if received_by.is_empty() {
        return Err(violation(expected, "delivered to no resource"));
    }
    match received_by.iter().find(|r| !available.contains(r)) {
        Some(r) => Err(violation(
            expected,
            format!("delivered to unavailable resource {r}"),
        )),
        None => Ok(()),
    }
}

/// RFC 6121 §8.5.3.1: a message to a full JID reached that resource and only it.
pub fn full_jid_delivery(received_by: &[String], addressed: &str) -> Judgement {
    if received_by.len() == 1 && received_by[0] == addressed {
        Ok(())
    } else {
        Err(violation(
            format!("delivered to [{addressed}] only"),
            format!("delivered to {received_by:?}"),
        ))
    }
}

/// RFC 6120 §4.4: the server answered our closing stream tag with its own.
pub fn stream_closed(server_close_seen: bool) -> Judgement {
    if server_close_seen {
        Ok(())
    } else {
        Err(violation(
            "a closing </stream:stream> tag",
            "none before the timeout",
        ))
    }
}

/// XEP-0199 §4.2: the server answers a ping with an IQ result.
pub fn ping_reply(resp: &Element) -> Judgement {
    if resp.attr("type") == Some("result") {
        Ok(())
    } else {
        Err(violation("<iq type='result'/>", describe(resp)))
    }
}

/// XEP-0030 §3.1: disco#info result with at least one identity and one feature.
pub fn disco_identity(resp: &Element) -> Judgement {
    let expected = "disco#info result with <identity/> and <feature/>";
    let Some(q) = resp
        .child("query", ns::DISCO_INFO)
        .filter(|_| resp.attr("type") == Some("result"))
    else {
        return Err(violation(expected, describe(resp)));
    };
    let identities = q.children().filter(|c| c.name == "identity").count();
    let features = q.children().filter(|c| c.name == "feature").count();
    if identities > 0 && features > 0 {
        Ok(())
    } else {
        Err(violation(
            expected,
            format!("{identities} identities, {features} features"),
        ))
    }
}

/// XEP-0198 §2: stream management advertised in the post-authentication features.
pub fn sm_advertised(f: &StreamFeatures) -> Judgement {
    if f.sm {
        Ok(())
    } else {
        Err(violation(
            "<sm xmlns='urn:xmpp:sm:3'/> in the stream features after authentication",
            "no <sm/> feature",
        ))
    }
}

/// What the server answered to an SM request, for messages.
fn sm_answer(answer: Option<&Element>) -> String {
    answer.map_or_else(
        || "no answer before the timeout".to_owned(),
        sm::describe_failed,
    )
}

/// XEP-0198 §3/§5: `<enable resume='true'/>` answered by a resumable `<enabled/>`.
pub fn sm_enabled(answer: Option<&Element>) -> Judgement {
    let expected = "<enabled resume='true' id='…'/>";
    match answer.and_then(Resumption::parse) {
        Some(r) if r.resume && r.id.as_deref().is_some_and(|i| !i.is_empty()) => Ok(()),
        Some(r) => Err(violation(
            expected,
            format!("<enabled/> with resume={} and id={:?}", r.resume, r.id),
        )),
        None => Err(violation(expected, sm_answer(answer))),
    }
}

/// XEP-0198 §4: the `<a/>` answering our `<r/>` has `h` equal to the stanzas we sent.
pub fn sm_ack(answer: Option<&Element>, sent: u32) -> Judgement {
    let expected = format!("<a h='{sent}'/>");
    let Some(a) = answer.filter(|a| a.is("a", ns::SM)) else {
        return Err(violation(expected, sm_answer(answer)));
    };
    match sm::parse_h(a.attr("h")) {
        Ok(h) if h == sent => Ok(()),
        Ok(h) => Err(violation(expected, format!("<a h='{h}'/>"))),
        Err(e) => Err(violation(expected, e.to_string())),
    }
}

/// XEP-0198 §5: `<resume previd h/>` answered by `<resumed/>` naming the former stream,
/// with an `h` that acknowledges no more than the client sent (`state` before the cut).
pub fn sm_resumed(answer: Option<&Element>, previd: &str, state: &StreamMgmt) -> Judgement {
    let expected = format!("<resumed previd='{previd}' h='…'/>");
    let Some(r) = answer.filter(|a| a.is("resumed", ns::SM)) else {
        return Err(violation(expected, sm_answer(answer)));
    };
    if r.attr("previd") != Some(previd) {
        return Err(violation(
            expected,
            format!("<resumed previd={:?}/>", r.attr("previd")),
        ));
    }
    let h = sm::parse_h(r.attr("h")).map_err(|e| violation(expected.clone(), e.to_string()))?;
    state
        .clone()
        .acknowledge(h)
        .map(|_| ())
        .map_err(|e| violation(expected, e.to_string()))
}

/// XEP-0198 §5: a message sent to the cut session reached it exactly once across the cut.
pub fn exactly_once(delivered: bool, duplicates: u64) -> Judgement {
    match (delivered, duplicates) {
        (true, 0) => Ok(()),
        (false, _) => Err(violation(
            "delivered once, on the old or the resumed stream",
            "never delivered",
        )),
        (true, d) => Err(violation(
            "delivered once, on the old or the resumed stream",
            format!("delivered {} times", d + 1),
        )),
    }
}

/// XEP-0198 §5: a `<resume/>` with an unknown `previd` is answered with `<failed/>`.
pub fn unknown_previd_failed(answer: Option<&Element>) -> Judgement {
    match answer.and_then(Failed::parse) {
        Some(_) => Ok(()),
        None => Err(violation("<failed/>", sm_answer(answer))),
    }
}

/// XEP-0198 §5: that `<failed/>` carries `<item-not-found/>`.
pub fn unknown_previd_item_not_found(answer: Option<&Element>) -> Judgement {
    match answer.and_then(Failed::parse) {
        Some(f) if f.condition == "item-not-found" => Ok(()),
        _ => Err(violation(
            "<failed><item-not-found/></failed>",
            sm_answer(answer),
        )),
    }
}

/// XEP-0198 §5: after another connection resumed its session, the old stream ended
/// (`ended`: why the old stream ended, `None` if it is still open).
pub fn old_stream_terminated(ended: Option<&str>) -> Judgement {
    match ended {
        Some(_) => Ok(()),
        None => Err(violation(
            "the old stream terminated (e.g. <conflict/>)",
            "the old stream still open after the resumption",
        )),
    }
}

#[cfg(test)]
#[path = "oracle_tests.rs"]
mod tests;
