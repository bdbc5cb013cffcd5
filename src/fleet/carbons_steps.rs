//! The XEP-0280 Message Carbons steps. `carbons-enable`/`carbons-disable` send the request
//! on each selected session (enable also asks the server's disco#info for the feature) and
//! record the acknowledged state in the carbon ledger. `carbons` sends messages from each
//! user's first resource to its partner's first resource and judges the copies on every
//! other resource of both users: `<received/>` and `<sent/>` where carbons are enabled,
//! none for `<private/>` or `<no-copy/>` messages, none at a resource that disabled
//! carbons, at the addressee or at the sender, and every wrapper's addressing.

use super::carbon_ledger::CarbonState;
use super::forking_steps::{Send, send_as};
use super::steps::{connected, deadline, judge_iq, judge_message};
use super::tracker::Expect;
use super::{Ctx, Directory, Entry, User};
use crate::checks::catalogue as c;
use crate::checks::oracle_carbons::{self as oracle, CopySeen};
use crate::checks::{CheckDef, Outcome, Verdict};
use crate::metrics::Op;
use crate::proto::xmpp::carbons::{self, Direction};
use crate::proto::xmpp::{Element, Jid, ns, stanza};
use crate::scenario::suite::{CarbonsStep, CarbonsToggleStep, MessageKind, Recipient};
use crate::session::Session;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

fn outcome(ctx: &Ctx, subject: &str, check: &'static CheckDef, v: Verdict, why: String) {
    if v == Verdict::Error {
        ctx.events.error(subject, why.clone());
    }
    ctx.events.outcome(Outcome::new(check, v, subject, why));
}

/// `carbons-enable` (`enable`) or `carbons-disable` on every selected session.
pub(super) async fn toggle(u: &User, step: &CarbonsToggleStep, enable: bool, ctx: &Ctx) {
    for (_, s) in connected(u).filter(|(k, _)| step.selects(&u.resources[*k])) {
        if enable {
            advertised(s, ctx).await;
        }
        let (req, name, check, state) = if enable {
            (
                carbons::enable(),
                "enable",
                &c::CARBONS_ENABLE,
                CarbonState::Enabled,
            )
        } else {
            (
                carbons::disable(),
                "disable",
                &c::CARBONS_DISABLE,
                CarbonState::Disabled,
            )
        };
        match s.request(req).await {
            Ok((_, resp)) => {
                let resp = resp.map(|r| r.el);
                judge_iq(s, ctx, resp.as_ref());
                let j = oracle::carbons_toggled(resp.as_ref(), name);
                if j.is_ok() {
                    ctx.tracker.carbons.set_state(s.label(), state);
                }
                s.judge(&ctx.events, check, j);
            }
            Err(e) => outcome(
                ctx,
                s.label(),
                check,
                Verdict::Error,
                format!("{name}: {e}"),
            ),
        }
    }
}

/// XEP-0280 §3: disco#info to the server lists the carbons feature.
async fn advertised(s: &Session, ctx: &Ctx) {
    let q = Element::new("query", ns::DISCO_INFO);
    let req = stanza::iq("get", "", Some(&ctx.settings.domain), Some(q));
    let check = &c::CARBONS_ADVERTISED;
    match s.request(req).await {
        Ok((_, resp)) => {
            let resp = resp.map(|r| r.el);
            judge_iq(s, ctx, resp.as_ref());
            s.judge(
                &ctx.events,
                check,
                oracle::carbons_advertised(resp.as_ref()),
            );
        }
        Err(e) => outcome(ctx, s.label(), check, Verdict::Error, format!("disco: {e}")),
    }
}

/// What a message carries and which rule then governs its copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<private/>`: no copies (XEP-0280 §9).
    Private,
    /// `<no-copy/>`: no copies (XEP-0334 §4.3).
    NoCopy,
    /// An ordinary chat message: copies to the Carbons-enabled resources.
    Ordinary,
}

/// Both users' sessions in one `carbons` step: who sends, who is addressed, who else is
/// there and in which carbons state.
struct Cast<'a> {
    sender: &'a Session,
    /// The addressee's label.
    target: String,
    /// Every connected session of both users: label, full JID, carbons state.
    all: Vec<(String, Jid, Option<CarbonState>)>,
}

impl<'a> Cast<'a> {
    /// `u` sending from `sender` to `target`, a session of partner `p`.
    fn of(u: &'a User, sender: &'a Session, p: &Entry, target: &str, ctx: &Ctx) -> Self {
        let ledger = &ctx.tracker.carbons;
        let own = connected(u).map(|(_, s)| (s.label().to_string(), s.jid().clone()));
        let theirs = p
            .sessions
            .iter()
            .filter_map(|(l, j)| j.as_ref().map(|j| (l.clone(), j.clone())));
        let all = own
            .chain(theirs)
            .map(|(l, j)| {
                let st = ledger.state(&l);
                (l, j, st)
            })
            .collect();
        Self {
            sender,
            target: target.to_string(),
            all,
        }
    }

    fn labels(&self, pick: impl Fn(&str, Option<CarbonState>) -> bool) -> Vec<String> {
        self.all
            .iter()
            .filter(|(l, _, st)| pick(l, *st))
            .map(|(l, _, _)| l.clone())
            .collect()
    }

    /// Sessions other than the sender and the addressee.
    fn others(&self, st: CarbonState) -> Vec<String> {
        let (me, to) = (self.sender.label(), self.target.as_str());
        self.labels(|l, s| l != me && l != to && s == Some(st))
    }

    fn any_enabled(&self) -> bool {
        self.all
            .iter()
            .any(|(_, _, s)| *s == Some(CarbonState::Enabled))
    }

    fn jid(&self, label: &str) -> Option<&Jid> {
        self.all
            .iter()
            .find(|(l, _, _)| l == label)
            .map(|(_, j, _)| j)
    }
}

/// `carbons`: private, no-copy, then ordinary messages to the partner's first resource.
pub(super) async fn traffic(
    u: &User,
    step: &CarbonsStep,
    ctx: &Ctx,
    dir: &Directory,
    start: Instant,
) {
    let Some(s0) = u.sessions.first().and_then(Option::as_ref) else {
        return;
    };
    let Some(p) = u.partners.first().and_then(|g| dir.get(*g)) else {
        return;
    };
    let (target, Some(target_jid)) = &p.sessions[0] else {
        return;
    };
    let cast = Cast::of(u, s0, p, target, ctx);
    let kinds = [
        (Kind::Private, step.private),
        (Kind::NoCopy, step.no_copy),
        (Kind::Ordinary, step.count),
    ];
    let waker = Arc::new(Notify::new());
    let mut sent = Vec::new();
    for (kind, n) in kinds {
        for k in 0..n {
            let token = send_one(&cast, kind, k, target_jid, ctx, &waker, start).await;
            sent.push((token, kind));
        }
    }
    let tokens: Vec<String> = sent.iter().map(|(t, _)| t.clone()).collect();
    ctx.tracker.wait(&tokens, deadline(ctx), &waker).await;
    ctx.tracker
        .carbons
        .wait(&tokens, deadline(ctx), &waker)
        .await;
    tokio::time::sleep(step.grace.0).await;
    if !cast.any_enabled() {
        not_enabled(&cast, ctx);
    }
    for (t, kind) in &sent {
        judge_one(&cast, u, t, *kind, ctx);
    }
}

/// Watches and sends one message of `kind` to the addressee.
async fn send_one(
    cast: &Cast<'_>,
    kind: Kind,
    k: u32,
    to: &Jid,
    ctx: &Ctx,
    waker: &Arc<Notify>,
    start: Instant,
) -> String {
    let token = ctx.tracker.token();
    let (extra, want) = match kind {
        Kind::Private => (vec![carbons::private()], Vec::new()),
        Kind::NoCopy => (vec![carbons::no_copy()], Vec::new()),
        Kind::Ordinary => (Vec::new(), wanted(cast)),
    };
    ctx.tracker.carbons.watch(&token, want, waker);
    let m = Send {
        from: cast.sender,
        to: to.to_string(),
        expect: Expect::All(vec![cast.target.clone()]),
        intended: start,
        kind: MessageKind::Chat,
        body: format!("impress carbons {kind:?} {k} from {}", cast.sender.label()),
    };
    send_as(token, m, &extra, ctx, waker).await
}

/// The copies an ordinary message must produce: `<sent/>` at the sender's other enabled
/// resources, `<received/>` at the addressee's.
fn wanted(cast: &Cast<'_>) -> Vec<(String, Direction)> {
    let own = cast.sender.jid().bare().to_string();
    cast.others(CarbonState::Enabled)
        .into_iter()
        .map(|l| {
            let mine = cast.jid(&l).is_some_and(|j| j.bare().to_string() == own);
            let d = if mine {
                Direction::Sent
            } else {
                Direction::Received
            };
            (l, d)
        })
        .collect()
}

/// No session of either user has carbons enabled (the server refused `<enable/>`, or the
/// suite never asked): the copy checks cannot be judged.
fn not_enabled(cast: &Cast<'_>, ctx: &Ctx) {
    let why = "no resource of either user has carbons enabled".to_string();
    let checks = [
        &c::CARBONS_RECEIVED,
        &c::CARBONS_SENT,
        &c::CARBONS_NOT_TO_ADDRESSEE,
        &c::CARBONS_NOT_TO_SENDER,
        &c::CARBONS_WRAPPER,
        &c::CARBONS_PRIVATE,
        &c::NO_COPY_HINT,
    ];
    for check in checks {
        outcome(
            ctx,
            cast.sender.label(),
            check,
            Verdict::Impossible,
            why.clone(),
        );
    }
}

/// Judges one message: its delivery to the addressee (RFC 6121 §8.5.3.1, a carbon copy
/// is never a delivery) and every copy rule that applies to its kind.
fn judge_one(cast: &Cast<'_>, u: &User, token: &str, kind: Kind, ctx: &Ctx) {
    let s0 = cast.sender;
    let Some(d) = ctx.tracker.finish(token) else {
        return;
    };
    judge_message(s0, &d, Recipient::PartnerFull, ctx);
    let seen = ctx.tracker.carbons.finish(token);
    let copies: Vec<CopySeen> = seen.iter().map(|(c, _)| c.clone()).collect();
    let disabled = cast.others(CarbonState::Disabled);
    if !disabled.is_empty() && kind == Kind::Ordinary {
        let j = oracle::no_copies(&copies, &disabled, "carbons disabled there");
        s0.judge(&ctx.events, &c::CARBONS_DISABLED_NO_COPIES, j);
    }
    if !cast.any_enabled() {
        return;
    }
    judge_addressing(cast, &copies, ctx);
    let everyone = cast.labels(|_, _| true);
    match kind {
        Kind::Private => {
            let j = oracle::no_copies(&copies, &everyone, "<private/>");
            s0.judge(&ctx.events, &c::CARBONS_PRIVATE, j);
        }
        Kind::NoCopy => {
            let j = oracle::no_copies(&copies, &everyone, "<no-copy/> hint");
            s0.judge(&ctx.events, &c::NO_COPY_HINT, j);
        }
        Kind::Ordinary => judge_wanted(cast, u, &copies, &seen, (d.intended, d.sent), ctx),
    }
}

/// XEP-0280 §7/§8: no copy at the addressee nor (when it is Carbons-enabled) at the sender,
/// and every copy's wrapper addressed from the bare JID to the receiving resource.
fn judge_addressing(cast: &Cast<'_>, copies: &[CopySeen], ctx: &Ctx) {
    let s0 = cast.sender;
    let addressee = vec![cast.target.clone()];
    let j = oracle::no_copies(copies, &addressee, "the addressee gets the original");
    s0.judge(&ctx.events, &c::CARBONS_NOT_TO_ADDRESSEE, j);
    let me = s0.label();
    if cast
        .labels(|l, st| l == me && st == Some(CarbonState::Enabled))
        .len()
        == 1
    {
        let j = oracle::no_copies(copies, &[me.to_string()], "the sending resource");
        s0.judge(&ctx.events, &c::CARBONS_NOT_TO_SENDER, j);
    }
    for copy in copies {
        if let Some(full) = cast.jid(&copy.session) {
            let j = oracle::wrapper_addressed(copy, full);
            s0.judge(&ctx.events, &c::CARBONS_WRAPPER, j);
        }
    }
}

/// XEP-0280 §7/§8 for an ordinary message: every wanted copy arrived (with its latency).
/// A `<sent/>` copy is judged on the sender's own resource that should have got it.
fn judge_wanted(
    cast: &Cast<'_>,
    u: &User,
    copies: &[CopySeen],
    seen: &[(CopySeen, Instant)],
    (intended, sent): (Instant, Instant),
    ctx: &Ctx,
) {
    for (label, dir) in wanted(cast) {
        let j = oracle::copy_delivered(copies, &label, dir);
        let arrived = seen
            .iter()
            .find(|(c, _)| c.session == label && c.direction == dir);
        match arrived {
            Some((_, at)) => ctx.events.latency(Op::Carbon, intended, sent, *at),
            None => ctx.events.op_failed_quietly(Op::Carbon),
        }
        match dir {
            Direction::Received => cast.sender.judge(&ctx.events, &c::CARBONS_RECEIVED, j),
            Direction::Sent => {
                let own = connected(u).map(|(_, s)| s).find(|s| s.label() == label);
                own.unwrap_or(cast.sender)
                    .judge(&ctx.events, &c::CARBONS_SENT, j);
            }
        }
    }
}
