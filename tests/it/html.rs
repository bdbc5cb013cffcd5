//! `report.html` of a real run, rendered by headless Chromium (Debian's `chromium`, which
//! scripts/install-targets.sh installs): the rendered DOM has the plots, the failure with
//! its quote, and the server's raw XML as text, never as elements. A screenshot is saved
//! under `target/test-output/` for people to look at.

use crate::common::{root, run, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The check prosody-no-ping violates; its transcript holds `<iq type='error'…>`.
const PING: &str = "xmpp/xep-0199/4.2-server-ping";

/// Runs headless Chromium with `args` on `page`, with a fresh profile and no background
/// traffic (the network here refuses it); returns stdout. Killed after a minute.
fn chromium(page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = tempfile::NamedTempFile::new().expect("stdout file");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(out.reopen().expect("stdout handle"))
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium runs (scripts/install-targets.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(out.path()).expect("chromium output")
}

/// DOM serialization escapes text like this.
fn as_dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn output_dir() -> PathBuf {
    let dir = root().join("target").join("test-output").join("html");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test output dir");
    dir
}

/// What the rendered page must show.
fn assert_dom(dom: &str) {
    assert!(
        dom.contains("impress report"),
        "rendered: {}",
        dom.chars().take(500).collect::<String>()
    );
    // One figure with two plots per operation, and the three time series.
    for op in [
        "login",
        "roster",
        "subscribe",
        "presence",
        "message",
        "ping",
        "disco",
        "logout",
    ] {
        let at = dom
            .find(&format!("data-op=\"{op}\""))
            .unwrap_or_else(|| panic!("no plot for {op}"));
        let figure = &dom[at..dom[at..].find("</figure>").map_or(dom.len(), |e| at + e)];
        assert_eq!(figure.matches("<svg").count(), 2, "{op}: two plots");
        assert!(figure.contains("<polyline"), "{op}: plotted data");
    }
    assert!(dom.matches("<svg").count() >= 8 * 2 + 3);
    // The failure with its quote, expected/actual and transcript.
    let check = impress::checks::find(PING).expect("catalogue has the check");
    assert!(dom.contains(&format!("id=\"finding-{}\"", PING.replace(['/', '.'], "-"))));
    assert!(
        dom.contains(&as_dom_text(check.quote)),
        "the quote is shown"
    );
    assert!(dom.contains("<span class=\"badge fail\">fail</span>"));
    // The server's raw XML is text: escaped in the DOM, never an element.
    assert!(
        dom.contains("&lt;iq type='error'"),
        "transcript shown escaped"
    );
    assert!(!dom.contains("<iq"), "server XML became markup");
    assert!(!dom.to_lowercase().contains("<script"));
}

#[test]
fn report_html_renders_plots_failure_and_escaped_server_xml() {
    let dir = output_dir();
    let out = run(
        "tests/it/data/mini.toml",
        "fixtures/targets/violations/prosody-no-ping.toml",
        &dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let page = dir.join("report.html");
    let raw = std::fs::read_to_string(&page).expect("report.html written");
    // Self-contained: no source, link or CSS url to fetch; links are in-page anchors.
    for fetch in [" src=", "<link", "url(", "@import", "href=\"http"] {
        assert!(!raw.contains(fetch), "report.html would fetch: {fetch}");
    }

    assert_dom(&chromium(&page, &["--dump-dom"]));

    let shot = dir.join("report.png");
    chromium(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,2000",
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    println!("screenshot: {}", shot.display());
}
