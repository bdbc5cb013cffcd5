//! Hostile servers: a scripted XMPP server on loopback logs every user in (plaintext, SASL
//! PLAIN), then misbehaves towards `user2` only, while `user1` and `user3` get a
//! well-behaved session. For each behaviour the real binary must end within its timeouts
//! with exit 1 (or 3 when nobody could log in), never a crash; `report.json` must name the
//! cause in `errors`; the other users' pings must still pass; and a server streaming 50 MiB
//! into one stanza must not raise impress's peak RSS by more than [`RSS_BOUND`].
//! A server acknowledging more XEP-0198 stanzas than were sent gets a failed verdict.

use crate::common::{report, run_watched, text};
use base64::Engine as _;
use impress::proto::xmpp::{Element, Frame, Framer, FramerConfig, NsContext, element};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// The user the server misbehaves towards.
const VICTIM: &str = "user2";

/// Longest a hostile run may take: login, ping (2 s timeout each), and a wide margin.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Most impress's peak RSS may exceed a well-behaved run's while a server streams 50 MiB
/// into one stanza (README "Limits and safety": the framer holds at most
/// `max_stanza_bytes`, 1 MiB by default, per session).
const RSS_BOUND: u64 = 32 * 1024 * 1024;

/// Bytes the endless-stanza server tries to send.
const ENDLESS_BYTES: usize = 50 * 1024 * 1024;

const SUITE: &str = r#"
name = "hostile"
checks = ["xmpp/xep-0199/4.2-server-ping"]
[timeouts]
connect = "2s"
response = "2s"
delivery = "2s"
[[fleet]]
name = "f"
protocol = "xmpp"
users = 3
[[step]]
do = "login"
[[step]]
do = "ping"
"#;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='example.test' id='s1' version='1.0'>";

/// What the server does to the victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Well-behaved for everyone.
    None,
    /// A DOCTYPE with an entity declaration before the stream header after SASL.
    Doctype,
    /// A reference to an undeclared entity in the ping result.
    Entity,
    /// A ping result that never ends: text until [`ENDLESS_BYTES`] or the client leaves.
    Endless,
    /// 100 000 nested elements in the ping result.
    Nested,
    /// Invalid UTF-8 in the ping result.
    BadUtf8,
    /// Never answers the ping, keeps the connection open.
    Silent,
    /// Character data right after the stream header after SASL.
    Garbage,
    /// Says nothing at all to anyone, keeps every connection open.
    Mute,
    /// Answers XEP-0198 `<r/>` with an `h` beyond anything the client sent (2^32 - 1).
    AckOutOfRange,
}

/// One client connection: impress's own framer cuts what the client sends.
struct Conn {
    io: TcpStream,
    framer: Framer,
    user: String,
    /// Stanzas handled since XEP-0198 was enabled (`None`: not enabled).
    handled: Option<u32>,
}

impl Conn {
    fn frame(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(f) = self.framer.next_frame().ok()? {
                return Some(f);
            }
            let n = self.io.read(&mut buf).ok().filter(|n| *n > 0)?;
            self.framer.feed(&buf[..n]).ok()?;
        }
    }

    fn element(&mut self) -> Option<Element> {
        match self.frame()? {
            Frame::Element { raw } => element::parse(&raw, &NsContext::client()).ok(),
            _ => None,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Option<()> {
        self.io.write_all(bytes).ok()
    }

    /// Waits for the client's stream header (after a restart when `restart`).
    fn header(&mut self, restart: bool) -> Option<()> {
        if restart {
            self.framer.restart();
        }
        matches!(self.frame()?, Frame::Open { .. }).then_some(())
    }

    /// Reads and drops everything until the client leaves.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while matches!(self.io.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Runs the script on one connection; `None` when the client went away.
fn serve(io: TcpStream, b: Behaviour) -> Option<()> {
    let mut c = Conn {
        io,
        framer: Framer::new(FramerConfig::default()),
        user: String::new(),
        handled: None,
    };
    c.header(false)?;
    if b == Behaviour::Mute {
        c.drain();
        return None;
    }
    let mechs = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
        <mechanism>PLAIN</mechanism></mechanisms>";
    c.send(format!("{HEADER}<stream:features>{mechs}</stream:features>").as_bytes())?;
    let auth = c.element()?;
    let plain = base64::engine::general_purpose::STANDARD
        .decode(auth.text().trim())
        .ok()?;
    c.user = String::from_utf8_lossy(plain.split(|b| *b == 0).nth(1)?).into_owned();
    let b = if c.user == VICTIM { b } else { Behaviour::None };
    c.send(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")?;
    c.header(true)?;
    let bind = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
        <sm xmlns='urn:xmpp:sm:3'/></stream:features>";
    match b {
        Behaviour::Doctype => {
            c.send(b"<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY lol 'lol'>]>")?;
            c.send(HEADER.as_bytes())?;
            c.drain();
            return None;
        }
        Behaviour::Garbage => {
            c.send(format!("{HEADER}garbage, not XML{bind}").as_bytes())?;
            c.drain();
            return None;
        }
        _ => c.send(format!("{HEADER}{bind}").as_bytes())?,
    }
    loop {
        let el = match c.frame()? {
            Frame::Element { raw } => element::parse(&raw, &NsContext::client()).ok()?,
            Frame::Close { .. } => return c.send(b"</stream:stream>"),
            Frame::Open { .. } => return None,
        };
        if el.ns == SM {
            stream_management(&mut c, &el, b)?;
            continue;
        }
        if let Some(h) = c.handled.as_mut() {
            *h = h.wrapping_add(1);
        }
        if el.name != "iq" || !matches!(el.attr("type"), Some("get" | "set")) {
            continue;
        }
        let id = el.attr("id").unwrap_or_default().to_owned();
        let payload = el.children().next().map(|p| (p.name.clone(), p.ns.clone()));
        let reply = match payload.as_ref().map(|(n, ns)| (n.as_str(), ns.as_str())) {
            Some(("bind", _)) => format!(
                "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
                 <jid>{}@example.test/impress</jid></bind></iq>",
                c.user
            ),
            Some(("query", "jabber:iq:roster")) => {
                format!("<iq type='result' id='{id}'><query xmlns='jabber:iq:roster'/></iq>")
            }
            Some(("ping", _)) if !matches!(b, Behaviour::None | Behaviour::AckOutOfRange) => {
                return misbehave(&mut c, b, &id);
            }
            _ => format!("<iq type='result' id='{id}'/>"),
        };
        c.send(reply.as_bytes())?;
    }
}

const SM: &str = "urn:xmpp:sm:3";

/// XEP-0198 `<enable/>` and `<r/>`; the victim gets an impossible `h`.
fn stream_management(c: &mut Conn, el: &Element, b: Behaviour) -> Option<()> {
    match el.name.as_str() {
        "enable" => {
            c.handled = Some(0);
            c.send(format!("<enabled xmlns='{SM}' id='sm-{}' resume='true'/>", c.user).as_bytes())
        }
        "r" => {
            let h = match b {
                Behaviour::AckOutOfRange => u32::MAX,
                _ => c.handled.unwrap_or(0),
            };
            c.send(format!("<a xmlns='{SM}' h='{h}'/>").as_bytes())
        }
        _ => Some(()),
    }
}

/// The victim's ping result, per behaviour.
fn misbehave(c: &mut Conn, b: Behaviour, id: &str) -> Option<()> {
    let open = format!("<iq type='result' id='{id}'>");
    match b {
        Behaviour::Entity => c.send(format!("{open}<x>&lol;</x></iq>").as_bytes())?,
        Behaviour::BadUtf8 => {
            c.send(open.as_bytes())?;
            c.send(b"<x>caf\xc3\x28 \xff\xfe</x></iq>")?;
        }
        Behaviour::Nested => {
            c.send(open.as_bytes())?;
            c.send("<a>".repeat(100_000).as_bytes())?;
        }
        Behaviour::Endless => {
            c.send(format!("{open}<x>").as_bytes())?;
            let chunk = vec![b'A'; 64 * 1024];
            for _ in 0..ENDLESS_BYTES / chunk.len() {
                c.send(&chunk)?;
            }
        }
        _ => {}
    }
    c.drain();
    None
}

/// A scripted server on a free loopback port, one thread per connection, for the life of
/// the test process.
fn server(b: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        for io in listener.incoming().flatten() {
            std::thread::spawn(move || serve(io, b));
        }
    });
    addr
}

/// Runs `impress run` against the scripted server; returns its output, peak RSS and time.
fn run_against(b: Behaviour, out: &Path) -> (Output, u64, Duration) {
    run_suite_against(b, SUITE, out)
}

/// [`run_against`] with another suite.
fn run_suite_against(b: Behaviour, suite_text: &str, out: &Path) -> (Output, u64, Duration) {
    let addr = server(b);
    let suite = out.join("suite.toml");
    let target = out.join("target.toml");
    std::fs::write(&suite, suite_text).expect("write suite");
    let t = format!(
        "name = \"hostile {b:?}\"\ndomain = \"example.test\"\n[[node]]\nhost = \"127.0.0.1\"\n\
         port = {}\n[tls]\nmode = \"plaintext\"\nallow_plain = true\n[accounts]\n\
         password = \"pw\"\n",
        addr.port()
    );
    std::fs::write(&target, t).expect("write target");
    let report_dir = out.join("report");
    run_watched(&suite, &target, &report_dir, RUN_LIMIT)
}

/// Runs one behaviour and checks the common promises; returns the peak RSS.
fn hostile(b: Behaviour, cause: &str) -> u64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, peak, elapsed) = run_against(b, dir.path());
    let msg = text(&out);
    eprintln!(
        "{b:?}: exit {:?} in {elapsed:?}, peak RSS {} KiB",
        out.status.code(),
        peak / 1024
    );
    let r = report(&dir.path().join("report"));
    let errors: Vec<String> = r
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.subject, e.message))
        .collect();
    let want = if b == Behaviour::None { 0 } else { 1 };
    assert_eq!(
        out.status.code(),
        Some(want),
        "{b:?}: {msg}\n{:?} {:?}\n{errors:#?}",
        r.status_reason,
        r.ops
    );
    if b != Behaviour::None {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("{VICTIM}/")) && e.contains(cause)),
            "{b:?}: no error of {VICTIM} naming {cause:?}: {errors:#?}"
        );
    }
    assert!(
        errors.iter().all(|e| e.starts_with(&format!("{VICTIM}/"))),
        "{b:?}: users other than {VICTIM} hit errors: {errors:#?}"
    );
    // user1 and user3 still pinged: the rest of the fleet kept running.
    let want_pings = if b == Behaviour::None { 3 } else { 2 };
    assert_eq!(r.ops["ping"].count, want_pings, "{b:?}: {:?}", r.ops);
    peak
}

#[test]
fn well_behaved_script_passes() {
    hostile(Behaviour::None, "");
}

#[test]
fn doctype_and_entity_declarations_are_refused() {
    hostile(Behaviour::Doctype, "document type declaration is forbidden");
}

#[test]
fn undefined_entity_reference_is_refused() {
    hostile(
        Behaviour::Entity,
        "undefined entity references are forbidden",
    );
}

#[test]
fn nesting_100000_deep_is_refused() {
    hostile(Behaviour::Nested, "nesting exceeds depth 128");
}

#[test]
fn invalid_utf8_is_refused() {
    hostile(Behaviour::BadUtf8, "invalid utf-8");
}

#[test]
fn server_silent_mid_stream_times_out() {
    hostile(Behaviour::Silent, "no response before the timeout");
}

#[test]
fn garbage_after_stream_header_is_refused() {
    hostile(Behaviour::Garbage, "character data outside a stanza");
}

#[test]
fn endless_stanza_is_cut_with_bounded_memory() {
    let control = hostile(Behaviour::None, "");
    let peak = hostile(Behaviour::Endless, "frame exceeds 1048576 bytes");
    assert!(
        peak < control + RSS_BOUND,
        "peak RSS {} KiB against {} KiB for a well-behaved run (bound +{} KiB)",
        peak / 1024,
        control / 1024,
        RSS_BOUND / 1024
    );
}

#[test]
fn no_response_at_all_is_an_invalid_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, _, elapsed) = run_against(Behaviour::Mute, dir.path());
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(3), "{msg}");
    let r = report(&dir.path().join("report"));
    assert_eq!(r.status, impress::report::RunStatus::Invalid);
    assert!(
        r.errors.iter().any(|e| e
            .message
            .contains("timed out waiting for the response stream header")),
        "{:#?}",
        r.errors
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

/// XEP-0198 `h` out of range: the victim's `<a/>` acknowledges 2^32 - 1 stanzas. The ack
/// check fails for that session only, with the server's bytes as evidence; nobody else is
/// affected and the run ends normally.
#[test]
fn sm_ack_h_out_of_range_is_a_failed_verdict() {
    let suite = SUITE.replace(
        "[[step]]\ndo = \"ping\"",
        "[[step]]\ndo = \"sm-enable\"\n[[step]]\ndo = \"ping\"\n[[step]]\ndo = \"sm-ack\"",
    );
    let suite = suite.replace(
        "checks = [\"xmpp/xep-0199/4.2-server-ping\"]",
        "checks = [\"xmpp/xep-0199/4.2-server-ping\", \"xmpp/xep-0198/4-ack-h\"]",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, _, elapsed) = run_suite_against(Behaviour::AckOutOfRange, &suite, dir.path());
    let msg = text(&out);
    eprintln!("AckOutOfRange: exit {:?} in {elapsed:?}", out.status.code());
    assert_eq!(out.status.code(), Some(1), "{msg}");
    let r = report(&dir.path().join("report"));
    let v = r
        .verdicts
        .iter()
        .find(|v| v.id == "xmpp/xep-0198/4-ack-h")
        .expect("ack verdict");
    assert_eq!(v.verdict, impress::checks::Verdict::Fail, "{msg}");
    assert_eq!(
        v.tally.get(&impress::checks::Verdict::Pass),
        Some(&2),
        "{v:?}"
    );
    assert_eq!(v.subject.as_deref(), Some("user2/impress"), "{v:?}");
    assert!(
        v.actual
            .as_deref()
            .unwrap_or_default()
            .contains("4294967295"),
        "{v:?}"
    );
    assert!(v.transcript.as_ref().is_some_and(|t| !t.lines.is_empty()));
    assert_eq!(r.ops["ping"].count, 3, "{:?}", r.ops);
}
