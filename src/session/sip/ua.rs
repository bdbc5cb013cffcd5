//! The user agent: client transactions (retransmitted on UDP until a final response or
//! Timer F), one digest retry on 401/407, and a reader task acting as UAS for NOTIFY,
//! MESSAGE and OPTIONS (answered 200, retransmissions replayed from the server
//! transaction) whose requests land in an inbox.

use super::conn::{self, Reader, Writer};
use super::{SipError, SipObserver, SipSettings, SipTransport};
use crate::checks::oracle::Judgement;
use crate::checks::{CheckDef, Direction, Transcript};
use crate::clock;
use crate::events::Events;
use crate::proto::sip::build::{self, new_branch, new_call_id, new_tag};
use crate::proto::sip::digest::{self, RequestInfo};
use crate::proto::sip::transaction::{ClientTimeout, Incoming, ResponseAction};
use crate::proto::sip::{
    ClientTransaction, Ids, Local, Message, Method, NameAddr, ParseError, RequestBuilder,
    ServerTransactions, Timers, TransactionKey,
};
use crate::scenario::Secret;
use crate::session::transcript::Recorder;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// A request the server sent this UA, and when it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request.
    pub msg: Message,
    /// Arrival time.
    pub at: Instant,
}

/// One completed client transaction.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request that got the final response (the authenticated retry, if any).
    pub request: Message,
    /// When the first attempt was sent.
    pub sent: Instant,
    /// The final response.
    pub response: Message,
    /// When it arrived.
    pub at: Instant,
    /// The 401/407 challenge answered on the way, if any.
    pub challenge: Option<Message>,
}

impl Exchange {
    /// The final status code.
    pub fn status(&self) -> u16 {
        self.response.status().unwrap_or(0)
    }
}

type Waiters = HashMap<TransactionKey, mpsc::UnboundedSender<(Message, Instant)>>;

struct Shared {
    writer: Writer,
    rec: Recorder,
    reliable: bool,
    pending: Mutex<Waiters>,
    server: Mutex<ServerTransactions>,
    inbox: Mutex<VecDeque<Received>>,
    inbox_cap: usize,
    arrived: Notify,
    closed: Mutex<Option<String>>,
    to_tag: String,
    absorbed: AtomicU64,
    label: String,
    observer: Option<Arc<dyn SipObserver>>,
}

impl Shared {
    async fn send(&self, bytes: &[u8]) -> Result<Instant, SipError> {
        let at = clock::now();
        self.rec.record(at, Direction::Out, bytes);
        self.writer.send(bytes).await?;
        Ok(at)
    }

    fn close(&self, why: String) {
        if let Ok(mut c) = self.closed.lock() {
            c.get_or_insert(why);
        }
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
        }
        self.arrived.notify_waiters();
    }
}

/// One SIP device of a virtual user.
pub struct SipUa {
    sh: Arc<Shared>,
    label: String,
    local: Local,
    registrar: String,
    user: String,
    password: Secret,
    reg_call_id: String,
    reg_tag: String,
    cseq: AtomicU32,
    nc: AtomicU32,
    timers: Timers,
    timeout: Duration,
    reader: JoinHandle<()>,
}

impl std::fmt::Debug for SipUa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipUa")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Drop for SipUa {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl SipUa {
    /// Opens the connection of device `label` for account `user` (AOR
    /// `sip:<user>@<domain>`); nothing is sent yet.
    pub async fn connect(
        s: &SipSettings,
        transport: SipTransport,
        user: &str,
        password: Secret,
        label: String,
        observer: Option<Arc<dyn SipObserver>>,
    ) -> Result<Self, SipError> {
        let (reader, writer, local_addr) = conn::connect(s, transport).await?;
        let start = clock::now();
        let mut rng = rand::thread_rng();
        let host = local_addr.to_string();
        let local = Local {
            aor: NameAddr::new(format!("sip:{user}@{}", s.domain)),
            contact: NameAddr::new(format!("sip:{user}@{host};transport={}", transport.param())),
            transport: transport.via().to_string(),
            sent_by: host.clone(),
            user_agent: Some(format!("impress/{}", env!("CARGO_PKG_VERSION"))),
        };
        let sh = Arc::new(Shared {
            writer,
            rec: Recorder::new(start, s.transcript_frames),
            reliable: transport.reliable(),
            pending: Mutex::new(HashMap::new()),
            server: Mutex::new(ServerTransactions::new(s.timers)),
            inbox: Mutex::new(VecDeque::new()),
            inbox_cap: s.inbox_cap,
            arrived: Notify::new(),
            closed: Mutex::new(None),
            to_tag: new_tag(&mut rng),
            absorbed: AtomicU64::new(0),
            label: label.clone(),
            observer,
        });
        sh.rec
            .note(start, &format!("{transport:?} {host} -> {}", s.addr));
        let reader = tokio::spawn(read_loop(reader, sh.clone()));
        Ok(Self {
            sh,
            label,
            registrar: format!("sip:{}", s.domain),
            user: user.to_string(),
            password,
            reg_call_id: new_call_id(&mut rng, &host),
            reg_tag: new_tag(&mut rng),
            cseq: AtomicU32::new(1),
            nc: AtomicU32::new(1),
            local,
            timers: s.timers,
            timeout: s.response_timeout,
            reader,
        })
    }

    /// The device label (`user3/phone`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Who this UA is: AOR, Contact, Via.
    pub fn local(&self) -> &Local {
        &self.local
    }

    /// The transcript so far.
    pub fn transcript(&self) -> Transcript {
        self.sh.rec.snapshot()
    }

    /// Why the connection ended, if it has.
    pub fn closed(&self) -> Option<String> {
        self.sh.closed.lock().ok().and_then(|c| c.clone())
    }

    /// Retransmitted requests the UA absorbed (answered from its server transactions).
    pub fn absorbed(&self) -> u64 {
        self.sh.absorbed.load(Ordering::Relaxed)
    }

    /// Judges a clause on this device, with its transcript as evidence.
    pub fn judge(&self, events: &Events, check: &'static CheckDef, j: Judgement) {
        crate::session::negotiate::judge(events, &self.sh.rec, &self.label, check, j);
    }

    /// REGISTER the Contact for `expires` seconds (0 removes it).
    pub async fn register(&self, expires: u32) -> Result<Exchange, SipError> {
        let (call_id, tag) = (self.reg_call_id.clone(), self.reg_tag.clone());
        let (local, registrar) = (self.local.clone(), self.registrar.clone());
        self.request(&call_id, &tag, move |ids| match expires {
            0 => build::unregister(&local, &registrar, ids),
            e => build::register(&local, &registrar, ids, e),
        })
        .await
    }

    /// A new out-of-dialog request: fresh Call-ID and From tag.
    pub async fn request_new(
        &self,
        make: impl Fn(&Ids<'_>) -> RequestBuilder,
    ) -> Result<Exchange, SipError> {
        let (call_id, tag) = {
            let mut rng = rand::thread_rng();
            (
                new_call_id(&mut rng, &self.local.sent_by),
                new_tag(&mut rng),
            )
        };
        self.request(&call_id, &tag, make).await
    }

    /// A request in a given Call-ID/From tag; answers one 401/407 challenge.
    pub async fn request(
        &self,
        call_id: &str,
        from_tag: &str,
        make: impl Fn(&Ids<'_>) -> RequestBuilder,
    ) -> Result<Exchange, SipError> {
        let first = self.attempt(call_id, from_tag, &make, None).await?;
        let Some(Ok((header, challenge))) = digest::challenge_of(&first.response) else {
            return Ok(first);
        };
        let auth = self.authorize(&first.request, header.name(), &challenge)?;
        let mut second = self.attempt(call_id, from_tag, &make, Some(auth)).await?;
        second.sent = first.sent;
        second.challenge = Some(first.response);
        Ok(second)
    }

    /// Sends a request built by `make` (e.g. from a dialog) as is, without auth retry.
    pub async fn send_built(&self, msg: Message) -> Result<Exchange, SipError> {
        self.transact(msg).await
    }

    /// Sends a request twice with the same branch, as a UDP retransmission would, and
    /// returns both final responses (RFC 3261 §17.2.2 says they must be the same).
    pub async fn send_twice(&self, msg: Message) -> Result<(Exchange, Option<Message>), SipError> {
        let key = TransactionKey::of(&msg)
            .ok_or_else(|| SipError::Auth("request without branch".into()))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.waiters()?.insert(key.clone(), tx);
        let sent = self.sh.send(msg.raw()).await?;
        let first = self.final_from(&mut rx, sent + self.timeout).await;
        let mut again = None;
        if first.is_some() {
            self.sh.send(msg.raw()).await?;
            again = self.final_from(&mut rx, clock::now() + self.timeout).await;
        }
        self.unwait(&key);
        let (response, at) = first.ok_or_else(|| SipError::Timeout(describe(&msg)))?;
        let ex = Exchange {
            request: msg,
            sent,
            response,
            at,
            challenge: None,
        };
        Ok((ex, again.map(|(m, _)| m)))
    }

    async fn final_from(
        &self,
        rx: &mut mpsc::UnboundedReceiver<(Message, Instant)>,
        deadline: Instant,
    ) -> Option<(Message, Instant)> {
        loop {
            match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some((m, at))) if m.status().is_some_and(|s| s >= 200) => return Some((m, at)),
                Ok(Some(_)) => {}
                _ => return None,
            }
        }
    }

    /// Waits for a request from the server matching `pred` (NOTIFY, MESSAGE) until
    /// `deadline`; takes it out of the inbox.
    pub async fn take(
        &self,
        pred: impl Fn(&Message) -> bool,
        deadline: Instant,
    ) -> Option<Received> {
        loop {
            let notified = self.sh.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(mut q) = self.sh.inbox.lock()
                && let Some(i) = q.iter().position(|r| pred(&r.msg))
            {
                return q.remove(i);
            }
            if clock::now() >= deadline || self.closed().is_some() {
                return None;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Ends the connection.
    pub async fn close(&self) {
        self.sh.writer.shutdown().await;
        self.reader.abort();
    }

    fn next_cseq(&self) -> u32 {
        self.cseq.fetch_add(1, Ordering::Relaxed)
    }

    async fn attempt(
        &self,
        call_id: &str,
        from_tag: &str,
        make: &impl Fn(&Ids<'_>) -> RequestBuilder,
        auth: Option<(&'static str, String)>,
    ) -> Result<Exchange, SipError> {
        let branch = new_branch(&mut rand::thread_rng());
        let ids = Ids {
            call_id,
            from_tag,
            branch: &branch,
            cseq: self.next_cseq(),
        };
        let mut b = make(&ids);
        if let Some((name, value)) = auth {
            b = b.header(name, value);
        }
        self.transact(b.build()?).await
    }

    fn authorize(
        &self,
        req: &Message,
        header: &'static str,
        challenge: &digest::Challenge,
    ) -> Result<(&'static str, String), SipError> {
        let method = req.method().map(Method::as_str).unwrap_or_default();
        let info = RequestInfo {
            method,
            uri: req.request_uri().unwrap_or_default(),
            body: req.body(),
        };
        let cnonce = new_tag(&mut rand::thread_rng());
        let nc = self.nc.fetch_add(1, Ordering::Relaxed);
        let creds = digest::respond(
            challenge,
            &self.user,
            self.password.expose(),
            info,
            &cnonce,
            nc,
        )
        .map_err(|e| SipError::Auth(e.to_string()))?;
        Ok((header, creds.to_string()))
    }

    fn waiters(&self) -> Result<std::sync::MutexGuard<'_, Waiters>, SipError> {
        if let Some(why) = self.closed() {
            return Err(SipError::Closed(why));
        }
        self.sh
            .pending
            .lock()
            .map_err(|_| SipError::Closed("poisoned".into()))
    }

    fn unwait(&self, key: &TransactionKey) {
        if let Ok(mut p) = self.sh.pending.lock() {
            p.remove(key);
        }
    }

    /// Runs one client transaction to its final response.
    async fn transact(&self, msg: Message) -> Result<Exchange, SipError> {
        let key = TransactionKey::of(&msg)
            .ok_or_else(|| SipError::Auth("request without branch".into()))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.waiters()?.insert(key.clone(), tx);
        let raw: Bytes = msg.raw().clone();
        let sent = match self.sh.send(&raw).await {
            Ok(at) => at,
            Err(e) => {
                self.unwait(&key);
                return Err(e);
            }
        };
        let r = self.drive(&key, raw, &mut rx, sent).await;
        self.unwait(&key);
        let (response, at) = r.map_err(|e| match e {
            SipError::Timeout(_) => SipError::Timeout(describe(&msg)),
            e => e,
        })?;
        Ok(Exchange {
            request: msg,
            sent,
            response,
            at,
            challenge: None,
        })
    }

    async fn drive(
        &self,
        key: &TransactionKey,
        raw: Bytes,
        rx: &mut mpsc::UnboundedReceiver<(Message, Instant)>,
        sent: Instant,
    ) -> Result<(Message, Instant), SipError> {
        let reliable = self.sh.reliable;
        let mut txn = ClientTransaction::new(key.clone(), raw, reliable, self.timers, sent);
        // Timer F is 32 s by default; the suite's response timeout bounds a test run.
        let deadline = sent + self.timeout.min(self.timers.timer_f());
        loop {
            let wake = txn.poll_timeout().map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                r = rx.recv() => {
                    let Some((m, at)) = r else {
                        return Err(SipError::Closed(self.closed().unwrap_or_default()));
                    };
                    let status = m.status().unwrap_or(0);
                    if txn.on_response(status, at) == ResponseAction::Deliver && status >= 200 {
                        return Ok((m, at));
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = clock::now();
                    if now >= deadline {
                        return Err(SipError::Timeout(String::new()));
                    }
                    match txn.handle_timeout(now) {
                        Some(ClientTimeout::Retransmit(b)) => { self.sh.send(&b).await?; }
                        Some(ClientTimeout::TimedOut) => return Err(SipError::Timeout(String::new())),
                        _ => {}
                    }
                }
            }
        }
    }
}

fn describe(m: &Message) -> String {
    let method = m.method().map(Method::as_str).unwrap_or("request");
    format!("{method} {}", m.request_uri().unwrap_or_default())
}

async fn read_loop(mut reader: Reader, sh: Arc<Shared>) {
    loop {
        match reader.next().await {
            Ok(Some(bytes)) => {
                let at = clock::now();
                sh.rec.record(at, Direction::In, &bytes);
                match Message::parse(bytes) {
                    Ok(m) => on_message(&sh, m, at).await,
                    // On a stream, Content-Length is the only message boundary (RFC 3261
                    // §18.3): a frame that does not open with a SIP start line means an
                    // earlier Content-Length was wrong and the stream cannot be framed any
                    // more. Dropping it would swallow the response inside it silently.
                    Err(e @ ParseError::StartLine(_)) if sh.reliable => {
                        let why = format!("{} (stream framing lost)", SipError::Parse(e));
                        sh.rec.note(at, &why);
                        return sh.close(why);
                    }
                    Err(e) => sh
                        .rec
                        .note(at, &format!("unparseable message dropped: {e}")),
                }
            }
            Ok(None) => return sh.close("the server closed the connection".into()),
            Err(e) => return sh.close(e.to_string()),
        }
    }
}

async fn on_message(sh: &Shared, m: Message, at: Instant) {
    if !m.is_request() {
        let key = TransactionKey::of(&m);
        let tx = key.and_then(|k| sh.pending.lock().ok()?.get(&k).cloned());
        if let Some(tx) = tx {
            let _ = tx.send((m, at));
        }
        return;
    }
    let incoming = match sh.server.lock() {
        Ok(mut s) => {
            s.handle_timeout(at);
            s.on_request(&m, sh.reliable)
        }
        Err(_) => return,
    };
    match incoming {
        Incoming::New(key) => answer(sh, m, key, at).await,
        Incoming::Retransmission(last) => {
            sh.absorbed.fetch_add(1, Ordering::Relaxed);
            if let Some(b) = last {
                let _ = sh.send(&b).await;
            }
        }
        Incoming::Unkeyed => {}
    }
}

/// UAS: 200 for NOTIFY, MESSAGE and OPTIONS (kept in the inbox), 405 for the rest.
async fn answer(sh: &Shared, m: Message, key: TransactionKey, at: Instant) {
    let keep = matches!(
        m.method(),
        Some(Method::Notify | Method::Message | Method::Options)
    );
    let (status, reason) = if keep {
        (200, "OK")
    } else {
        (405, "Method Not Allowed")
    };
    let mut resp = build::response(&m, status, reason, Some(&sh.to_tag));
    if !keep {
        resp = resp.header("Allow", "NOTIFY, MESSAGE, OPTIONS");
    }
    if let Ok(r) = resp.build() {
        let bytes = r.raw().clone();
        if let Ok(mut s) = sh.server.lock() {
            s.respond(&key, status, bytes.clone(), at);
        }
        let _ = sh.send(&bytes).await;
    }
    if let Some(o) = sh.observer.as_ref().filter(|_| keep) {
        o.request(&sh.label, &m, at);
    }
    if keep && let Ok(mut q) = sh.inbox.lock() {
        if q.len() >= sh.inbox_cap {
            q.pop_front();
        }
        q.push_back(Received { msg: m, at });
    }
    sh.arrived.notify_waiters();
}
