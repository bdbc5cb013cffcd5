//! `sip-probe`: requests a registrar and presence server must refuse, and a retransmitted
//! request, each judged on the user's first device: an unknown event package (489,
//! RFC 6665 / RFC 3903), a request in an unknown dialog (481, RFC 3261 §12.2.2), an
//! unknown entity tag (412, RFC 3903 §6), a REGISTER sent twice with one branch (the
//! same response, RFC 3261 §17.2.2) and an OPTIONS to the server.

use super::sip_steps::{failed, judge_exchange};
use super::{Ctx, User};
use crate::checks::CheckDef;
use crate::checks::catalogue as c;
use crate::checks::oracle::Judgement;
use crate::checks::oracle_sip as o;
use crate::metrics::Op;
use crate::proto::sip::build::{self, new_branch, new_call_id, new_tag};
use crate::proto::sip::{Ids, Local, Message, Method, NameAddr, RequestBuilder};
use crate::session::sip::{SipError, SipUa};

/// An event package no server implements.
const UNKNOWN_EVENT: &str = "impress-unknown-event";

/// Runs every probe on the user's first device.
pub(super) async fn probe(u: &User, ctx: &Ctx) {
    let Some(ua) = u.sip.first() else { return };
    let local = ua.local().clone();
    let me = local.aor.clone();
    let bad_event = |ids: &Ids<'_>| build::subscribe(&local, &me, ids, UNKNOWN_EVENT, 60);
    expect_refusal(
        ua,
        ctx,
        &c::SIP_SUBSCRIBE_BAD_EVENT,
        bad_event,
        o::bad_event_489,
    )
    .await;
    let body = || Some(("text/plain", b"x".to_vec()));
    let bad_pub = |ids: &Ids<'_>| build::publish(&local, ids, UNKNOWN_EVENT, 60, None, body());
    expect_refusal(
        ua,
        ctx,
        &c::SIP_PUBLISH_BAD_EVENT,
        bad_pub,
        o::bad_event_489,
    )
    .await;
    let bad_etag = |ids: &Ids<'_>| {
        build::publish(
            &local,
            ids,
            "presence",
            60,
            Some("impress-no-such-etag"),
            None,
        )
    };
    expect_refusal(
        ua,
        ctx,
        &c::SIP_PUBLISH_UNKNOWN_ETAG,
        bad_etag,
        o::unknown_etag_412,
    )
    .await;
    let no_dialog = |ids: &Ids<'_>| in_unknown_dialog(&local, &me, ids);
    expect_refusal(
        ua,
        ctx,
        &c::SIP_UNKNOWN_DIALOG,
        no_dialog,
        o::unknown_dialog_481,
    )
    .await;
    retransmission(ua, ctx, &local).await;
    options(ua, ctx, &local).await;
}

/// OPTIONS to the server itself: its response is judged like every other
/// (RFC 3261 §8.2.6.2, §11).
async fn options(ua: &SipUa, ctx: &Ctx, local: &Local) {
    let domain = local
        .aor
        .uri
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let server = NameAddr::new(format!("sip:{domain}"));
    let make = |ids: &Ids<'_>| {
        RequestBuilder::new(Method::Options, server.uri.clone())
            .out_of_dialog(local, &server, ids)
            .header("Accept", "application/sdp")
    };
    match ua.request_new(make).await {
        Ok(ex) => judge_exchange(ua, ctx, &ex),
        Err(e) => failed(ctx, ua.label(), Op::SipRegister, "OPTIONS", &e),
    }
}

/// A SUBSCRIBE carrying a To tag of a dialog that never existed.
fn in_unknown_dialog(local: &Local, target: &NameAddr, ids: &Ids<'_>) -> RequestBuilder {
    build::subscribe(local, target, ids, "presence", 60)
        .set_header("To", format!("<{}>;tag=impress-no-such-dialog", target.uri))
}

/// Sends one probe (answering a digest challenge) and judges the final response.
async fn expect_refusal(
    ua: &SipUa,
    ctx: &Ctx,
    check: &'static CheckDef,
    make: impl Fn(&Ids<'_>) -> RequestBuilder,
    oracle: fn(Option<&Message>) -> Judgement,
) {
    match ua.request_new(make).await {
        Ok(ex) => {
            judge_exchange(ua, ctx, &ex);
            ua.judge(&ctx.events, check, oracle(Some(&ex.response)));
        }
        Err(SipError::Timeout(_)) => ua.judge(&ctx.events, check, oracle(None)),
        Err(e) => failed(ctx, ua.label(), Op::SipRegister, check.id, &e),
    }
}

/// RFC 3261 §17.2.2: a REGISTER (without credentials) sent twice with one branch gets the
/// same final response twice.
async fn retransmission(ua: &SipUa, ctx: &Ctx, local: &Local) {
    let (call_id, tag, branch) = {
        let mut rng = rand::thread_rng();
        (
            new_call_id(&mut rng, &local.sent_by),
            new_tag(&mut rng),
            new_branch(&mut rng),
        )
    };
    let ids = Ids {
        call_id: &call_id,
        from_tag: &tag,
        branch: &branch,
        cseq: 1,
    };
    let registrar = format!(
        "sip:{}",
        local.aor.uri.rsplit('@').next().unwrap_or_default()
    );
    let req = match build::register(local, &registrar, &ids, 60).build() {
        Ok(m) => m,
        Err(e) => {
            return failed(
                ctx,
                ua.label(),
                Op::SipRegister,
                "retransmission",
                &e.into(),
            );
        }
    };
    match ua.send_twice(req).await {
        Ok((first, again)) => {
            let j = o::same_response(&first.response, again.as_ref());
            ua.judge(&ctx.events, &c::SIP_RETRANSMISSION, j);
        }
        Err(e) => failed(ctx, ua.label(), Op::SipRegister, "retransmission", &e),
    }
}
