//! `impress ha-profile`: the seed's HA client re-login limits from the real binary, as a
//! table and as JSON, and its usage errors (exit 2).

use crate::common::{impress, text};
use impress::ha::profile::{SEED_PROFILES, TABLE_LOWER};

/// Runs `impress ha-profile ARGS --json` and returns the parsed output.
fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["ha-profile", "--json"];
    all.extend_from_slice(args);
    let out = impress(&all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("ha-profile --json prints JSON")
}

#[test]
fn prints_the_seed_worked_example_as_a_table() {
    // Seed 004 Example 1: 2000 users, 15000-user active/active profile -> 120 / 253.
    let out = impress(&["ha-profile", "--users", "2000", "--rate", "15"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let head = lines.next().expect("header line");
    assert!(head.contains("Lower retry limit") && head.contains("Upper retry limit"));
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(row, ["2000", "15", "120", "253"], "{stdout}");
}

#[test]
fn every_seed_profile_gives_its_tables_last_row() {
    for p in SEED_PROFILES {
        let users = p.max_users.to_string();
        let v = json(&["--users", &users, "--profile", p.name]);
        let spread = (p.max_users as f64 / p.rate.per_second()).round() as u64;
        assert_eq!(v["lower_secs"], TABLE_LOWER, "{}", p.name);
        assert_eq!(v["upper_secs"], TABLE_LOWER + spread, "{}", p.name);
        assert_eq!(v["profile"], p.name);
    }
    // Spot values straight from the seed's tables (Tables 61, 67, 70, 71).
    for (profile, users, upper) in [
        ("500-as", "500", 453),
        ("5000-as", "5000", 953),
        ("25000-aa", "12500", 1509),
        ("25000-as", "100", 126),
        ("25000-as", "25000", 1683),
    ] {
        let v = json(&["--users", users, "--profile", profile]);
        assert_eq!(v["upper_secs"], upper, "{profile} {users}");
    }
}

#[test]
fn service_down_delay_moves_the_lower_limit() {
    let v = json(&[
        "--users",
        "2000",
        "--rate",
        "15",
        "--service-down-delay",
        "90s",
    ]);
    assert_eq!(v["service_down_delay_secs"], 90);
    assert_eq!(
        (v["lower_secs"].as_u64(), v["upper_secs"].as_u64()),
        (Some(90), Some(223))
    );
    assert_eq!(v["spread_secs"], 133);
    assert_eq!(v["rate_per_second"], 15.0);
    let v = json(&[
        "--users",
        "500",
        "--rate",
        "1.5",
        "--service-down-delay",
        "2m",
    ]);
    assert_eq!(
        (v["lower_secs"].as_u64(), v["upper_secs"].as_u64()),
        (Some(120), Some(453))
    );
}

#[test]
fn usage_errors_exit_2() {
    for (args, says) in [
        (vec!["--users", "10"], "--rate"),
        (vec!["--users", "10", "--rate", "0"], "greater than 0"),
        (vec!["--users", "10", "--rate", "fast"], "not a login rate"),
        (
            vec!["--users", "10", "--rate", "3", "--profile", "500-aa"],
            "cannot be used",
        ),
        (
            vec!["--users", "10", "--profile", "500-xx"],
            "unknown profile",
        ),
        (
            vec![
                "--users",
                "10",
                "--rate",
                "3",
                "--service-down-delay",
                "1.5s",
            ],
            "whole number of seconds",
        ),
        (vec!["--users", "-5", "--rate", "3"], "--users"),
    ] {
        let mut all = vec!["ha-profile"];
        all.extend_from_slice(&args);
        let out = impress(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
}
