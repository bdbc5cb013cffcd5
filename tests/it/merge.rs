//! Sharding end to end against one real Prosody shared by every generator (`impress
//! serve`): three `impress run --shard i/3 --start-at T` processes at once, then
//! `impress merge`; the merged report adds up the shards and equals an unsharded run of
//! the same suite in everything deterministic (users, operation counts, message
//! accounting, counters, verdicts).

use crate::common::{impress, report, text};
use impress::checks::Verdict;
use impress::report::{RunReport, RunStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bound for readiness and exit; a hang fails the test instead of blocking CI.
const PATIENCE: Duration = Duration::from_secs(180);

/// 12 users from FIRST on: log in paced, pair up, chat, a constant-rate open load of
/// messages (rate divided among shards), log out. Subscriptions persist on the server,
/// so the sharded and the unsharded run use distinct accounts.
const SUITE: &str = r#"name = "sharded chat"
seed = 7

[[fleet]]
name = "chat"
protocol = "xmpp"
users = 12
first = FIRST

[report]
interval = "500ms"

[[step]]
do = "login"
rate = 40

[[step]]
do = "subscribe"
pairs = "adjacent"

[[step]]
do = "message"
to = "partner.bare"
count = 2
every = "50ms"

[[step]]
do = "load"
model = "open"
action = "message"
arrival = "constant"
rate = 24
duration = "1s"

[[step]]
do = "logout"
"#;

/// Stops the serve process (SIGTERM) if the test fails before it does.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let _ = wait(&mut self.0);
        }
    }
}

fn wait(child: &mut Child) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < PATIENCE {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    None
}

fn start_serve(dir: &Path) -> (Serve, PathBuf) {
    let info = dir.join("serve.json");
    let child = Command::new(env!("CARGO_BIN_EXE_impress"))
        .args(["serve", "managed:prosody", "--accounts", "24", "--info"])
        .arg(&info)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("impress serve starts");
    let mut serve = Serve(child);
    let t0 = Instant::now();
    while !info.is_file() {
        assert!(t0.elapsed() < PATIENCE, "no info file");
        if let Ok(Some(s)) = serve.0.try_wait() {
            panic!("impress serve exited early: {s}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&info).unwrap()).unwrap();
    let target = PathBuf::from(v["plaintext_target_file"].as_str().expect("target file"));
    (serve, target)
}

fn suite(dir: &Path, first: usize) -> PathBuf {
    let path = dir.join(format!("chat-{first}.toml"));
    std::fs::write(&path, SUITE.replace("FIRST", &first.to_string())).unwrap();
    path
}

fn run_args(suite: &Path, target: &Path, out: &Path) -> Vec<String> {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    vec![
        "run".into(),
        s(suite),
        "--target".into(),
        s(target),
        "--out".into(),
        s(out),
        "--quiet".into(),
    ]
}

/// Starts the three shards at once, all told to begin at the same instant.
fn run_shards(suite: &Path, target: &Path, dir: &Path) -> Vec<PathBuf> {
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(10);
    let at = format!("{:.3}", at.as_secs_f64());
    let outs: Vec<PathBuf> = (1..=3).map(|i| dir.join(format!("shard{i}"))).collect();
    let children: Vec<Child> = outs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            let mut args = run_args(suite, target, out);
            args.extend(["--shard".into(), format!("{}/3", i + 1)]);
            args.extend(["--start-at".into(), at.clone()]);
            Command::new(env!("CARGO_BIN_EXE_impress"))
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("impress run starts")
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().expect("shard finishes");
        assert_eq!(o.status.code(), Some(0), "shard {}: {}", i + 1, text(&o));
    }
    outs
}

fn verdicts(r: &RunReport) -> BTreeMap<String, Verdict> {
    r.verdicts
        .iter()
        .map(|v| (v.id.clone(), v.verdict))
        .collect()
}

fn counts(r: &RunReport) -> BTreeMap<String, (u64, u64)> {
    r.ops
        .iter()
        .filter(|(op, _)| op.as_str() != "scheduler_lag")
        .map(|(op, s)| (op.clone(), (s.count, s.errors)))
        .collect()
}

/// Values recorded in an interval log (`.hlog`), all intervals together.
fn hlog_count(path: &Path) -> u64 {
    use base64::Engine as _;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    IntervalLogIterator::new(&bytes)
        .filter_map(|e| match e.expect("log parses") {
            LogEntry::Interval(i) => Some(i.encoded_histogram().to_string()),
            _ => None,
        })
        .map(|b64| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut raw.as_slice())
                .unwrap();
            h.len()
        })
        .sum()
}

fn assert_adds_up(merged: &RunReport, shards: &[RunReport]) {
    assert_eq!(
        merged.run.users,
        shards.iter().map(|r| r.run.users).sum::<usize>()
    );
    assert_eq!(merged.run.merged_from.len(), 3);
    for (op, s) in &merged.ops {
        let sum: u64 = shards
            .iter()
            .filter_map(|r| r.ops.get(op))
            .map(|s| s.count)
            .sum();
        assert_eq!(s.count, sum, "{op}");
    }
    for (k, v) in &merged.counters {
        let sum: u64 = shards.iter().filter_map(|r| r.counters.get(k)).sum();
        assert_eq!(*v, sum, "counter {k}");
    }
    let sent: u64 = shards.iter().map(|r| r.accounting.total.sent).sum();
    let delivered: u64 = shards.iter().map(|r| r.accounting.total.delivered).sum();
    assert_eq!(merged.accounting.total.sent, sent);
    assert_eq!(merged.accounting.total.delivered, delivered);
    for v in &merged.verdicts {
        let worst = shards
            .iter()
            .flat_map(|r| {
                r.verdicts
                    .iter()
                    .filter(|w| w.id == v.id && !w.tally.is_empty())
            })
            .map(|w| w.verdict.severity())
            .max();
        if let Some(worst) = worst {
            assert_eq!(v.verdict.severity(), worst, "{}", v.id);
        }
        let tally: u64 = v.tally.values().sum();
        let shard_tally: u64 = shards
            .iter()
            .flat_map(|r| r.verdicts.iter().filter(|w| w.id == v.id))
            .flat_map(|w| w.tally.values())
            .sum();
        assert_eq!(tally, shard_tally, "{}", v.id);
    }
}

#[test]
fn three_shards_merge_into_what_one_generator_records() {
    if !Path::new("/usr/bin/prosody").is_file() {
        eprintln!("SKIPPED: prosody is not installed (run scripts/install-targets.sh)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut serve, target) = start_serve(dir);

    let shard_suite = suite(dir, 1);
    let outs = run_shards(&shard_suite, &target, dir);
    let shards: Vec<RunReport> = outs.iter().map(|d| report(d)).collect();
    for (i, r) in shards.iter().enumerate() {
        let s = r.run.shard.expect("shard recorded");
        assert_eq!((s.index, s.count), (i + 1, 3));
        assert_eq!(r.run.users, 4, "12 users in 3 slices");
        assert_eq!(r.run.start_at_unix_ms, shards[0].run.start_at_unix_ms);
        assert_eq!(r.run.interval_ms, 500);
        assert!(
            r.timeline.iter().any(|e| e.label == "start-at"),
            "{:?}",
            r.timeline
        );
    }

    let merged_dir = dir.join("merged");
    let mut args = vec!["merge", "--quiet", "--out", merged_dir.to_str().unwrap()];
    args.extend(outs.iter().map(|p| p.to_str().unwrap()));
    let o = impress(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let merged = report(&merged_dir);
    assert_eq!(merged.status, RunStatus::Passed);
    assert_adds_up(&merged, &shards);
    // The merged interval logs hold every value the shards recorded.
    for op in ["login", "message"] {
        let name = format!("{op}.hlog");
        let sum: u64 = outs.iter().map(|d| hlog_count(&d.join(&name))).sum();
        assert_eq!(hlog_count(&merged_dir.join(&name)), sum, "{op}");
        assert_eq!(merged.ops[op].count, sum, "{op}");
    }
    for f in ["report.html", "junit.xml", "service.hlog", "series.json"] {
        assert!(merged_dir.join(f).is_file(), "{f}");
    }

    // One generator, same suite, other accounts.
    let single_dir = dir.join("single");
    let o = impress(
        &run_args(&suite(dir, 13), &target, &single_dir)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let single = report(&single_dir);
    assert_eq!(merged.run.users, single.run.users);
    assert_eq!(merged.run.sessions, single.run.sessions);
    assert_eq!(counts(&merged), counts(&single));
    assert_eq!(merged.accounting.total, single.accounting.total);
    assert_eq!(verdicts(&merged), verdicts(&single));
    let deterministic = |r: &RunReport| {
        r.counters
            .iter()
            // The generator's own CPU time and copies that outran their step's judgement
            // depend on timing, not on the suite.
            .filter(|(k, _)| !matches!(k.as_str(), "generator_cpu_ms" | "copies_late"))
            .map(|(k, v)| (k.clone(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(deterministic(&merged), deterministic(&single));

    // What is not one run is refused, naming the problem (exit 2).
    let refused = |dirs: &[&PathBuf], want: &str| {
        let out = dir.join("refused");
        let mut args = vec!["merge", "--quiet", "--out", out.to_str().unwrap()];
        args.extend(dirs.iter().map(|p| p.to_str().unwrap()));
        let o = impress(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    };
    refused(&[&outs[0], &outs[0], &outs[1]], "given twice");
    refused(&[&outs[0], &outs[1]], "shards missing: 3/3");
    refused(&[&outs[0], &outs[1], &outs[2], &single_dir], "not a shard");

    assert!(
        Command::new("kill")
            .args(["-TERM", &serve.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    );
    assert_eq!(wait(&mut serve.0).and_then(|s| s.code()), Some(0));
}

#[test]
fn shard_and_start_at_are_checked_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let s = suite(tmp.path(), 1);
    let out = tmp.path().join("out");
    let base = run_args(&s, Path::new("managed:prosody"), &out);
    let try_run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(extra);
        impress(&args)
    };
    for (extra, want) in [
        (&["--shard", "4/3"][..], "not a shard"),
        (&["--start-at", "2001-01-01T00:00:00Z"][..], "in the past"),
        (&["--start-at", "soon"][..], "is not a time"),
        (&["--shard", "7/7"][..], "has no users"),
    ] {
        let o = try_run(extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{extra:?}: {}", text(&o));
        assert!(!out.join("report.json").exists(), "{extra:?} started a run");
    }
    let ring = tmp.path().join("ring.toml");
    std::fs::write(
        &ring,
        SUITE
            .replace("FIRST", "1")
            .replace("\"adjacent\"", "\"ring\""),
    )
    .unwrap();
    let o = impress(&[
        "run",
        ring.to_str().unwrap(),
        "--shard",
        "1/2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("ring"), "{}", text(&o));
}
