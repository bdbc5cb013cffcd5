//! `impress run --metrics-listen`: live Prometheus metrics while a run is in progress, from
//! a real run against managed Prosody, and the endpoint gone once the run ends.

use crate::common::root;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const SUITE: &str = r#"
name = "live metrics"
seed = 5

[[fleet]]
name = "pairs"
protocol = "xmpp"
users = 4

[[step]]
do = "login"

[[step]]
do = "subscribe"

[[step]]
do = "wait"
duration = "3s"

[[step]]
do = "logout"
"#;

/// One `GET /metrics`; `None` if nothing answers.
fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: impress\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn gauge(body: &str, name: &str) -> Option<i64> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Starts `impress run` with `--metrics-listen 127.0.0.1:0`; returns the process, the
/// address it serves (impress prints it on stderr) and the rest of stderr, drained on a
/// thread so a full pipe never blocks the run.
fn start(dir: &Path) -> (Child, SocketAddr, Receiver<String>) {
    let suite = dir.join("live.toml");
    std::fs::write(&suite, SUITE).expect("suite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_impress"))
        .args(["run", suite.to_str().expect("utf-8")])
        .args(["--metrics-listen", "127.0.0.1:0", "--out"])
        .arg(dir.join("report"))
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("impress runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = rx
        .iter()
        .find_map(|l| {
            l.strip_prefix("impress: live metrics on http://")
                .and_then(|rest| rest.strip_suffix("/metrics"))
                .and_then(|a| a.parse().ok())
        })
        .expect("impress names the metrics address");
    (child, addr, rx)
}

/// Scrapes until every session has logged in (the suite then waits 3 s); the last body.
fn scrape_until_logged_in(addr: SocketAddr) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(body) = scrape(addr) {
            let connected = gauge(&body, "impress_sessions_connected").unwrap_or(0);
            if connected > 0 && body.contains("impress_op_latency_us_count{op=\"login\"} 4") {
                return Ok(body);
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last)
}

#[test]
fn live_metrics_are_served_during_the_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (mut child, addr, stderr) = start(tmp.path());
    let seen = scrape_until_logged_in(addr);
    let status = child.wait().expect("impress exits");
    let body = seen.unwrap_or_else(|last| panic!("no live metrics with 4 logins; last: {last}"));
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(body.contains("text/plain; version=0.0.4"));
    assert_eq!(
        gauge(&body, "impress_sessions_connected"),
        Some(4),
        "{body}"
    );
    assert!(body.contains("impress_op_latency_us{op=\"login\",quantile=\"0.99\"} "));
    assert!(body.contains("impress_counter_total{name=\"sessions_connected\"} 4"));
    assert!(body.contains("# TYPE impress_op_latency_us summary"));
    let rest: Vec<String> = stderr.try_iter().collect();
    assert_eq!(status.code(), Some(0), "{}", rest.join("\n"));
    assert!(scrape(addr).is_none(), "the endpoint stops with the run");
}
