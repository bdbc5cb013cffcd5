//! The XEP-0198 steps: enable, ack, cut and resume, resume with an unknown SM-ID, and
//! resume while the old connection is open; and the clauses each judges. A check whose
//! precondition is missing (no SM advertised or enabled) is `impossible` for the session.

use super::steps::{after_login, connected, credentials, deadline};
use super::tracker::Expect;
use super::{Ctx, Directory, User};
use crate::checks::catalogue as c;
use crate::checks::oracle;
use crate::checks::{CheckDef, Outcome, Verdict};
use crate::clock;
use crate::metrics::Op;
use crate::proto::xmpp::stanza::{self, StreamFeatures};
use crate::scenario::suite::{Recipient, SmCutStep};
use crate::session::{Detached, ResumeAttempt, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long after the cut partners start sending, so the server has seen the cut.
const SETTLE: Duration = Duration::from_millis(200);

fn impossible(ctx: &Ctx, subject: &str, check: &'static CheckDef, why: &str) {
    let o = Outcome::new(check, Verdict::Impossible, subject, why);
    ctx.events.outcome(o);
}

fn harness_error(ctx: &Ctx, subject: &str, check: &'static CheckDef, why: String) {
    ctx.events.error(subject, why.clone());
    ctx.events
        .outcome(Outcome::new(check, Verdict::Error, subject, why));
}

const NOT_ADVERTISED: &str = "the server does not advertise XEP-0198 stream management";
const NOT_ENABLED: &str = "stream management is not enabled on this session";
const NOT_RESUMABLE: &str = "stream management was not enabled with resumption";

/// `sm-enable`: §2 advertised, §3/§5 `<enabled resume='true' id/>`.
pub(super) async fn enable(u: &User, ctx: &Ctx) {
    for (_, s) in connected(u) {
        let features = StreamFeatures {
            sm: s.sm_offered(),
            ..StreamFeatures::default()
        };
        s.judge(
            &ctx.events,
            &c::SM_ADVERTISED,
            oracle::sm_advertised(&features),
        );
        if !s.sm_offered() {
            impossible(ctx, s.label(), &c::SM_ENABLED, NOT_ADVERTISED);
            continue;
        }
        match s.sm_enable().await {
            Ok(answer) => s.judge(
                &ctx.events,
                &c::SM_ENABLED,
                oracle::sm_enabled(answer.as_ref()),
            ),
            Err(e) => harness_error(ctx, s.label(), &c::SM_ENABLED, format!("enable: {e}")),
        }
    }
}

/// `sm-ack`: §4 the server's `h` equals the stanzas this session sent.
pub(super) async fn ack(u: &User, ctx: &Ctx) {
    for (_, s) in connected(u) {
        if !s.sm_enabled() {
            impossible(ctx, s.label(), &c::SM_ACK_H, NOT_ENABLED);
            continue;
        }
        match s.sm_request_ack().await {
            Ok((sent, a)) => s.judge(&ctx.events, &c::SM_ACK_H, oracle::sm_ack(a.as_ref(), sent)),
            Err(e) => harness_error(ctx, s.label(), &c::SM_ACK_H, format!("ack request: {e}")),
        }
    }
}

/// `sm-cut-resume`: even users cut their first session and resume after `after`; odd
/// users send their (even) partner `count` messages meanwhile.
pub(super) async fn cut_resume(
    u: &mut User,
    step: &SmCutStep,
    ctx: &Arc<Ctx>,
    dir: &Directory,
    start: Instant,
) {
    if u.index.is_multiple_of(2) {
        cutter(u, step, ctx, start).await;
    } else {
        send_to_cut_partner(u, step, ctx, dir, start).await;
    }
}

async fn send_to_cut_partner(
    u: &User,
    step: &SmCutStep,
    ctx: &Ctx,
    dir: &Directory,
    start: Instant,
) {
    let Some(s0) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    let Some(partner) = u
        .partners
        .first()
        .and_then(|g| dir.get(*g))
        .filter(|p| p.index.is_multiple_of(2))
    else {
        return;
    };
    let (label, Some(jid)) = &partner.sessions[0] else {
        return;
    };
    let (addr, expect) = match step.to {
        Recipient::PartnerFull => (jid.to_string(), Expect::All(vec![label.clone()])),
        Recipient::PartnerBare => (partner.bare.to_string(), Expect::Any(partner.connected())),
    };
    tokio::time::sleep_until((start + SETTLE).into()).await;
    // The cut session's task waits for these (it re-targets the waker).
    let waker = Arc::new(Notify::new());
    for k in 0..step.count {
        let token = ctx.tracker.token();
        let at = clock::now();
        ctx.tracker
            .expect(&token, Op::Message, at, s0.jid(), expect.clone(), &waker);
        let body = format!("impress message {k} from {} during the outage", u.account);
        match s0
            .send(&stanza::message("chat", &token, &addr, &body))
            .await
        {
            Ok(at) => ctx.tracker.sent(&token, at),
            Err(e) => ctx.events.error(s0.label(), format!("send failed: {e}")),
        }
        ctx.events.count("messages_sent", 1);
    }
}

async fn cutter(u: &mut User, step: &SmCutStep, ctx: &Arc<Ctx>, start: Instant) {
    let Some(s) = u.sessions[0].take() else {
        return;
    };
    let reconnect = start + step.after.0;
    if !s.sm_resumable() {
        impossible(ctx, s.label(), &c::SM_RESUMED, NOT_RESUMABLE);
        // Partners sent anyway: account for their messages.
        tokio::time::sleep_until(reconnect.into()).await;
        let d = s.detach_copy(clock::now());
        settle(&d, u.label(0), ctx, NOT_RESUMABLE).await;
        u.sessions[0] = Some(s);
        return;
    }
    ctx.events.gauge(super::steps::SESSIONS_CONNECTED, -1);
    let d = s.cut().await;
    tokio::time::sleep_until(reconnect.into()).await;
    let creds = credentials(u, 0, ctx);
    let attempt = match d.resume(&ctx.settings, &creds, &ctx.events).await {
        Ok(a) => a,
        Err(e) => {
            ctx.events.op_failed(Op::Resume, d.label(), e.to_string());
            harness_error(ctx, d.label(), &c::SM_RESUMED, format!("resume: {e}"));
            settle(&d, u.label(0), ctx, "the resumption could not be attempted").await;
            return;
        }
    };
    judge_resumed(&d, &attempt, ctx, reconnect);
    let resumed = attempt.session.is_some();
    u.sessions[0] = match attempt.session {
        Some(s) => Some(s),
        None => relogin(u, ctx).await,
    };
    if u.sessions[0].is_some() {
        ctx.events.gauge(super::steps::SESSIONS_CONNECTED, 1);
    }
    if resumed {
        settle(&d, u.label(0), ctx, "").await;
    } else {
        settle(&d, u.label(0), ctx, "the session was not resumed").await;
    }
}

fn judge_resumed(d: &Detached, a: &ResumeAttempt, ctx: &Ctx, reconnect: Instant) {
    let answer = a.answer.as_ref().map(|r| &r.el);
    let mut j = oracle::sm_resumed(answer, &a.previd, &a.before);
    if let Err(v) = &mut j {
        let outage = a.sent.saturating_duration_since(d.cut_at());
        v.actual = format!("{} after a {:.1} s outage", v.actual, outage.as_secs_f64());
        if let Some(max) = d.max() {
            v.actual += &format!(" (<enabled max='{}'/>)", max.as_secs());
        }
    }
    d.judge(&ctx.events, &c::SM_RESUMED, j);
    match (&a.session, &a.answer) {
        (Some(_), Some(r)) => ctx.events.latency(Op::Resume, reconnect, a.sent, r.at),
        _ => ctx
            .events
            .op_failed(Op::Resume, d.label(), "the session was not resumed"),
    }
}

/// After a failed resumption the user logs in afresh and enables stream management
/// again, as a client would; what the server kept for the old session then follows its
/// offline policy.
async fn relogin(u: &User, ctx: &Ctx) -> Option<Session> {
    let creds = credentials(u, 0, ctx);
    let observer = ctx.tracker.clone();
    let s = Session::connect(
        &ctx.settings,
        &creds,
        u.label(0),
        &ctx.events,
        observer,
        clock::now(),
    )
    .await
    .ok()?;
    s.set_auto_approve(true);
    after_login(&s, u.priority, ctx).await;
    if s.sm_offered() {
        match s.sm_enable().await {
            Ok(a) => s.judge(&ctx.events, &c::SM_ENABLED, oracle::sm_enabled(a.as_ref())),
            Err(e) => harness_error(ctx, s.label(), &c::SM_ENABLED, format!("enable: {e}")),
        }
    }
    Some(s)
}

/// Waits for the messages partners sent to session `label` during the outage and judges
/// §5 retransmission on each: exactly once across the cut. `not_resumed` (empty when the
/// session was resumed) says why nothing is judged; counters record where messages went.
async fn settle(d: &Detached, label: String, ctx: &Ctx, not_resumed: &str) {
    let tokens = ctx.tracker.addressed_to(&label);
    let waker = Arc::new(Notify::new());
    ctx.tracker.rewake(&tokens, &waker);
    ctx.tracker.wait(&tokens, deadline(ctx), &waker).await;
    let resumed = not_resumed.is_empty();
    if !resumed {
        impossible(ctx, d.label(), &c::SM_RETRANSMIT, not_resumed);
    }
    for t in &tokens {
        let Some(del) = ctx.tracker.finish(t) else {
            continue;
        };
        let delivered = !del.got.is_empty();
        let after_cut = del.got.iter().filter(|(_, at)| *at > d.cut_at()).count();
        let counter = if resumed {
            "sm_redelivered"
        } else {
            "sm_delivered_without_resume"
        };
        ctx.events.count(counter, after_cut as u64);
        if resumed {
            let j = oracle::exactly_once(delivered, del.duplicates).map_err(|mut v| {
                v.actual = format!("message {t}: {}", v.actual);
                v
            });
            d.judge(&ctx.events, &c::SM_RETRANSMIT, j);
        }
    }
}

/// `sm-resume-unknown`: §5 a made-up SM-ID gets `<failed/>`, with `<item-not-found/>`.
pub(super) async fn resume_unknown(u: &User, ctx: &Ctx) {
    let Some(s) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    let checks = [&c::SM_UNKNOWN_PREVID, &c::SM_UNKNOWN_PREVID_CONDITION];
    if !s.sm_offered() {
        for check in checks {
            impossible(ctx, s.label(), check, NOT_ADVERTISED);
        }
        return;
    }
    let previd = format!("{}-never-issued", ctx.tracker.token());
    let label = format!("{} (resume probe)", s.label());
    let observer = ctx.tracker.clone();
    let d = Detached::unknown(&ctx.settings, label, s.jid().clone(), observer, &previd);
    let creds = credentials(u, 0, ctx);
    match d.resume(&ctx.settings, &creds, &ctx.events).await {
        Ok(a) => {
            let answer = a.answer.as_ref().map(|r| &r.el);
            d.judge(
                &ctx.events,
                checks[0],
                oracle::unknown_previd_failed(answer),
            );
            d.judge(
                &ctx.events,
                checks[1],
                oracle::unknown_previd_item_not_found(answer),
            );
        }
        Err(e) => {
            for check in checks {
                harness_error(ctx, d.label(), check, format!("resume probe: {e}"));
            }
        }
    }
}

/// `sm-resume-conflict`: §5 a resumption while the old connection is open; the old stream
/// should end, and the resumed one replaces it.
pub(super) async fn resume_conflict(u: &mut User, ctx: &Ctx) {
    let Some(old) = u.sessions[0].take() else {
        return;
    };
    if !old.sm_resumable() {
        for check in [&c::SM_RESUMED, &c::SM_OLD_STREAM_TERMINATED] {
            impossible(ctx, old.label(), check, NOT_RESUMABLE);
        }
        u.sessions[0] = Some(old);
        return;
    }
    let reconnect = clock::now();
    let d = old.detach_copy(reconnect);
    let creds = credentials(u, 0, ctx);
    let attempt = match d.resume(&ctx.settings, &creds, &ctx.events).await {
        Ok(a) => a,
        Err(e) => {
            harness_error(ctx, d.label(), &c::SM_RESUMED, format!("resume: {e}"));
            u.sessions[0] = Some(old);
            return;
        }
    };
    judge_resumed(&d, &attempt, ctx, reconnect);
    let Some(new) = attempt.session else {
        impossible(
            ctx,
            old.label(),
            &c::SM_OLD_STREAM_TERMINATED,
            "the session was not resumed",
        );
        u.sessions[0] = Some(old);
        return;
    };
    let until = clock::now() + ctx.timeouts.response.0;
    let _ = old.take(|_| false, until).await;
    let ended = old.closed();
    if let Some(why) = &ended {
        ctx.events.count("sm_old_stream_ended", 1);
        tracing::debug!(session = old.label(), why, "old stream ended");
    }
    old.judge(
        &ctx.events,
        &c::SM_OLD_STREAM_TERMINATED,
        oracle::old_stream_terminated(ended.as_deref()),
    );
    u.sessions[0] = Some(new);
}
