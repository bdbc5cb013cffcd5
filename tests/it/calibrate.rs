//! Login-rate calibration against managed Prosody: `suites/calibrate-login.toml` reports
//! one row per offered rate, a knee among those rates and the profile `impress ha-profile`
//! computes for it (upper = lower + N/R rounded half up).

use crate::common::run_expecting;
use impress::ha::profile::{LoginRate, ReloginLimits};

#[test]
fn calibration_finds_a_knee_and_suggests_a_profile_on_managed_prosody() {
    let (r, msg, dir) = run_expecting("suites/calibrate-login.toml", "managed:prosody", 0);
    assert_eq!(r.calibration.len(), 1, "{msg}");
    let c = &r.calibration[0];
    let offered: Vec<f64> = c.stages.iter().map(|s| s.offered_per_s).collect();
    assert_eq!(offered, [5.0, 10.0, 20.0, 40.0], "one row per stage: {c:?}");
    for s in &c.stages {
        // rate × 4 s arrivals, each logged in, failed or dropped.
        assert_eq!(s.arrivals, (s.offered_per_s * 4.0) as u64, "{s:?}");
        assert_eq!(s.logins + s.failures + s.dropped, s.arrivals, "{s:?}");
    }
    let knee = c
        .knee_rate_per_s
        .expect("a local Prosody sustains the first rate");
    assert!(offered.contains(&knee), "{knee} is an offered rate");
    let p = c.suggestion.as_ref().expect("a suggested profile");
    let rate: LoginRate = knee.to_string().parse().expect("a login rate");
    let want = ReloginLimits::compute(40, rate, 120);
    assert_eq!(
        (p.users, p.lower_secs, p.upper_secs),
        (40, want.lower, want.upper)
    );
    // upper = lower + ceil-half-up(N / R), independently.
    let spread = (2 * 40 + knee as u64) / (2 * knee as u64);
    assert_eq!(p.upper_secs, 120 + spread, "{p:?}");
    assert!(msg.contains("login calibration"), "{msg}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    assert!(html.contains("Login calibration"));
}
