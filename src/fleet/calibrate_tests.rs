//! The knee rule and the suggested profile on synthetic stage rows.

use super::*;

fn step(extra: &str) -> CalibrateStep {
    toml::from_str(&format!(
        "do = \"calibrate-login\"\nrates = [5, 10, 20, 40]\n{extra}"
    ))
    .expect("step parses")
}

/// A stage at `offered`/s that achieved `achieved`/s with login p99 `p99` ms.
fn stage(offered: f64, achieved: f64, p99: f64, failures: u64) -> CalibrationStage {
    CalibrationStage {
        offered_per_s: offered,
        achieved_per_s: achieved,
        arrivals: 20,
        logins: 20 - failures,
        failures,
        dropped: 0,
        login_p50_ms: p99 / 2.0,
        login_p99_ms: p99,
        passed: false,
    }
}

fn calibrate(stages: Vec<CalibrationStage>, extra: &str) -> CalibrationReport {
    let s = step(extra);
    let rates = s.login_rates();
    summarize(
        "1 calibrate-login".into(),
        &rates,
        stages,
        &Rule::of(&s),
        40,
        &s,
    )
}

#[test]
fn the_knee_is_the_last_stage_before_latency_climbs() {
    let r = calibrate(
        vec![
            stage(5.0, 5.0, 20.0, 0),
            stage(10.0, 10.0, 60.0, 0),
            stage(20.0, 19.0, 200.0, 0),
            stage(40.0, 39.0, 90.0, 0),
        ],
        "",
    );
    // Baseline max(20, 50) = 50 ms; 200 > 3 × 50 breaks stage 3 even though stage 4 is fine.
    assert_eq!(r.knee_rate_per_s, Some(10.0));
    let passed: Vec<bool> = r.stages.iter().map(|s| s.passed).collect();
    assert_eq!(passed, [true, true, false, true]);
    let p = r.suggestion.expect("a profile");
    // upper = lower + round_half_up(40 / 10).
    assert_eq!(
        (p.users, p.lower_secs, p.upper_secs, p.spread_secs),
        (40, 120, 124, 4)
    );
    assert!(
        r.reason.contains("20/s") && r.reason.contains("p99"),
        "{}",
        r.reason
    );
}

#[test]
fn failures_and_shortfall_break_a_stage() {
    let r = calibrate(
        vec![
            stage(5.0, 5.0, 10.0, 0),
            stage(10.0, 10.0, 10.0, 1),
            stage(20.0, 20.0, 10.0, 0),
            stage(40.0, 40.0, 10.0, 0),
        ],
        "service_down_delay = \"90s\"",
    );
    assert_eq!(r.knee_rate_per_s, Some(5.0));
    let p = r.suggestion.expect("a profile");
    assert_eq!((p.lower_secs, p.upper_secs), (90, 98));
    assert!(r.reason.contains("1 logins failed"), "{}", r.reason);

    let r = calibrate(
        vec![
            stage(5.0, 5.0, 10.0, 0),
            stage(10.0, 10.0, 10.0, 0),
            stage(20.0, 17.0, 10.0, 0),
            stage(40.0, 40.0, 10.0, 0),
        ],
        "",
    );
    assert_eq!(r.knee_rate_per_s, Some(10.0), "17/s is below 90 % of 20/s");
}

#[test]
fn every_stage_passing_suggests_the_highest_rate() {
    let rows = [5.0, 10.0, 20.0, 40.0].map(|x| stage(x, x, 30.0, 0));
    let r = calibrate(rows.to_vec(), "");
    assert_eq!(r.knee_rate_per_s, Some(40.0));
    assert_eq!(r.suggestion.map(|p| p.upper_secs), Some(121));
    assert!(r.reason.contains("at least 40/s"), "{}", r.reason);
}

#[test]
fn no_stage_passing_suggests_nothing() {
    let rows = [5.0, 10.0, 20.0, 40.0].map(|x| stage(x, x, 30.0, 3));
    let r = calibrate(rows.to_vec(), "");
    assert_eq!(r.knee_rate_per_s, None);
    assert_eq!(r.suggestion, None);
    assert!(r.stages.iter().all(|s| !s.passed));
    assert!(r.reason.contains("no profile suggested"), "{}", r.reason);

    let r = calibrate(Vec::new(), "");
    assert_eq!(r.suggestion, None);
    assert!(r.reason.contains("no profile suggested"), "{}", r.reason);
}

#[test]
fn the_floor_and_factor_are_the_steps() {
    let rows = vec![stage(5.0, 5.0, 100.0, 0), stage(10.0, 10.0, 250.0, 0)];
    let r = calibrate(rows.clone(), "");
    assert_eq!(r.knee_rate_per_s, Some(10.0), "250 ≤ 3 × 100");
    let r = calibrate(rows, "max_p99_factor = 2");
    assert_eq!(r.knee_rate_per_s, Some(5.0), "250 > 2 × 100");
}

#[test]
fn quantiles_are_nearest_rank() {
    let ms = |x: u64| Duration::from_millis(x);
    let lat: Vec<Duration> = (1..=100).map(ms).collect();
    assert_eq!(quantile_ms(&lat, 0.5), 50.0);
    assert_eq!(quantile_ms(&lat, 0.99), 99.0);
    assert_eq!(quantile_ms(&[ms(7)], 0.99), 7.0);
    assert_eq!(quantile_ms(&[], 0.99), 0.0);
}
