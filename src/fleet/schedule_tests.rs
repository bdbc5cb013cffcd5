//! Tests of the pure load schedules: arrival times, ramps, think-time distributions and
//! the reproducibility of every user's sequence.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn open(arrival: Arrival, start_rate: f64, stages: &[(f64, u64)]) -> Schedule {
    Schedule::Open {
        arrival,
        profile: Profile {
            start_rate,
            stages: stages
                .iter()
                .map(|&(rate, d)| Stage {
                    rate,
                    duration: ms(d),
                })
                .collect(),
        },
    }
}

const NONE: Content = Content {
    partners: 0,
    body_min: 0,
    body_max: 0,
};

fn slot(position: usize, acting: usize) -> Slot {
    Slot { position, acting }
}

fn offsets(s: &Schedule, seed: u64, gid: usize, sl: Slot) -> Vec<Duration> {
    user_plan(s, seed, gid, sl, NONE, 1_000_000)
        .into_iter()
        .map(|p| p.at)
        .collect()
}

#[test]
fn constant_arrivals_interleave_users_evenly() {
    let s = open(Arrival::Constant, 100.0, &[(100.0, 1000)]);
    let mut all: Vec<Duration> = (0..4).flat_map(|p| offsets(&s, 1, p, slot(p, 4))).collect();
    assert_eq!(all.len(), 100);
    all.sort();
    for (j, at) in all.iter().enumerate() {
        let want = ms(10 * j as u64);
        assert!(at.abs_diff(want) < Duration::from_micros(1), "{j}: {at:?}");
    }
    assert_eq!(offsets(&s, 1, 0, slot(0, 4))[1], ms(40));
}

#[test]
fn a_linear_ramp_follows_the_integral() {
    // 0 → 100/s over 1 s: Λ(t) = 50 t², so arrival j is at √(j/50).
    let s = open(Arrival::Constant, 0.0, &[(100.0, 1000)]);
    let at = offsets(&s, 1, 0, slot(0, 1));
    assert_eq!(at.len(), 50);
    for (j, t) in at.iter().enumerate() {
        let want = (j as f64 / 50.0).sqrt();
        assert!((t.as_secs_f64() - want).abs() < 1e-9, "{j}: {t:?}");
    }
}

#[test]
fn ramp_up_hold_ramp_down() {
    let s = open(
        Arrival::Constant,
        0.0,
        &[(200.0, 1000), (200.0, 2000), (0.0, 1000)],
    );
    let Schedule::Open { profile, .. } = &s else {
        unreachable!()
    };
    assert_eq!(profile.total(), 100.0 + 400.0 + 100.0);
    assert_eq!(profile.duration(), ms(4000));
    let at = offsets(&s, 1, 0, slot(0, 1));
    assert_eq!(at.len(), 600);
    // During the hold, arrivals are 5 ms apart.
    assert!(at[300].abs_diff(at[299] + ms(5)) < Duration::from_micros(1));
    assert!(at.windows(2).all(|w| w[0] <= w[1]));
    assert!(*at.last().expect("some") < ms(4000));
    for a in [0.0, 10.0, 99.9, 100.0, 350.0, 550.0, 599.9] {
        let t = profile.time_of(a).expect("inside the profile");
        assert!((0.0..=4.0).contains(&t), "{a}: {t}");
    }
    assert_eq!(profile.time_of(600.0), None);
}

#[test]
fn a_zero_rate_stage_is_a_pause() {
    let s = open(
        Arrival::Constant,
        10.0,
        &[(10.0, 1000), (0.0, 0), (0.0, 1000), (10.0, 0), (10.0, 1000)],
    );
    let at = offsets(&s, 1, 0, slot(0, 1));
    assert_eq!(at.len(), 20);
    assert!(at.iter().all(|t| *t < ms(1000) || *t >= ms(2000)), "{at:?}");
}

#[test]
fn poisson_arrivals_are_reproducible_and_about_the_rate() {
    let s = open(Arrival::Poisson, 1000.0, &[(1000.0, 10_000)]);
    let a = offsets(&s, 7, 2, slot(2, 4));
    assert_eq!(a, offsets(&s, 7, 2, slot(2, 4)), "same seed, same user");
    assert_ne!(a, offsets(&s, 8, 2, slot(2, 4)), "another seed");
    assert_ne!(a, offsets(&s, 7, 3, slot(2, 4)), "another user");
    let fleet: usize = (0..4).map(|p| offsets(&s, 7, p, slot(p, 4)).len()).sum();
    // 10,000 expected; a Poisson count's standard deviation is 100.
    assert!((9_500..=10_500).contains(&fleet), "{fleet}");
}

#[test]
fn closed_users_act_think_and_leave() {
    let s = Schedule::Closed {
        think: Think::Constant(ms(100)),
        duration: ms(1000),
        ramp_up: ms(400),
        ramp_down: ms(400),
    };
    let first = offsets(&s, 1, 0, slot(0, 4));
    assert_eq!(first, (0..10).map(|k| ms(100 * k)).collect::<Vec<_>>());
    // The last of four joins at 300 ms and leaves at 700 ms.
    let last = offsets(&s, 1, 3, slot(3, 4));
    assert_eq!(last, (3..7).map(|k| ms(100 * k)).collect::<Vec<_>>());
    // The next intended time counts from the completion the runner reports.
    let mut p = Planner::new(&s, 1, 0, slot(0, 1), NONE);
    assert_eq!(p.next(Duration::ZERO).map(|a| a.at), Some(Duration::ZERO));
    assert_eq!(p.next(ms(450)).map(|a| a.at), Some(ms(550)));
    assert_eq!(p.next(ms(950)), None);
    assert_eq!(p.remaining(), 0);
}

fn mean_and_min(t: &Think, n: usize) -> (f64, Duration) {
    let mut rng = UserRng::new(99, 0);
    let xs: Vec<Duration> = (0..n).map(|_| t.sample(&mut rng)).collect();
    let mean = xs.iter().map(Duration::as_secs_f64).sum::<f64>() / n as f64;
    (mean, xs.into_iter().min().unwrap_or_default())
}

#[test]
fn think_distributions_have_their_means() {
    let cases = [
        Think::Constant(ms(200)),
        Think::Uniform {
            min: ms(100),
            max: ms(300),
        },
        Think::Exponential { mean: ms(200) },
        Think::Normal {
            mean: ms(200),
            stddev: ms(50),
        },
        Think::LogNormal {
            mean: ms(200),
            stddev: ms(100),
        },
    ];
    for t in &cases {
        assert_eq!(t.mean(), ms(200));
        let (mean, min) = mean_and_min(t, 200_000);
        assert!((mean - 0.2).abs() < 0.004, "{t:?}: mean {mean}");
        if let Think::Uniform { min: lo, .. } = t {
            assert!(min >= *lo, "{t:?}");
        }
    }
}

#[test]
fn think_times_stay_in_range() {
    let wild = Think::Normal {
        mean: ms(10),
        stddev: Duration::from_secs(100),
    };
    let huge = Think::LogNormal {
        mean: Duration::from_secs(1000),
        stddev: Duration::from_secs(1_000_000_000),
    };
    let mut rng = UserRng::new(1, 1);
    for _ in 0..10_000 {
        assert!(wild.sample(&mut rng) <= MAX_THINK);
        assert!(huge.sample(&mut rng) <= MAX_THINK);
    }
    let zero = Think::LogNormal {
        mean: Duration::ZERO,
        stddev: ms(5),
    };
    assert_eq!(zero.sample(&mut rng), Duration::ZERO);
}

#[test]
fn the_whole_sequence_replays_with_the_seed() {
    let s = Schedule::Closed {
        think: Think::Exponential { mean: ms(500) },
        duration: Duration::from_secs(60),
        ramp_up: Duration::ZERO,
        ramp_down: Duration::ZERO,
    };
    let c = Content {
        partners: 2,
        body_min: 10,
        body_max: 200,
    };
    let plan = |seed, gid| user_plan(&s, seed, gid, slot(gid, 10), c, 50);
    let a = plan(7, 3);
    assert_eq!(a.len(), 50);
    assert_eq!(a, plan(7, 3));
    assert_ne!(a, plan(8, 3));
    assert_ne!(a, plan(7, 4));
    assert!(
        a.iter()
            .all(|p| p.partner < 2 && (10..=200).contains(&p.body_len))
    );
    assert!(a.iter().any(|p| p.partner == 0) && a.iter().any(|p| p.partner == 1));
    let body = body_text(a[0].body_len, a[0].body_seed);
    assert_eq!(body.len(), a[0].body_len);
    assert_eq!(body, body_text(a[0].body_len, a[0].body_seed));
}

#[test]
fn remaining_counts_what_is_left() {
    let s = open(Arrival::Constant, 100.0, &[(100.0, 1000)]);
    let mut p = Planner::new(&s, 1, 0, slot(0, 4), NONE);
    assert_eq!(p.remaining(), 25);
    p.next(Duration::ZERO);
    assert_eq!(p.remaining(), 24);
    while p.next(Duration::ZERO).is_some() {}
    assert_eq!(p.remaining(), 0);
}
