//! Hostile SIP servers: a scripted registrar on loopback (UDP and TCP on one port) registers
//! every user (200 OK echoing Via/From/To+tag/Call-ID/CSeq, Contact with expires), answers
//! MESSAGE 200 and forwards it to the addressee's registered contact, and misbehaves towards
//! `user3` only. `user1` and `user2` register, message each other and unregister, so every
//! test can check that the rest of the fleet kept going while the victim met: a wrong or
//! missing Content-Length, a 200 without To tag, a mismatched CSeq, a retransmission storm,
//! a 10 MiB message, or no answer at all. The real binary must end within its timeouts with
//! the exit code, error or verdict that names the server's fault, never a crash, and with
//! peak RSS within [`RSS_BOUND`] of a well-behaved run.

use crate::common::{report, run_watched, text};
use impress::checks::Verdict;
use impress::proto::sip::{Framer, FramerConfig, Message, Method, frame_datagram};
use impress::report::{RunReport, RunStatus};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The user the server misbehaves towards (it has no message partner among 3 users, so
/// `user1` ↔ `user2` traffic is independent of it).
const VICTIM: &str = "user3";

/// Longest a hostile run may take: register, message and unregister with 2 s timeouts
/// each, and a wide margin. Past it the test fails as a hang.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Most impress's peak RSS may exceed a well-behaved run's under a hostile server: less
/// than the 10 MiB message itself, so that message was never held whole (the framer keeps
/// at most `max_stanza_bytes`, 1 MiB by default, per connection).
const RSS_BOUND: u64 = 8 * 1024 * 1024;

/// Size of the oversized message.
const HUGE: usize = 10 * 1024 * 1024;

/// Copies of the same datagram in a retransmission storm.
const STORM: usize = 3000;

/// Call-ID of the MESSAGE request the storm repeats.
const STORM_CALL_ID: &str = "storm-1@127.0.0.1";

const SUITE: &str = r#"
name = "hostile sip"
[timeouts]
connect = "2s"
response = "2s"
delivery = "2s"
[[fleet]]
name = "phones"
protocol = "sip"
transport = "TRANSPORT"
users = 3
[[step]]
do = "sip-register"
expires = 300
[[step]]
do = "sip-message"
[[step]]
do = "sip-unregister"
"#;

/// What the server does to the victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Well-behaved for everyone.
    None,
    /// Content-Length 500 on an empty body: the message never ends.
    LongLength,
    /// Content-Length 2 on a longer body: the rest poisons the next message.
    ShortLength,
    /// No Content-Length at all (mandatory on streams, RFC 3261 §18.3).
    NoLength,
    /// A 200 OK whose To has no tag.
    NoToTag,
    /// A 200 OK whose CSeq number is one more than the request's.
    CSeqNumber,
    /// A 200 OK whose CSeq method is INVITE.
    CSeqMethod,
    /// The REGISTER 200 OK, then a MESSAGE request, each sent [`STORM`] times.
    Storm,
    /// A 200 OK announcing and sending a [`HUGE`] body.
    HugeBody,
    /// A 200 OK whose header block is [`HUGE`] bytes long.
    HugeHeaders,
    /// Never answers the victim.
    Silent,
    /// Never answers anyone.
    Mute,
}

/// Where a registered user is reached.
#[derive(Clone)]
enum Sink {
    Udp(Arc<UdpSocket>, SocketAddr),
    Tcp(Arc<Mutex<TcpStream>>),
}

impl Sink {
    fn send(&self, bytes: &[u8]) -> Option<()> {
        match self {
            Self::Udp(s, to) => s.send_to(bytes, to).ok().map(drop),
            Self::Tcp(s) => s.lock().ok()?.write_all(bytes).ok(),
        }
    }
}

/// The scripted registrar: its behaviour, bindings and what it saw of the victim.
struct Registrar {
    b: Behaviour,
    bindings: Mutex<HashMap<String, Sink>>,
    /// Requests received from the victim (retransmissions included).
    victim_requests: AtomicUsize,
    /// Responses the victim sent to the storm's MESSAGE (first answer plus replays).
    storm_answers: AtomicUsize,
    /// Whether the storm was started.
    stormed: AtomicBool,
    forwarded: AtomicUsize,
}

/// The user part of the From URI.
fn user_of(m: &Message) -> String {
    let uri = m.from().map(|f| f.uri).unwrap_or_default();
    let rest = uri.strip_prefix("sip:").unwrap_or(&uri);
    rest.split('@').next().unwrap_or_default().to_string()
}

/// Status line and the headers copied from the request (§8.2.6.2), with the victim's
/// To tag and CSeq spoiled per behaviour; no Content-Length.
fn head(req: &Message, status: &str, b: Behaviour) -> String {
    let mut s = format!("SIP/2.0 {status}\r\n");
    for via in req.header_values("Via") {
        s += &format!("Via: {via}\r\n");
    }
    let to = req.header("To").unwrap_or_default();
    let to = match b {
        Behaviour::NoToTag => to.to_string(),
        _ if req.to_tag().is_some() => to.to_string(),
        _ => format!("{to};tag=srv-{}", user_of(req)),
    };
    let cseq = req.cseq().map(|c| (c.seq, c.method.as_str().to_string()));
    let (seq, method) = cseq.unwrap_or((0, String::new()));
    let cseq = match b {
        Behaviour::CSeqNumber => format!("{} {method}", seq + 1),
        Behaviour::CSeqMethod => format!("{seq} INVITE"),
        _ => format!("{seq} {method}"),
    };
    s += &format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n",
        req.header("From").unwrap_or_default(),
        req.call_id()
    );
    let expires = req.header("Expires").unwrap_or("300").trim();
    if req.method() == Some(&Method::Register) && expires != "0" {
        let contact = req.header("Contact").unwrap_or_default();
        s += &format!("Contact: {contact};expires={expires}\r\n");
    }
    s
}

/// The complete response to `req` under behaviour `b` (the huge ones are streamed).
fn response(req: &Message, b: Behaviour) -> Vec<u8> {
    let head = head(req, "200 OK", b);
    let tail = match b {
        Behaviour::LongLength => "Content-Length: 500\r\n\r\n",
        Behaviour::ShortLength => {
            "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nv=0\r\no=the rest\r\n"
        }
        Behaviour::NoLength => "\r\n",
        _ => "Content-Length: 0\r\n\r\n",
    };
    format!("{head}{tail}").into_bytes()
}

/// Streams a [`HUGE`] 200 OK: an announced body, or filler header lines.
fn huge(req: &Message, b: Behaviour, sink: &Sink) -> Option<()> {
    let head = head(req, "200 OK", b);
    let line = format!("X-Filler: {}\r\n", "A".repeat(1014));
    let chunk = match b {
        Behaviour::HugeBody => {
            sink.send(format!("{head}Content-Length: {HUGE}\r\n\r\n").as_bytes())?;
            vec![b'A'; 64 * 1024]
        }
        _ => {
            sink.send(head.as_bytes())?;
            line.repeat(64).into_bytes()
        }
    };
    for _ in 0..HUGE / chunk.len() {
        sink.send(&chunk)?;
    }
    sink.send(b"Content-Length: 0\r\n\r\n")
}

/// A MESSAGE from the registrar to `to` (forwarded or repeated in a storm).
fn message_to(to: &str, from: &str, call_id: &str, branch: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "MESSAGE sip:{to}@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch={branch}\r\n\
         Max-Forwards: 69\r\nFrom: {from}\r\nTo: <sip:{to}@example.test>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

impl Registrar {
    /// Handles one message from `user`'s connection or address.
    fn on_message(&self, m: &Message, sink: &Sink) -> Option<()> {
        let user = user_of(m);
        let victim = user == VICTIM;
        if !m.is_request() {
            if m.call_id() == STORM_CALL_ID {
                self.storm_answers.fetch_add(1, Ordering::Relaxed);
            }
            return Some(());
        }
        if victim {
            self.victim_requests.fetch_add(1, Ordering::Relaxed);
        }
        let b = if victim { self.b } else { Behaviour::None };
        if matches!(b, Behaviour::Silent | Behaviour::Mute) || self.b == Behaviour::Mute {
            return Some(());
        }
        if m.method() == Some(&Method::Register)
            && let Ok(mut bs) = self.bindings.lock()
        {
            bs.insert(user.clone(), sink.clone());
        }
        if m.method() == Some(&Method::Message) {
            self.forward(m);
        }
        match b {
            Behaviour::HugeBody | Behaviour::HugeHeaders => huge(m, b, sink),
            // Once: the victim's REGISTER retransmissions get a plain 200.
            Behaviour::Storm if !self.stormed.swap(true, Ordering::Relaxed) => {
                storm(response(m, b), sink.clone());
                Some(())
            }
            _ => sink.send(&response(m, b)),
        }
    }

    /// Sends a MESSAGE on to the addressee's registered contact, body unchanged.
    fn forward(&self, m: &Message) {
        let to = m.to().map(|t| t.uri).unwrap_or_default();
        let to = to.strip_prefix("sip:").unwrap_or(&to);
        let to = to.split('@').next().unwrap_or_default();
        let sink = self.bindings.lock().ok().and_then(|b| b.get(to).cloned());
        let n = self.forwarded.fetch_add(1, Ordering::Relaxed);
        let from = m.header("From").unwrap_or_default();
        let (call_id, branch) = (format!("fwd-{n}@127.0.0.1"), format!("z9hG4bK-fwd-{n}"));
        if let Some(s) = sink {
            s.send(&message_to(to, from, &call_id, &branch, m.body()));
        }
    }
}

/// On a separate thread, so the registrar keeps reading (the victim's answers to the storm
/// arrive on the same socket): one MESSAGE request, then the REGISTER 200 OK, [`STORM`]
/// times each. The 200 comes last so the victim is still running while the MESSAGEs land.
fn storm(ok: Vec<u8>, sink: Sink) {
    std::thread::spawn(move || {
        let from = "<sip:storm@example.test>;tag=storm";
        let msg = message_to(VICTIM, from, STORM_CALL_ID, "z9hG4bK-storm", b"storm");
        for bytes in [msg, ok] {
            for _ in 0..STORM {
                sink.send(&bytes)?;
            }
        }
        Some(())
    });
}

/// Reads datagrams until the test process ends.
fn serve_udp(reg: Arc<Registrar>, sock: Arc<UdpSocket>) {
    let cfg = FramerConfig::default();
    let mut buf = vec![0u8; 65_535];
    while let Ok((n, from)) = sock.recv_from(&mut buf) {
        let Ok(Some(bytes)) = frame_datagram(&buf[..n], &cfg) else {
            continue;
        };
        if let Ok(m) = Message::parse(bytes) {
            reg.on_message(&m, &Sink::Udp(sock.clone(), from));
        }
    }
}

/// Frames one TCP connection with impress's own framer until the client leaves.
fn serve_tcp(reg: Arc<Registrar>, io: TcpStream) -> Option<()> {
    let sink = Sink::Tcp(Arc::new(Mutex::new(io.try_clone().ok()?)));
    let mut io = io;
    let mut framer = Framer::new(FramerConfig::default());
    let mut buf = [0u8; 16 * 1024];
    loop {
        while let Some(frame) = framer.next_frame().ok()? {
            if let Ok(m) = Message::parse(frame) {
                reg.on_message(&m, &sink)?;
            }
        }
        let n = io.read(&mut buf).ok().filter(|n| *n > 0)?;
        framer.feed(&buf[..n]).ok()?;
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("udp addr").port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// Starts the scripted registrar for the life of the test process.
fn server(b: Behaviour) -> (SocketAddr, Arc<Registrar>) {
    let (udp, tcp) = bind_pair();
    let addr = udp.local_addr().expect("local addr");
    let reg = Arc::new(Registrar {
        b,
        bindings: Mutex::new(HashMap::new()),
        victim_requests: AtomicUsize::new(0),
        storm_answers: AtomicUsize::new(0),
        stormed: AtomicBool::new(false),
        forwarded: AtomicUsize::new(0),
    });
    let r = reg.clone();
    std::thread::spawn(move || serve_udp(r, Arc::new(udp)));
    let r = reg.clone();
    std::thread::spawn(move || {
        for io in tcp.incoming().flatten() {
            let r = r.clone();
            std::thread::spawn(move || serve_tcp(r, io));
        }
    });
    (addr, reg)
}

/// One finished run against the scripted registrar.
struct Run {
    out: Output,
    report: RunReport,
    peak: u64,
    elapsed: Duration,
    reg: Arc<Registrar>,
    /// Every `subject: message` of `report.json` errors.
    errors: Vec<String>,
}

/// Runs `impress run` over `transport` against a registrar behaving as `b`.
fn run_against(b: Behaviour, transport: &str, dir: &Path) -> Run {
    let (addr, reg) = server(b);
    let suite = dir.join("suite.toml");
    let target = dir.join("target.toml");
    std::fs::write(&suite, SUITE.replace("TRANSPORT", transport)).expect("write suite");
    let t = format!(
        "name = \"hostile sip {b:?}\"\ndomain = \"example.test\"\n[[node]]\n\
         host = \"127.0.0.1\"\nport = {}\n[accounts]\npassword = \"pw\"\n",
        addr.port()
    );
    std::fs::write(&target, t).expect("write target");
    let report_dir = dir.join("report");
    let (out, peak, elapsed) = run_watched(&suite, &target, &report_dir, RUN_LIMIT);
    let report = report(&report_dir);
    let errors = report
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.subject, e.message))
        .collect();
    eprintln!(
        "{b:?} over {transport}: exit {:?} in {elapsed:?}, peak RSS {} KiB, errors {errors:?}",
        out.status.code(),
        peak / 1024
    );
    Run {
        out,
        report,
        peak,
        elapsed,
        reg,
        errors,
    }
}

/// Runs one behaviour and checks the common promises: exit `code`; when `cause` is given,
/// an error of the victim naming it; nobody else hit an error; `user1` and `user2`
/// registered, messaged each other (both messages delivered) and unregistered.
fn hostile(b: Behaviour, transport: &str, code: i32, cause: Option<&str>) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = run_against(b, transport, dir.path());
    let r = &run.report;
    let msg = text(&run.out);
    let errors = &run.errors;
    assert_eq!(
        run.out.status.code(),
        Some(code),
        "{b:?}: {msg}\n{:?} {:?}\n{errors:#?}",
        r.status_reason,
        r.ops
    );
    if let Some(cause) = cause {
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
    // The rest of the fleet kept going: user1 ↔ user2 MESSAGEs forwarded and delivered.
    assert!(r.ops["sip_register"].count >= 2, "{b:?}: {:?}", r.ops);
    assert_eq!(r.ops["sip_message"].count, 2, "{b:?}: {:?}", r.ops);
    let acc = &r.accounting.total;
    assert_eq!((acc.sent, acc.delivered, acc.lost), (2, 2, 0), "{b:?}");
    run
}

/// The verdict of `id` in a run.
fn verdict<'a>(run: &'a Run, id: &str) -> &'a impress::report::VerdictRecord {
    let v = run.report.verdicts.iter().find(|v| v.id == id);
    v.unwrap_or_else(|| panic!("no verdict {id}"))
}

/// Asserts `id` failed on the victim only, with its transcript as evidence.
fn fails_for_victim(run: &Run, id: &str, actual: &str) {
    let v = verdict(run, id);
    assert_eq!(v.verdict, Verdict::Fail, "{v:?}");
    assert_eq!(v.subject.as_deref(), Some("user3/impress"), "{v:?}");
    assert!(
        v.actual.as_deref().unwrap_or_default().contains(actual),
        "{v:?}"
    );
    // user1 and user2: REGISTER, MESSAGE and un-REGISTER each passed.
    assert_eq!(v.tally.get(&Verdict::Pass), Some(&6), "{v:?}");
    let t = v.transcript.as_ref().expect("transcript as evidence");
    assert!(!t.lines.is_empty(), "{v:?}");
    let wire = t.render();
    assert!(
        wire.contains("SIP/2.0 200 OK"),
        "transcript without the 200: {wire}"
    );
}

#[test]
fn well_behaved_registrar_passes_over_udp_and_tcp() {
    for transport in ["udp", "tcp"] {
        let run = hostile(Behaviour::None, transport, 0, None);
        assert_eq!(run.report.ops["sip_register"].count, 3);
        assert_eq!(
            verdict(&run, "sip/rfc3261/8.2.6.2-to-tag").verdict,
            Verdict::Pass
        );
    }
}

/// Case 1a: Content-Length larger than the body on TCP. The framer waits for bytes that
/// never come; the REGISTER transaction ends at the response timeout, not never.
#[test]
fn content_length_too_large_times_out() {
    let run = hostile(
        Behaviour::LongLength,
        "tcp",
        1,
        Some("REGISTER: no final response to REGISTER sip:example.test before the timeout"),
    );
    assert_eq!(run.report.ops["sip_register"].count, 2);
}

/// Case 1b: Content-Length smaller than the body on TCP. The REGISTER 200 is framed short;
/// the rest of its body runs into the next response, whose start line is then not SIP:
/// the connection is dropped with a parse error (framing is lost), and the victim's
/// un-REGISTER says so.
#[test]
fn content_length_too_small_is_a_parse_error() {
    let run = hostile(
        Behaviour::ShortLength,
        "tcp",
        1,
        Some("un-REGISTER: connection closed: parse: bad start line"),
    );
    assert_eq!(run.report.ops["sip_register"].count, 3);
}

/// Case 2: no Content-Length on TCP (RFC 3261 §18.3 makes it mandatory on streams).
#[test]
fn missing_content_length_on_tcp_is_a_framing_error() {
    hostile(
        Behaviour::NoLength,
        "tcp",
        1,
        Some("REGISTER: connection closed: framing: no Content-Length on a stream transport"),
    );
}

/// Case 3: a 200 OK without To tag: the to-tag check fails for the victim.
#[test]
fn missing_to_tag_fails_the_to_tag_check() {
    let run = hostile(Behaviour::NoToTag, "udp", 1, None);
    assert!(run.errors.is_empty(), "{:#?}", run.errors);
    fails_for_victim(&run, "sip/rfc3261/8.2.6.2-to-tag", "no To tag");
}

/// Case 4a: CSeq number off by one. The transaction is matched on branch and CSeq method
/// (§17.1.3), so the response is delivered and the from-callid-cseq check fails.
#[test]
fn mismatched_cseq_number_fails_the_cseq_check() {
    let run = hostile(Behaviour::CSeqNumber, "udp", 1, None);
    assert!(run.errors.is_empty(), "{:#?}", run.errors);
    fails_for_victim(&run, "sip/rfc3261/8.2.6.2-from-callid-cseq", "CSeq");
}

/// Case 4b: CSeq method INVITE on the REGISTER's 200: it matches no transaction (§17.1.3)
/// and is dropped; the REGISTER times out and the error says so.
#[test]
fn mismatched_cseq_method_is_not_matched_and_times_out() {
    let run = hostile(
        Behaviour::CSeqMethod,
        "tcp",
        1,
        Some("REGISTER: no final response to REGISTER sip:example.test before the timeout"),
    );
    assert_eq!(run.report.ops["sip_register"].count, 2);
}

/// Case 5: the same REGISTER 200 and then the same MESSAGE request, 3000 times each over
/// UDP. The duplicates are absorbed (the MESSAGE answered from the server transaction,
/// §17.2.2), memory stays bounded and the run passes.
#[test]
fn retransmission_storm_is_absorbed() {
    let control = hostile(Behaviour::None, "udp", 0, None);
    let run = hostile(Behaviour::Storm, "udp", 0, None);
    assert_eq!(run.report.status, RunStatus::Passed);
    assert_eq!(run.report.ops["sip_register"].count, 3);
    // The victim answered before its REGISTER completed; let the registrar read them.
    let t0 = Instant::now();
    while run.reg.storm_answers.load(Ordering::Relaxed) < 2 && t0.elapsed() < RUN_LIMIT {
        std::thread::sleep(Duration::from_millis(10));
    }
    let answers = run.reg.storm_answers.load(Ordering::Relaxed);
    eprintln!("Storm: {answers} answers from {VICTIM} to {STORM} copies of one MESSAGE");
    assert!(
        (2..=STORM).contains(&answers),
        "{answers} answers to {STORM} copies: the first, then replays of the same 200"
    );
    within_bound(&control, &run);
}

/// Case 6a: a 200 OK announcing a 10 MiB body on TCP: refused from its header block.
#[test]
fn ten_mib_body_is_refused_with_bounded_memory() {
    let control = hostile(Behaviour::None, "tcp", 0, None);
    let run = hostile(
        Behaviour::HugeBody,
        "tcp",
        1,
        Some("REGISTER: connection closed: framing: message exceeds 1048576 bytes"),
    );
    within_bound(&control, &run);
}

/// Case 6b: a 200 OK whose header block alone is 10 MiB on TCP: cut at the cap.
#[test]
fn ten_mib_header_block_is_refused_with_bounded_memory() {
    let control = hostile(Behaviour::None, "tcp", 0, None);
    let run = hostile(
        Behaviour::HugeHeaders,
        "tcp",
        1,
        Some("REGISTER: connection closed: framing: message exceeds 1048576 bytes"),
    );
    within_bound(&control, &run);
}

fn within_bound(control: &Run, run: &Run) {
    assert!(
        run.peak < control.peak + RSS_BOUND,
        "peak RSS {} KiB against {} KiB for a well-behaved run (bound +{} KiB)",
        run.peak / 1024,
        control.peak / 1024,
        RSS_BOUND / 1024
    );
}

/// Case 7a: only the victim gets no answer over UDP: its REGISTER is retransmitted (Timer
/// E) until the response timeout bounds Timer F; the others register; exit 1.
#[test]
fn no_answer_to_one_user_times_out_its_register() {
    let run = hostile(
        Behaviour::Silent,
        "udp",
        1,
        Some("REGISTER: no final response to REGISTER sip:example.test before the timeout"),
    );
    assert_eq!(run.report.ops["sip_register"].count, 2);
    assert_eq!(run.report.ops["sip_register"].errors, 1);
    let sent = run.reg.victim_requests.load(Ordering::Relaxed);
    assert!(sent >= 2, "REGISTER sent {sent} times: no retransmission");
}

/// Case 7b: a UDP server that reads and never answers: nobody registers, the run is
/// invalid (exit 3) and every user's error names the timeout.
#[test]
fn no_answer_at_all_is_an_invalid_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = run_against(Behaviour::Mute, "udp", dir.path());
    let msg = text(&run.out);
    assert_eq!(run.out.status.code(), Some(3), "{msg}");
    let r = &run.report;
    assert_eq!(r.status, RunStatus::Invalid);
    let reason = r.status_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("no SIP device could register"), "{reason}");
    for u in ["user1", "user2", "user3"] {
        let want = format!("{u}/impress: REGISTER: no final response to REGISTER");
        assert!(
            run.errors.iter().any(|e| e.starts_with(&want)),
            "{want}: {:#?}",
            run.errors
        );
    }
    assert!(run.elapsed < RUN_LIMIT);
}
