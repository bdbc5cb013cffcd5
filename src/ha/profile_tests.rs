//! Unit tests for the re-login formula: every row of the seed's twelve login-profile tables
//! (seed 004 Appendix A, Tables 60-71, `004:8247-8497`; Appendix B repeats them as Tables
//! 72-83, identical), the worked examples, rounding, and rate parsing.

use super::*;

/// One seed table as printed: (expected number of active users, lower retry limit, upper
/// retry limit) per row, and the login rate its rows follow.
struct SeedTable {
    table: u32,
    /// Line of the table caption in seed 004.
    line: u32,
    profile: &'static str,
    rate: &'static str,
    rows: &'static [(u64, u64, u64)],
}

#[rustfmt::skip]
const SEED_TABLES: &[SeedTable] = &[
    SeedTable {
        table: 60,
        line: 8249,
        profile: "500 Users Full UC (1vCPU 700MHz 2GB) Active/Active Profile",
        rate: "1.5",
        rows: &[
            (100, 120, 187), (250, 120, 287),
        ],
    },
    SeedTable {
        table: 61,
        line: 8259,
        profile: "500 Users Full UC (1vCPU 700MHz 2GB) Active/Standby Profile",
        rate: "1.5",
        rows: &[
            (100, 120, 187), (250, 120, 287), (500, 120, 453),
        ],
    },
    SeedTable {
        table: 62,
        line: 8270,
        profile: "1000 Users Full UC (1vCPU 1500MHz 2GB) Active/Active Profile",
        rate: "3",
        rows: &[
            (100, 120, 153), (250, 120, 203), (500, 120, 287),
        ],
    },
    SeedTable {
        table: 63,
        line: 8281,
        profile: "1000 Users Full UC (1vCPU 1500MHz 2GB) Active/Standby Profile",
        rate: "3",
        rows: &[
            (100, 120, 153), (250, 120, 203), (500, 120, 287), (750, 120, 370), (1000, 120, 453),
        ],
    },
    SeedTable {
        table: 64,
        line: 8294,
        profile: "2000 Users Full UC (1vCPU 1500Mhz 4GB) Active/Active Profile",
        rate: "3",
        rows: &[
            (100, 120, 153), (500, 120, 287), (1000, 120, 453),
        ],
    },
    SeedTable {
        table: 65,
        line: 8307,
        profile: "2000 Users Full UC (1vCPU 1500Mhz 4GB) Active/Standby Profile",
        rate: "3",
        rows: &[
            (100, 120, 153), (250, 120, 203), (500, 120, 287), (750, 120, 370), (1000, 120, 453),
            (1250, 120, 537), (1500, 120, 620), (1750, 120, 703), (2000, 120, 787),
        ],
    },
    SeedTable {
        table: 66,
        line: 8324,
        profile: "5000 Users Full UC (4 GB 2vCPU) Active/Active Profile",
        rate: "6",
        rows: &[
            (100, 120, 137), (500, 120, 203), (1000, 120, 287), (1500, 120, 370), (2000, 120, 453),
            (2500, 120, 537),
        ],
    },
    SeedTable {
        table: 67,
        line: 8338,
        profile: "5000 Users Full UC (4 GB 2vCPU) Active/Standby Profile",
        rate: "6",
        rows: &[
            (100, 120, 137), (500, 120, 203), (1000, 120, 287), (1500, 120, 370), (2000, 120, 453),
            (2500, 120, 537), (3000, 120, 620), (3500, 120, 703), (4000, 120, 787), (4500, 120, 870),
            (5000, 120, 953),
        ],
    },
    SeedTable {
        table: 68,
        line: 8359,
        profile: "15000 Users Full UC (4 vCPU 8GB) Active/Active Profile",
        rate: "15",
        rows: &[
            (100, 120, 127), (500, 120, 153), (1000, 120, 187), (1500, 120, 220), (2000, 120, 253),
            (2500, 120, 287), (3000, 120, 320), (3500, 120, 353), (4000, 120, 387), (4500, 120, 420),
            (5000, 120, 453), (6000, 120, 520), (7000, 120, 587), (7500, 120, 620),
        ],
    },
    SeedTable {
        table: 69,
        line: 8386,
        profile: "15000 Users Full UC (4 vCPU 8GB) Active/Standby Profile",
        rate: "15",
        rows: &[
            (100, 120, 127), (500, 120, 153), (1000, 120, 187), (1500, 120, 220), (2000, 120, 253),
            (2500, 120, 287), (3000, 120, 320), (3500, 120, 353), (4000, 120, 387), (4500, 120, 420),
            (5000, 120, 453), (6000, 120, 520), (7000, 120, 587), (8000, 120, 653), (9000, 120, 720),
            (10000, 120, 787), (11000, 120, 853), (12000, 120, 920), (13000, 120, 987), (14000, 120, 1053),
            (15000, 120, 1120),
        ],
    },
    SeedTable {
        table: 70,
        line: 8424,
        profile: "25000 Users Full UC (6 vCPU 16GB) Active/Active Profile",
        rate: "9",
        rows: &[
            (100, 120, 131), (500, 120, 176), (1000, 120, 231), (1500, 120, 287), (2000, 120, 342),
            (2500, 120, 398), (3000, 120, 453), (3500, 120, 509), (4000, 120, 564), (4500, 120, 620),
            (5000, 120, 676), (6000, 120, 787), (7000, 120, 898), (7500, 120, 953), (8000, 120, 1009),
            (9000, 120, 1120), (10000, 120, 1231), (11000, 120, 1342), (12000, 120, 1453), (12500, 120, 1509),
        ],
    },
    SeedTable {
        table: 71,
        line: 8460,
        profile: "25000 Users Full UC (6 vCPU 16GB) Active/Standby Profile",
        rate: "16",
        rows: &[
            (100, 120, 126), (500, 120, 151), (1000, 120, 183), (1500, 120, 214), (2000, 120, 245),
            (2500, 120, 276), (3000, 120, 308), (3500, 120, 339), (4000, 120, 370), (4500, 120, 401),
            (5000, 120, 433), (6000, 120, 495), (7000, 120, 558), (8000, 120, 620), (9000, 120, 683),
            (10000, 120, 745), (11000, 120, 808), (12000, 120, 870), (13000, 120, 933), (14000, 120, 995),
            (15000, 120, 1058), (16000, 120, 1120), (17000, 120, 1183), (18000, 120, 1245), (19000, 120, 1308),
            (20000, 120, 1370), (21000, 120, 1433), (22000, 120, 1495), (23000, 120, 1558), (24000, 120, 1620),
            (25000, 120, 1683),
        ],
    },
];

#[test]
fn every_row_of_every_seed_table() {
    let mut checked = 0;
    for t in SEED_TABLES {
        let rate: LoginRate = t.rate.parse().expect("table rate");
        for &(users, lower, upper) in t.rows {
            let got = ReloginLimits::compute(users, rate, lower);
            assert_eq!(
                (got.lower, got.upper),
                (lower, upper),
                "Table {} (004:{}) {}: {users} users at {rate}/s",
                t.table,
                t.line,
                t.profile
            );
            assert_eq!(lower, TABLE_LOWER, "every row's lower limit is 120");
            checked += 1;
        }
    }
    assert_eq!(checked, 128, "the seed's tables have 128 rows");
}

#[test]
fn seed_profiles_match_the_tables() {
    assert_eq!(SEED_PROFILES.len(), SEED_TABLES.len());
    for (p, t) in SEED_PROFILES.iter().zip(SEED_TABLES) {
        assert_eq!(p.table, t.table);
        assert!(
            t.profile.starts_with(p.hardware),
            "{} vs {}",
            p.name,
            t.profile
        );
        let ha = if t.profile.contains("Active/Active") {
            HaType::ActiveActive
        } else {
            HaType::ActiveStandby
        };
        assert_eq!(p.ha, ha, "{}", p.name);
        assert_eq!(p.rate.to_string(), t.rate, "{}", p.name);
        assert_eq!(Some(p.max_users), t.rows.last().map(|r| r.0), "{}", p.name);
        assert_eq!(seed_profile(&p.name.to_uppercase()), Some(p));
    }
    assert_eq!(seed_profile("15000-xx"), None);
}

#[test]
fn worked_examples() {
    // 004:8223-8227: 2000 users, 15000-user profile, A/A -> 120 / 253.
    let p = seed_profile("15000-aa").expect("profile");
    let e1 = ReloginLimits::compute(2000, p.rate, TABLE_LOWER);
    assert_eq!((e1.lower, e1.upper), (120, 253));
    // 004:8239-8243: 4700 users rounded up to 5000 -> 120 / 953 (the A/S table's row).
    let p = seed_profile("5000-as").expect("profile");
    let e2 = ReloginLimits::compute(5000, p.rate, TABLE_LOWER);
    assert_eq!((e2.lower, e2.upper), (120, 953));
}

#[test]
fn rounds_half_up_not_to_even_nor_up() {
    let r16: LoginRate = "16".parse().expect("rate");
    assert_eq!(
        spread_secs(5000, r16),
        313,
        "312.5 rounds up (half to even would give 312)"
    );
    assert_eq!(
        spread_secs(100, r16),
        6,
        "6.25 rounds down (a ceiling would give 7)"
    );
    assert_eq!(spread_secs(0, r16), 0);
    let third: LoginRate = "1.5".parse().expect("rate");
    assert_eq!(spread_secs(500, third), 333, "333.33");
    assert!(spread_secs(u64::MAX, third) > 0, "no overflow");
}

#[test]
fn service_down_delay_sets_the_lower_limit() {
    let r: LoginRate = "15".parse().expect("rate");
    let l = ReloginLimits::compute(2000, r, SERVICE_DOWN_DELAY_DEFAULT);
    assert_eq!((l.lower, l.upper, l.spread()), (90, 223, 133));
    assert_eq!(
        l.expected_arrival_rate().map(|x| (x * 100.0).round()),
        Some(1504.0)
    );
    assert_eq!(
        ReloginLimits::compute(0, r, 90).expected_arrival_rate(),
        None
    );
}

#[test]
fn parses_and_prints_rates_exactly() {
    for (text, micro, shown) in [
        ("15", 15_000_000, "15"),
        ("1.5", 1_500_000, "1.5"),
        ("0.25", 250_000, "0.25"),
        (".5", 500_000, "0.5"),
        ("3.000", 3_000_000, "3"),
        ("0.000001", 1, "0.000001"),
        (" 16 ", 16_000_000, "16"),
    ] {
        let r: LoginRate = text.parse().expect(text);
        assert_eq!(
            (r.micros(), r.to_string().as_str()),
            (micro, shown),
            "{text}"
        );
    }
    for bad in ["", ".", "abc", "-1", "1e3", "1.5/s", "1,5"] {
        assert!(
            matches!(bad.parse::<LoginRate>(), Err(RateError::Syntax(_))),
            "{bad:?}"
        );
    }
    assert_eq!("0".parse::<LoginRate>(), Err(RateError::Zero));
    assert_eq!("0.0".parse::<LoginRate>(), Err(RateError::Zero));
    assert!(matches!(
        "0.0000001".parse::<LoginRate>(),
        Err(RateError::Range(_))
    ));
    assert!(matches!(
        "99999999999999999".parse::<LoginRate>(),
        Err(RateError::Range(_))
    ));
}

#[test]
fn renders_a_table_and_json() {
    let l = ReloginLimits::compute(2000, "15".parse().expect("rate"), 120);
    let text = l.render();
    let mut lines = text.lines();
    let head = lines.next().expect("header");
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert!(head.contains("Lower retry limit") && head.contains("Upper retry limit"));
    assert_eq!(row, ["2000", "15", "120", "253"]);
    let json = serde_json::to_value(l).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"users": 2000, "rate_per_second": 15.0, "lower_secs": 120, "upper_secs": 253})
    );
    let full = l.to_json(seed_profile("15000-aa"));
    assert_eq!(full["spread_secs"], 133);
    assert_eq!(full["service_down_delay_secs"], 120);
    assert_eq!(full["profile"], "15000-aa");
    assert_eq!(l.to_json(None)["profile"], serde_json::Value::Null);
}
