//! The loopback fault proxy over real sockets: pass, delay, cut, blackhole, and the XMPP
//! stanza filter, against a small echo server, a scripted XMPP server, and managed Prosody
//! (plaintext c2s, SASL PLAIN) with messages dropped on the wire. No upper bounds on time:
//! delays are only checked to be at least what was asked.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use impress::fault::{DropRule, Mode, Proxy, ProxyConfig};
use impress::proto::xmpp::element::parse;
use impress::proto::xmpp::{Frame, Framer, FramerConfig, NsContext, ns};
use impress::target::{ManagedServer, ManagedSpec, ServerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Liveness limit for anything expected to happen (never a performance bound).
const PATIENCE: Duration = Duration::from_secs(15);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(400);

/// An echo server on loopback; records the error kinds its connections end with.
struct Echo {
    addr: SocketAddr,
    errors: Arc<Mutex<Vec<ErrorKind>>>,
    task: JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo() -> Echo {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = l.local_addr().expect("echo addr");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let errs = errors.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = l.accept().await {
            let errs = errs.clone();
            conns.spawn(async move {
                let (mut r, mut w) = s.split();
                match tokio::io::copy(&mut r, &mut w).await {
                    Ok(_) => {
                        let _ = w.shutdown().await;
                    }
                    Err(e) => errs.lock().expect("lock").push(e.kind()),
                }
            });
        }
    });
    Echo { addr, errors, task }
}

async fn start(cfg: ProxyConfig) -> Proxy {
    Proxy::start(cfg).await.expect("proxy starts")
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .expect("connect finishes")
}

/// Writes `line` and reads exactly as many bytes back.
async fn round_trip(s: &mut TcpStream, line: &[u8]) -> Vec<u8> {
    s.write_all(line).await.expect("write");
    let mut back = vec![0; line.len()];
    tokio::time::timeout(PATIENCE, s.read_exact(&mut back))
        .await
        .expect("echo arrives")
        .expect("read echo");
    back
}

/// Waits (at most `PATIENCE`) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < PATIENCE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_forwards_bytes_both_ways_and_half_closes() {
    let echo = echo().await;
    let proxy = start(ProxyConfig::new(echo.addr)).await;
    let s = connect(proxy.addr()).await.expect("connect");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = s.into_split();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.expect("write");
        w.shutdown().await.expect("half-close");
        w
    });
    let mut back = Vec::new();
    tokio::time::timeout(PATIENCE, r.read_to_end(&mut back))
        .await
        .expect("echo and EOF arrive")
        .expect("read");
    drop(writer.await.expect("writer"));
    assert!(back == data, "1 MB echoed byte-identical, then EOF");
    let stats = proxy.stats();
    assert_eq!((stats.bytes_up, stats.bytes_down), (1_000_000, 1_000_000));
    assert_eq!((stats.accepted, stats.resets), (1, 0));
    eventually("the connection ends", || proxy.stats().active == 0).await;
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_holds_each_direction_and_keeps_order() {
    let echo = echo().await;
    let proxy = start(ProxyConfig::new(echo.addr)).await;
    let mut s = connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut s, b"warm\n").await, b"warm\n");
    let d = Duration::from_millis(150);
    let change = proxy.delay(d).await;
    assert_eq!(
        (change.mode, proxy.mode()),
        (Mode::Delay(d), Mode::Delay(d))
    );
    let t0 = Instant::now();
    assert_eq!(round_trip(&mut s, b"slow\n").await, b"slow\n");
    let rtt = t0.elapsed();
    assert!(
        rtt >= 2 * d,
        "round trip {rtt:?} is at least twice the delay"
    );
    eprintln!("round trip with {d:?} each way: {rtt:?}");
    // Many small writes come back in order.
    let lines: Vec<String> = (0..50).map(|i| format!("line {i}\n")).collect();
    for l in &lines {
        s.write_all(l.as_bytes()).await.expect("write");
    }
    let want = lines.concat();
    let mut back = vec![0; want.len()];
    tokio::time::timeout(PATIENCE, s.read_exact(&mut back))
        .await
        .expect("echo arrives")
        .expect("read");
    assert_eq!(String::from_utf8_lossy(&back), want);
    proxy.pass().await;
    let tl = proxy.stats().timeline;
    let modes: Vec<Mode> = tl.iter().map(|c| c.mode).collect();
    assert_eq!(modes, [Mode::Pass, Mode::Delay(d), Mode::Pass]);
    assert!(
        tl.windows(2).all(|w| w[0].at <= w[1].at),
        "stamped in order"
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_resets_live_connections_and_refuses_new_ones() {
    let echo = echo().await;
    let proxy = start(ProxyConfig::new(echo.addr)).await;
    let mut s = connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut s, b"before\n").await, b"before\n");
    proxy.cut().await;
    let mut buf = [0u8; 16];
    let got = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("the cut reaches the client");
    assert_eq!(
        got.map_err(|e| e.kind()).err(),
        Some(ErrorKind::ConnectionReset),
        "the client sees a reset, not a clean close"
    );
    let errors = echo.errors.clone();
    eventually("the upstream side is reset too", || {
        errors
            .lock()
            .expect("lock")
            .contains(&ErrorKind::ConnectionReset)
    })
    .await;
    let refused = connect(proxy.addr())
        .await
        .map(|_| ())
        .map_err(|e| e.kind());
    assert_eq!(refused, Err(ErrorKind::ConnectionRefused));
    eventually("the reset connection is gone", || proxy.stats().active == 0).await;
    assert_eq!(proxy.stats().resets, 1);
    proxy.pass().await;
    let mut again = connect(proxy.addr())
        .await
        .expect("accepted again after pass");
    assert_eq!(round_trip(&mut again, b"after\n").await, b"after\n");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_forwards_nothing_until_the_partition_ends() {
    let echo = echo().await;
    let proxy = start(ProxyConfig::new(echo.addr)).await;
    let mut s = connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut s, b"before\n").await, b"before\n");
    proxy.blackhole().await;
    s.write_all(b"held\n").await.expect("write is accepted");
    let mut buf = [0u8; 5];
    let quiet = tokio::time::timeout(QUIET, s.read_exact(&mut buf)).await;
    assert!(quiet.is_err(), "a read times out during the partition");
    // A new connection is accepted but gets nothing either.
    let mut late = connect(proxy.addr())
        .await
        .expect("accepted during the partition");
    late.write_all(b"late\n").await.expect("write");
    let mut lbuf = [0u8; 5];
    let quiet = tokio::time::timeout(QUIET, late.read_exact(&mut lbuf)).await;
    assert!(quiet.is_err(), "nothing reaches the new connection");
    assert_eq!(
        proxy.stats().bytes_up,
        7,
        "only the bytes before the partition went up"
    );
    proxy.pass().await;
    tokio::time::timeout(PATIENCE, s.read_exact(&mut buf))
        .await
        .expect("held bytes flow after the partition")
        .expect("read");
    assert_eq!(&buf, b"held\n");
    tokio::time::timeout(PATIENCE, late.read_exact(&mut lbuf))
        .await
        .expect("the late connection reaches upstream")
        .expect("read");
    assert_eq!(&lbuf, b"late\n");
    proxy.stop().await;
    assert_eq!(proxy.stats().active, 0, "stop ends every connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_drop_end_the_listener() {
    let echo = echo().await;
    let proxy = start(ProxyConfig::new(echo.addr)).await;
    let addr = proxy.addr();
    let clone = proxy.clone();
    let mut s = connect(addr).await.expect("connect");
    assert_eq!(round_trip(&mut s, b"x\n").await, b"x\n");
    drop(proxy);
    assert!(connect(addr).await.is_ok(), "a clone keeps the proxy alive");
    drop(clone);
    let mut buf = [0u8; 1];
    let end = tokio::time::timeout(PATIENCE, s.read(&mut buf)).await;
    assert!(
        matches!(end, Ok(Ok(0) | Err(_))),
        "the live connection ends with the proxy"
    );
    eventually("the port is closed", || {
        std::net::TcpStream::connect(addr).is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_back_pressures_the_client() {
    // An upstream that accepts and never reads: the proxy must stop reading too, once its
    // bounded queue is full, rather than buffer whatever the client sends.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let mut cfg = ProxyConfig::new(addr);
    cfg.queue_bytes = 64 * 1024;
    let proxy = start(cfg).await;
    let mut s = connect(proxy.addr()).await.expect("connect");
    let total = 256 * 1024 * 1024;
    let writer = tokio::spawn(async move {
        let block = vec![7u8; 1024 * 1024];
        for _ in 0..total / block.len() {
            s.write_all(&block).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    tokio::time::sleep(QUIET * 3).await;
    assert!(
        !writer.is_finished(),
        "the client is held back, not buffered for"
    );
    let forwarded = proxy.stats().bytes_up;
    assert!(forwarded < total as u64, "forwarded {forwarded} of {total}");
    writer.abort();
    proxy.stop().await;
    hold.abort();
}

/// A scripted server stream: a PLAIN login with `<success/>` and the new stream header in
/// one write, then messages (with and without bodies), other stanzas and keepalives.
fn scripted_stream() -> (String, Vec<String>) {
    let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.test' version='1.0'>";
    let mut s = format!(
        "{header}<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
<mechanism>PLAIN</mechanism></mechanisms></stream:features>\
<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{header}<stream:features/>"
    );
    let mut messages = Vec::new();
    for i in 1..=30 {
        let m = match i % 5 {
            0 => format!(
                "<message id='n{i}' from='a@example.test/r'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
            ),
            1 => {
                format!("<message id='m{i}' type='chat'>\n  <body>hi &amp; {i}</body>\n</message>")
            }
            _ => format!(
                "<message id='m{i}' to='b@example.test/r' type='chat'><body>{i}</body></message>"
            ),
        };
        s.push_str(&m);
        messages.push(m);
        s.push_str(match i % 4 {
            0 => " ",
            1 => "<iq type='result' id='q'/>",
            2 => "<presence from='a@example.test/r'><show>away</show></presence>\n",
            _ => "",
        });
    }
    s.push_str("</stream:stream>");
    (s, messages)
}

/// Serves `stream` to the first connection in small writes, then closes.
async fn scripted_server(stream: String) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        for piece in stream.as_bytes().chunks(97) {
            if s.write_all(piece).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
        let _ = s.shutdown().await;
    });
    (addr, task)
}

/// Reads everything a client gets through `proxy` until EOF.
async fn read_all_through(proxy: &Proxy) -> String {
    // The client sends nothing: a server closing with unread bytes would reset.
    let mut s = connect(proxy.addr()).await.expect("connect");
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut got))
        .await
        .expect("the stream ends")
        .expect("read");
    String::from_utf8(got).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stanza_filter_drops_exactly_the_selected_messages() {
    let (stream, messages) = scripted_stream();
    // Every 3rd message with a body; 24 of the 30 have one.
    let (addr, server) = scripted_server(stream.clone()).await;
    let cfg = ProxyConfig::new(addr).with_xmpp_filter(Some(DropRule::EveryNth(3)));
    let proxy = start(cfg).await;
    let got = read_all_through(&proxy).await;
    server.await.expect("server");
    let bodied: Vec<&String> = messages.iter().filter(|m| m.contains("<body>")).collect();
    let dropped: Vec<&String> = bodied.iter().skip(2).step_by(3).copied().collect();
    let mut want = stream.clone();
    for m in &dropped {
        let at = want.find(m.as_str()).expect("message in stream");
        want.replace_range(at..at + m.len(), "");
    }
    assert_eq!(got, want, "everything else passes byte-identical");
    let stats = proxy.stats();
    assert_eq!((stats.messages_seen, stats.messages_dropped), (30, 8));
    let ids: Vec<String> = dropped
        .iter()
        .map(|m| m[13..].split('\'').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(stats.dropped_ids(), ids);
    assert_eq!(stats.filter_bypassed, 0);
    assert_eq!(stats.bytes_down as usize, want.len());
    proxy.stop().await;

    // A marker rule set at run time, on a fresh proxy and stream.
    let (addr, server) = scripted_server(stream.clone()).await;
    let proxy = start(ProxyConfig::new(addr).with_xmpp_filter(None)).await;
    proxy
        .set_drop_rule(Some(DropRule::Marker("m1".into())))
        .expect("filter enabled");
    let got = read_all_through(&proxy).await;
    server.await.expect("server");
    let ids = proxy.stats().dropped_ids().join(",");
    assert_eq!(ids, "m1,m11,m12,m13,m14,m16,m17,m18,m19");
    assert!(!got.contains("id='m1'") && got.contains("id='m2'"));
    proxy.stop().await;
    let plain = start(ProxyConfig::new(addr)).await;
    assert!(plain.set_drop_rule(None).is_err(), "no filter, no rule");
}

/// A plaintext c2s client that keeps every byte the server sent.
struct Client {
    io: TcpStream,
    all: Vec<u8>,
    /// Bytes of `all` already consumed by `until`.
    seen: usize,
}

impl Client {
    async fn login(addr: SocketAddr, domain: &str, user: &str, password: &str) -> Self {
        let io = connect(addr).await.expect("connect");
        let mut c = Self {
            io,
            all: Vec::new(),
            seen: 0,
        };
        let open = format!(
            "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' \
             xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        );
        c.send(&open).await;
        c.until("</stream:features>").await;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        c.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        ))
        .await;
        let outcome = c.until("xmpp-sasl").await;
        assert!(outcome.contains("<success"), "login of {user}: {outcome}");
        c.send(&open).await;
        c.until("</stream:features>").await;
        c.send(
            "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
<resource>r</resource></bind></iq>",
        )
        .await;
        c.until("</iq>").await;
        c
    }

    async fn send(&mut self, text: &str) {
        self.io.write_all(text.as_bytes()).await.expect("write");
    }

    /// Reads until the unconsumed bytes contain `marker`; returns and consumes them.
    async fn until(&mut self, marker: &str) -> String {
        let mut chunk = [0u8; 4096];
        loop {
            let fresh = String::from_utf8_lossy(&self.all[self.seen..]).into_owned();
            if let Some(at) = fresh.find(marker) {
                self.seen += at + marker.len();
                return fresh;
            }
            let n = tokio::time::timeout(PATIENCE, self.io.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {marker}: {fresh}"))
                .expect("read");
            assert!(n > 0, "closed waiting for {marker}: {fresh}");
            self.all.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The ids of the `<message/>` stanzas in a recorded server stream, framed by the
/// project's framer (restarted after SASL success).
fn message_ids(stream: &[u8]) -> Vec<String> {
    let mut f = Framer::new(FramerConfig::default());
    f.feed(stream).expect("feed");
    let mut ids = Vec::new();
    while let Some(frame) = f.next_frame().expect("framed") {
        let Frame::Element { raw } = frame else {
            continue;
        };
        let el = parse(&raw, &NsContext::client()).expect("parses");
        if el.is("success", ns::SASL) {
            f.restart();
        } else if el.is("message", ns::CLIENT) {
            ids.push(el.attr("id").unwrap_or_default().to_owned());
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_messages_dropped_on_the_wire_are_counted_exactly() {
    if !std::path::Path::new("/usr/bin/prosody").exists() {
        eprintln!("SKIPPED: prosody is not installed (run scripts/install-targets.sh)");
        return;
    }
    const PASSWORD: &str = "proxy-pw";
    let server = ManagedServer::start(&ManagedSpec::new(ServerKind::Prosody))
        .await
        .expect("start prosody");
    server
        .provision("user", 2, PASSWORD)
        .await
        .expect("provision");
    let domain = server.domain().to_owned();
    let cfg =
        ProxyConfig::new(server.addr()).with_xmpp_filter(Some(DropRule::Marker("LOSE".into())));
    let proxy = start(cfg).await;
    // user2 receives through the proxy; user1 sends directly.
    let mut rx = Client::login(proxy.addr(), &domain, "user2", PASSWORD).await;
    rx.send("<presence/>").await;
    let mut tx = Client::login(server.addr(), &domain, "user1", PASSWORD).await;
    let mut lost = Vec::new();
    for i in 1..=12 {
        let body = if i % 4 == 0 { "please LOSE me" } else { "keep" };
        if i % 4 == 0 {
            lost.push(format!("m{i}"));
        }
        tx.send(&format!(
            "<message to='user2@{domain}/r' id='m{i}' type='chat'><body>{body} {i}</body></message>"
        ))
        .await;
    }
    tx.send(&format!(
        "<message to='user2@{domain}/r' id='end' type='chat'><body>done</body></message>"
    ))
    .await;
    rx.until("done</body>").await;
    // The stream is still in step after the drops: a ping is answered.
    rx.send(&format!(
        "<iq type='get' id='ping9' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .await;
    rx.until("ping9").await;
    let got = message_ids(&rx.all);
    let want: Vec<String> = (1..=12)
        .filter(|i| i % 4 != 0)
        .map(|i| format!("m{i}"))
        .chain(["end".to_owned()])
        .collect();
    assert_eq!(got, want, "received exactly the messages not dropped");
    let stats = proxy.stats();
    assert_eq!(stats.messages_dropped, 3);
    assert_eq!(stats.dropped_ids(), lost);
    assert_eq!(stats.filter_bypassed, 0, "followed the stream through SASL");
    assert!(
        stats
            .dropped
            .iter()
            .all(|d| d.to.as_deref() == Some(&format!("user2@{domain}/r")[..]))
    );
    proxy.stop().await;
    server.stop().await.expect("stop prosody");
}
