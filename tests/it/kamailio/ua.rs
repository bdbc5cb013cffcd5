//! A deliberately tiny raw SIP user agent for the managed-Kamailio tests: hand-built requests
//! over UDP, TCP or TLS, a lenient response parser, and MD5 digest answers (qop=auth or none).
//! It is test scaffolding, not the SIP engine (`src/proto/sip/` is).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use impress::target::ManagedServer;
use md5::{Digest, Md5};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long any one wait for the server may take before the test fails (not a threshold on
/// how fast it is: loopback answers take milliseconds).
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A SIP message, parsed just enough for assertions.
#[derive(Debug, Clone)]
pub struct Msg {
    pub start: String,
    headers: Vec<(String, String)>,
    pub body: String,
    pub text: String,
}

/// Full header name for a compact form (RFC 3261 §7.3.3), lowercase.
fn full_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let full = match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "o" => "event",
        other => other,
    };
    full.to_owned()
}

impl Msg {
    pub fn parse(text: &str) -> Self {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (full_name(k), v.trim().to_owned()))
            .collect();
        Self {
            start,
            headers,
            body: body.to_owned(),
            text: text.to_owned(),
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        (!self.start.starts_with("SIP/")).then(|| self.start.split(' ').next().unwrap_or(""))
    }

    /// Every value of header `name` (compact forms understood), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let name = full_name(name);
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `name="value"` (or bare) parameter of a Digest challenge.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let rest = challenge.trim().strip_prefix("Digest")?;
    rest.split(',').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// An RFC 2617 MD5 answer to `challenge` (a WWW-/Proxy-Authenticate value).
pub fn digest_answer(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> String {
    let param = |n| challenge_param(challenge, n).unwrap_or_default();
    let (realm, nonce) = (param("realm"), param("nonce"));
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let mut answer =
        format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\"");
    if param("qop").split(',').any(|q| q.trim() == "auth") {
        let (nc, cnonce) = ("00000001", "1mpre55");
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        answer.push_str(&format!(
            ", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
        ));
    } else {
        answer.push_str(&format!(
            ", response=\"{}\"",
            md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
        ));
    }
    let opaque = param("opaque");
    if !opaque.is_empty() {
        answer.push_str(&format!(", opaque=\"{opaque}\""));
    }
    answer + ", algorithm=MD5"
}

fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// What a request needs besides the UA's own state.
pub struct Req<'a> {
    pub method: &'a str,
    pub ruri: String,
    pub to: String,
    /// Extra header lines, each ending in `\r\n`.
    pub extra: String,
    pub body: &'a str,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, ruri: impl Into<String>) -> Self {
        let ruri = ruri.into();
        Self {
            method,
            to: format!("<{ruri}>"),
            ruri,
            extra: String::new(),
            body: "",
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.extra.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    pub fn body(mut self, content_type: &str, body: &'a str) -> Self {
        self.extra
            .push_str(&format!("Content-Type: {content_type}\r\n"));
        self.body = body;
        self
    }
}

/// Who sends a request, and from where.
pub struct Origin<'a> {
    pub user: &'a str,
    pub domain: &'a str,
    pub local: SocketAddr,
    /// `UDP`, `TCP` or `TLS`.
    pub transport: &'a str,
    pub tag: &'a str,
}

/// Renders request `req` of transaction `call_id`/`cseq` from `o`.
pub fn render(req: &Req<'_>, o: &Origin<'_>, call_id: &str, cseq: u32) -> String {
    let (user, domain, local, transport, tag) = (o.user, o.domain, o.local, o.transport, o.tag);
    format!(
        "{m} {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};rport;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{domain}>;tag={tag}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {m}\r\n\
         Contact: <sip:{user}@{local};transport={t}>\r\n\
         {extra}Content-Length: {len}\r\n\r\n{body}",
        m = req.method,
        ruri = req.ruri,
        branch = random_token(),
        to = req.to,
        t = transport.to_ascii_lowercase(),
        extra = req.extra,
        len = req.body.len(),
        body = req.body,
    )
}

/// A UDP user agent: one socket (its contact), one address-of-record.
pub struct Ua {
    sock: UdpSocket,
    /// The same socket, for a non-blocking peek that does not depend on the reactor having
    /// seen the datagram yet (tokio's `try_*` calls do).
    peek: std::net::UdpSocket,
    server: SocketAddr,
    pub user: String,
    pub domain: String,
    tag: String,
    cseq: u32,
    /// Messages read while waiting for something else.
    inbox: VecDeque<Msg>,
}

impl Ua {
    pub async fn new(server: &ManagedServer, user: &str) -> Self {
        let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        std_sock.set_nonblocking(true).expect("non-blocking");
        let peek = std_sock.try_clone().expect("dup UDP socket");
        let sock = UdpSocket::from_std(std_sock).expect("register UDP socket");
        Self {
            sock,
            peek,
            server: server.addr(),
            user: user.to_owned(),
            domain: server.domain().to_owned(),
            tag: random_token(),
            cseq: 0,
            inbox: VecDeque::new(),
        }
    }

    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }

    fn local(&self) -> SocketAddr {
        self.sock.local_addr().expect("local addr")
    }

    /// Sends `req` in a new transaction; returns its Call-ID.
    async fn send(&mut self, req: &Req<'_>, call_id: &str) {
        self.cseq += 1;
        let origin = Origin {
            user: &self.user,
            domain: &self.domain,
            local: self.local(),
            transport: "UDP",
            tag: &self.tag,
        };
        let text = render(req, &origin, call_id, self.cseq);
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .expect("send");
    }

    /// The next message from the server (queued ones first).
    pub async fn recv(&mut self, what: &str) -> Msg {
        if let Some(m) = self.inbox.pop_front() {
            return m;
        }
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(IO_TIMEOUT, self.sock.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{}: timed out waiting for {what}", self.user))
            .expect("recv");
        Msg::parse(&String::from_utf8_lossy(&buf[..n]))
    }

    /// The next request with `method`, keeping anything else for later.
    pub async fn request(&mut self, method: &str) -> Msg {
        if let Some(i) = self.inbox.iter().position(|m| m.method() == Some(method)) {
            return self.inbox.remove(i).expect("queued");
        }
        loop {
            let m = self.recv(method).await;
            if m.method() == Some(method) {
                return m;
            }
            self.inbox.push_back(m);
        }
    }

    /// The final response of transaction `call_id`/`cseq`, keeping other messages for later.
    async fn final_response(&mut self, call_id: &str) -> Msg {
        let cseq = format!("{} ", self.cseq);
        loop {
            let m = self.recv("a final response").await;
            let ours = m.header("call-id") == Some(call_id)
                && m.header("cseq").is_some_and(|c| c.starts_with(&cseq));
            match m.status() {
                Some(s) if ours && s >= 200 => return m,
                Some(_) if ours => {}
                _ => self.inbox.push_back(m),
            }
        }
    }

    /// Sends `req` and returns the final response; a 401/407 is answered once with `password`
    /// (when given) in the same Call-ID.
    pub async fn transact(&mut self, req: Req<'_>, password: Option<&str>) -> Msg {
        let call_id = format!("{}@impress-test", random_token());
        self.send(&req, &call_id).await;
        let first = self.final_response(&call_id).await;
        let (Some(pw), Some(status @ (401 | 407))) = (password, first.status()) else {
            return first;
        };
        let (ask, answer) = if status == 401 {
            ("www-authenticate", "Authorization")
        } else {
            ("proxy-authenticate", "Proxy-Authorization")
        };
        let challenge = first.header(ask).expect("challenge header").to_owned();
        let value = digest_answer(&challenge, &self.user, pw, req.method, &req.ruri);
        let req = req.header(answer, &value);
        self.send(&req, &call_id).await;
        self.final_response(&call_id).await
    }

    /// REGISTER this contact for `expires` seconds.
    pub async fn register(&mut self, password: Option<&str>, expires: u32) -> Msg {
        let req = Req::new("REGISTER", format!("sip:{}", self.domain))
            .header("Expires", &expires.to_string());
        let req = Req {
            to: format!("<{}>", self.aor()),
            ..req
        };
        self.transact(req, password).await
    }

    /// Answers request `req` with `200 OK` (To tag added).
    pub async fn ok(&mut self, req: &Msg) {
        let mut text = String::from("SIP/2.0 200 OK\r\n");
        for v in req.all("via") {
            text.push_str(&format!("Via: {v}\r\n"));
        }
        let to = req.header("to").unwrap_or_default();
        let tag = if to.contains(";tag=") {
            String::new()
        } else {
            format!(";tag={}", random_token())
        };
        for (name, value) in [
            ("From", req.header("from").unwrap_or_default().to_owned()),
            ("To", format!("{to}{tag}")),
            (
                "Call-ID",
                req.header("call-id").unwrap_or_default().to_owned(),
            ),
            ("CSeq", req.header("cseq").unwrap_or_default().to_owned()),
        ] {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.sock
            .send_to(text.as_bytes(), self.server)
            .await
            .expect("send 200");
    }

    /// Whether a message is already waiting (it only looks at the queues, never waits).
    pub fn has_pending(&self) -> bool {
        let mut buf = [0u8; 1];
        !self.inbox.is_empty() || self.peek.peek_from(&mut buf).is_ok()
    }
}

/// Sends one request over a byte stream and reads one complete response.
pub async fn stream_exchange<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, text: &str) -> Msg {
    io.write_all(text.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = Msg::parse(&String::from_utf8_lossy(&buf[..end + 4]));
            let len: usize = head
                .header("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Msg::parse(&String::from_utf8_lossy(&buf[..end + 4 + len]));
            }
        }
        let n = tokio::time::timeout(IO_TIMEOUT, io.read(&mut chunk))
            .await
            .expect("timed out waiting for a response on the stream")
            .expect("read");
        assert!(
            n > 0,
            "connection closed; got: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A TCP connection to `addr` and its local address.
pub async fn tcp(addr: SocketAddr) -> (TcpStream, SocketAddr) {
    let s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect timeout")
        .expect("connect");
    let local = s.local_addr().expect("local addr");
    (s, local)
}

/// A TLS connection to `addr`, verifying the certificate for the domain against the
/// instance CA.
pub async fn tls(
    server: &ManagedServer,
    addr: SocketAddr,
) -> (tokio_rustls::client::TlsStream<TcpStream>, SocketAddr) {
    let (tcp, local) = tcp(addr).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.ca_file()).expect("read ca_file") {
        roots.add(cert.expect("parse ca_file")).expect("add CA");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(server.domain().to_owned()).expect("server name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake verified against ca_file");
    (stream, local)
}

#[test]
fn digest_answer_matches_rfc_2617_example() {
    // RFC 2617 §3.5: Mufasa / "Circle Of Life", qop=auth, nc=00000001, cnonce 0a4f113b.
    let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
    let ha2 = md5_hex("GET:/dir/index.html");
    let response = md5_hex(&format!(
        "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
    ));
    assert_eq!(response, "6629fae49393a05397450978507c4ef1");
}
