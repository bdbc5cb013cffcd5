//! Login-rate calibration (`do = "calibrate-login"`): finds the login rate a target
//! sustains and suggests the HA re-login profile for it (seed research §2.5:
//! `upper = lower + N/R`, the arithmetic of `impress ha-profile`).
//!
//! Each stage offers logins at a constant rate: arrival k is intended at `k / R` after the
//! stage start, and goes to the next user of the fleet in turn, who logs in fully (STARTTLS,
//! SASL, bind, roster, presence) and out again, so a small fleet serves many arrivals. A
//! user still busy with an earlier arrival is not doubled up: that arrival is dropped and
//! counted. Login time counts from the intended start (queueing behind a slow server is
//! part of it), and the dispatcher's own lateness is recorded as scheduler lag, judged like
//! a load phase's. Stages do not overlap: a stage ends when its last user has logged out.
//!
//! The knee rule ([`Rule`]) judges each stage; the knee is the last stage that passed
//! before the first one that did not.

use super::{Ctx, User, steps, watch};
use crate::clock;
use crate::events::Event;
use crate::ha::profile::{LoginRate, ReloginLimits};
use crate::metrics::lag::LagMonitor;
use crate::proto::xmpp::stanza;
use crate::report::model::{CalibrationReport, CalibrationStage, SuggestedProfile};
use crate::scenario::suite_calibrate::CalibrateStep;
use crate::session::{Credentials, Session};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Time from planning a stage to its first arrival.
const LEAD: Duration = Duration::from_millis(20);

/// One account the calibration logs in and out.
struct Account {
    creds: Credentials,
    label: String,
    node: usize,
    priority: i8,
    /// Logged in (or logging in or out) for an earlier arrival.
    busy: AtomicBool,
}

/// What one stage counted, before the rule judges it.
#[derive(Debug, Default)]
struct Tally {
    arrivals: u64,
    dropped: u64,
    failures: u64,
    latencies: Vec<Duration>,
    /// From the stage start to the last successful login.
    span: Duration,
}

/// Runs the step over the selected users that are not logged in, reports the calibration
/// to the collector, and hands every user back unchanged.
pub(super) async fn run(
    users: Vec<User>,
    step: &CalibrateStep,
    fleet: Option<usize>,
    ctx: &Arc<Ctx>,
    label: String,
    lag: &Arc<LagMonitor>,
) -> Vec<User> {
    let accounts: Arc<Vec<Account>> = Arc::new(
        users
            .iter()
            .filter(|u| fleet.is_none_or(|f| f == u.fleet) && !u.sip.enabled)
            .filter(|u| u.sessions.iter().all(Option::is_none))
            .map(|u| Account {
                creds: steps::credentials(u, 0, ctx),
                label: u.label(0),
                node: u.node,
                priority: u.priorities[0],
                busy: AtomicBool::new(false),
            })
            .collect(),
    );
    let planned = step.users.unwrap_or(accounts.len() as u64);
    let rates = step.login_rates();
    let mut tallies = Vec::new();
    if accounts.is_empty() {
        ctx.events.error(
            "calibrate-login",
            "no logged-out XMPP user to calibrate with (run it before `login` or after `logout`)",
        );
    } else {
        lag.arm(true);
        let mut cursor = 0;
        for rate in &rates {
            ctx.events.mark(format!("calibrate: {rate} logins/s"));
            tallies.push(stage(&accounts, *rate, step.stage.0, &mut cursor, ctx, lag).await);
        }
        lag.arm(false);
    }
    let stages = rates
        .iter()
        .zip(&tallies)
        .map(|(r, t)| row(*r, step.stage.0, t))
        .collect();
    let report = summarize(label, &rates, stages, &Rule::of(step), planned, step);
    ctx.events.send(Event::Calibration(Box::new(report)));
    users
}

/// Plays one stage: `rate` arrivals per second for `len`.
async fn stage(
    accounts: &Arc<Vec<Account>>,
    rate: LoginRate,
    len: Duration,
    cursor: &mut usize,
    ctx: &Arc<Ctx>,
    lag: &LagMonitor,
) -> Tally {
    // Exact in integers: arrivals = R·len, arrival k at k/R.
    let micros = u128::from(rate.micros());
    let arrivals = (micros * len.as_micros() / 1_000_000_000_000) as u64;
    let start = clock::now() + LEAD;
    let mut t = Tally {
        arrivals,
        ..Tally::default()
    };
    let mut set = JoinSet::new();
    for k in 0..arrivals {
        let offset = u128::from(k) * 1_000_000_000_000_000 / micros;
        let intended = start + Duration::from_nanos(offset as u64);
        tokio::time::sleep_until(intended.into()).await;
        watch::record(lag, &ctx.events, intended, clock::now());
        let i = *cursor % accounts.len();
        *cursor += 1;
        if accounts[i].busy.swap(true, Ordering::AcqRel) {
            t.dropped += 1;
            continue;
        }
        set.spawn(login_logout(accounts.clone(), i, ctx.clone(), intended));
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Some((latency, done))) => {
                t.latencies.push(latency);
                t.span = t.span.max(done.saturating_duration_since(start));
            }
            Ok(None) => t.failures += 1,
            Err(e) => {
                t.failures += 1;
                ctx.events
                    .error("calibrate-login", format!("a login task failed: {e}"));
            }
        }
    }
    ctx.events.count("calibration_dropped", t.dropped);
    t
}

/// One arrival: a full login and a logout. Returns the login time from `intended` and
/// when the login completed (`None`: it failed; the session already reported why).
async fn login_logout(
    accounts: Arc<Vec<Account>>,
    i: usize,
    ctx: Arc<Ctx>,
    intended: Instant,
) -> Option<(Duration, Instant)> {
    let a = &accounts[i];
    ctx.events.count("sessions_attempted", 1);
    let observer = ctx.tracker.clone();
    let settings = ctx.settings.at(a.node);
    let connected = Session::connect(
        &settings,
        &a.creds,
        a.label.clone(),
        &ctx.events,
        observer,
        intended,
    )
    .await;
    let out = match connected {
        Ok(s) => {
            let done = clock::now();
            ctx.events.count("sessions_connected", 1);
            ctx.events.gauge(steps::SESSIONS_CONNECTED, 1);
            steps::after_login(&s, a.priority, &ctx).await;
            if let Err(e) = s.send(&stanza::presence(Some("unavailable"), None)).await {
                ctx.events
                    .error(&a.label, format!("unavailable presence: {e}"));
            }
            steps::close(s, &ctx).await;
            Some((done.saturating_duration_since(intended), done))
        }
        Err(_) => None,
    };
    a.busy.store(false, Ordering::Release);
    out
}

/// The report row of one stage (not yet judged).
fn row(rate: LoginRate, len: Duration, t: &Tally) -> CalibrationStage {
    let mut lat = t.latencies.clone();
    lat.sort();
    let secs = len.max(t.span).as_secs_f64();
    CalibrationStage {
        offered_per_s: rate.per_second(),
        achieved_per_s: if secs > 0.0 {
            lat.len() as f64 / secs
        } else {
            0.0
        },
        arrivals: t.arrivals,
        logins: lat.len() as u64,
        failures: t.failures,
        dropped: t.dropped,
        login_p50_ms: quantile_ms(&lat, 0.50),
        login_p99_ms: quantile_ms(&lat, 0.99),
        passed: false,
    }
}

/// Nearest-rank quantile of sorted samples, in ms (0 when empty).
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// The knee rule: a stage passes when no login failed, it achieved at least
/// `min_achieved` of its offered rate, and its login p99 is at most `factor` times the
/// baseline `max(first stage's p99, floor)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Largest p99 growth over the baseline.
    pub factor: f64,
    /// Least baseline, ms.
    pub floor_ms: f64,
    /// Least achieved / offered.
    pub min_achieved: f64,
}

impl Rule {
    /// The rule a step asks for.
    pub fn of(step: &CalibrateStep) -> Self {
        Self {
            factor: step.max_p99_factor,
            floor_ms: step.p99_floor.0.as_secs_f64() * 1000.0,
            min_achieved: step.min_achieved,
        }
    }

    /// The rule in words, for the report.
    pub fn describe(&self) -> String {
        format!(
            "a stage passes with no failed login, achieved ≥ {:.0} % of offered and login p99 ≤ {} × max(first stage p99, {} ms); the knee is the last passing stage before the first failing one",
            self.min_achieved * 100.0,
            self.factor,
            self.floor_ms
        )
    }

    /// Why `s` fails against `baseline_ms` (`None`: it passes).
    pub fn why_fails(&self, s: &CalibrationStage, baseline_ms: f64) -> Option<String> {
        if s.logins == 0 {
            return Some("no login succeeded".into());
        }
        if s.failures > 0 {
            return Some(format!("{} logins failed", s.failures));
        }
        if s.achieved_per_s < self.min_achieved * s.offered_per_s {
            return Some(format!(
                "achieved {:.2}/s of {}/s offered ({} dropped)",
                s.achieved_per_s, s.offered_per_s, s.dropped
            ));
        }
        let limit = self.factor * baseline_ms;
        (s.login_p99_ms > limit).then(|| {
            format!(
                "login p99 {:.1} ms > {limit:.1} ms ({} × baseline)",
                s.login_p99_ms, self.factor
            )
        })
    }

    /// Marks each stage passed or not; returns the knee's index and, if a stage failed,
    /// the first failing index and why.
    pub fn judge(
        &self,
        stages: &mut [CalibrationStage],
    ) -> (Option<usize>, Option<(usize, String)>) {
        let Some(first) = stages.first() else {
            return (None, None);
        };
        let baseline = first.login_p99_ms.max(self.floor_ms);
        let mut first_fail = None;
        for (i, s) in stages.iter_mut().enumerate() {
            let why = self.why_fails(s, baseline);
            s.passed = why.is_none();
            if let (None, Some(w)) = (&first_fail, why) {
                first_fail = Some((i, w));
            }
        }
        let knee = match &first_fail {
            Some((0, _)) => None,
            Some((i, _)) => Some(i - 1),
            None => stages.len().checked_sub(1),
        };
        (knee, first_fail)
    }
}

/// Judges the stages and builds the step's report: the knee and the profile
/// `ReloginLimits::compute(users, knee, service_down_delay)`.
pub fn summarize(
    step_label: String,
    rates: &[LoginRate],
    mut stages: Vec<CalibrationStage>,
    rule: &Rule,
    users: u64,
    step: &CalibrateStep,
) -> CalibrationReport {
    let (knee, first_fail) = rule.judge(&mut stages);
    let knee_rate = knee.and_then(|i| rates.get(i)).copied();
    let delay = step.service_down_delay.0.as_secs();
    let suggestion = knee_rate.map(|r| {
        let l = ReloginLimits::compute(users, r, delay);
        SuggestedProfile {
            users,
            rate_per_second: r.per_second(),
            lower_secs: l.lower,
            upper_secs: l.upper,
            spread_secs: l.spread(),
        }
    });
    let reason = reason(&stages, knee_rate, first_fail);
    CalibrationReport {
        step: step_label,
        stage_ms: step.stage.0.as_millis() as u64,
        rule: rule.describe(),
        stages,
        knee_rate_per_s: knee_rate.map(LoginRate::per_second),
        suggestion,
        reason,
    }
}

fn reason(
    stages: &[CalibrationStage],
    knee: Option<LoginRate>,
    first_fail: Option<(usize, String)>,
) -> String {
    let rate_of = |i: usize| stages.get(i).map_or(0.0, |s| s.offered_per_s);
    match (knee, first_fail) {
        (_, _) if stages.is_empty() => "no stage ran: no profile suggested".into(),
        (None, Some((i, why))) => format!(
            "no stage passed: the first stage ({}/s) failed: {why}; no profile suggested",
            rate_of(i)
        ),
        (Some(r), Some((i, why))) => {
            format!(
                "knee {r}/s: the next stage ({}/s) failed: {why}",
                rate_of(i)
            )
        }
        (Some(r), None) => format!(
            "every stage passed: the target sustains at least {r}/s (offer higher rates to find the knee)"
        ),
        (None, None) => "no stage passed: no profile suggested".into(),
    }
}

#[cfg(test)]
#[path = "calibrate_tests.rs"]
mod tests;
