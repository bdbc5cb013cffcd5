//! The session handle steps use: send, request/response, awaited inbox search, judging
//! with this session's transcript, and orderly close.

use super::inbox::{Inbox, Received};
use super::negotiate::{self, judge};
use super::reader::{self, Shared};
use super::sm::SmSlot;
use super::transcript::Recorder;
use super::{Credentials, Observer, SessionError, Settings};
use crate::checks::CheckDef;
use crate::checks::Transcript;
use crate::checks::oracle::Judgement;
use crate::clock;
use crate::events::Events;
use crate::metrics::Op;
use crate::proto::xmpp::stanza::STREAM_CLOSE;
use crate::proto::xmpp::{Element, Framer, Jid, NsContext};
use crate::transport::Stream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::ReadHalf;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A logged-in XMPP client session. Dropping it aborts its reader and closes the socket.
#[derive(Debug)]
pub struct Session {
    pub(super) sh: Arc<Shared>,
    pub(super) reader: JoinHandle<()>,
    next_id: AtomicU64,
    pub(super) response_timeout: Duration,
    /// XEP-0198 advertised after authentication.
    pub(super) sm_offered: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// What a session is made of besides its negotiated stream.
pub(super) struct Parts {
    /// Session label, e.g. `user3/desktop`.
    pub label: String,
    /// Transcript (a resumed session continues the old one's).
    pub rec: Recorder,
    /// Delivery observer.
    pub observer: Arc<dyn Observer>,
    /// XEP-0198 counters.
    pub sm: SmSlot,
}

impl Session {
    /// Connects and logs in. `intended` is when the schedule meant the login to start:
    /// the login latency is measured from it. Clauses met on the way are judged.
    pub async fn connect(
        settings: &Settings,
        creds: &Credentials,
        label: String,
        events: &Events,
        observer: Arc<dyn Observer>,
        intended: Instant,
    ) -> Result<Self, SessionError> {
        let sent = clock::now();
        let rec = Recorder::new(sent, settings.transcript_frames);
        let neg = match negotiate::login(settings, creds, &label, events, &rec).await {
            Ok(n) => n,
            Err(e) => {
                rec.note(clock::now(), &e.to_string());
                events.op_failed(Op::Login, &label, e.to_string());
                return Err(e);
            }
        };
        events.latency(Op::Login, intended, sent, clock::now());
        let parts = Parts {
            label,
            rec,
            observer,
            sm: SmSlot::default(),
        };
        let (sh, rd) = Self::shared(settings, neg.jid, neg.stream, parts);
        Ok(Self::start(
            settings,
            sh,
            rd,
            neg.framer,
            neg.ctx,
            neg.sm_offered,
        ))
    }

    /// The state shared with a reader, before the reader runs (so a resumed stream can
    /// write its retransmissions first).
    pub(super) fn shared(
        settings: &Settings,
        jid: Jid,
        stream: Stream,
        p: Parts,
    ) -> (Arc<Shared>, ReadHalf<Stream>) {
        let (rd, wr) = tokio::io::split(stream);
        let sh = Arc::new(Shared {
            label: p.label,
            jid,
            inbox: Inbox::new(settings.inbox_cap),
            pending: Mutex::new(HashMap::new()),
            rec: p.rec,
            observer: p.observer,
            auto_approve: AtomicBool::new(false),
            writer: tokio::sync::Mutex::new(wr),
            close_seen: Mutex::new(None),
            sm: p.sm,
        });
        (sh, rd)
    }

    /// Starts the reader over `sh`.
    pub(super) fn start(
        settings: &Settings,
        sh: Arc<Shared>,
        rd: ReadHalf<Stream>,
        framer: Framer,
        ctx: NsContext,
        sm_offered: bool,
    ) -> Self {
        let reader = tokio::spawn(reader::run(rd, framer, ctx, sh.clone()));
        Self {
            sh,
            reader,
            next_id: AtomicU64::new(1),
            response_timeout: settings.response_timeout,
            sm_offered,
        }
    }

    /// The session's label, e.g. `user3/desktop`.
    pub fn label(&self) -> &str {
        &self.sh.label
    }

    /// The full JID the server bound.
    pub fn jid(&self) -> &Jid {
        &self.sh.jid
    }

    /// Approve every inbound subscription request automatically (like a client set to
    /// accept contacts).
    pub fn set_auto_approve(&self, on: bool) {
        self.sh.auto_approve.store(on, Ordering::Relaxed);
    }

    /// Sends a stanza; returns when it was written.
    pub async fn send(&self, el: &Element) -> Result<Instant, SessionError> {
        self.closed_check()?;
        Ok(self.sh.send(el.to_xml().as_bytes()).await?)
    }

    fn closed_check(&self) -> Result<(), SessionError> {
        match self.sh.inbox.closed() {
            Some(reason) => Err(SessionError::Closed(reason)),
            None => Ok(()),
        }
    }

    /// Sends an IQ (its id is set here) and waits for the response. Returns when it was
    /// sent and the response, `None` on timeout.
    pub async fn request(
        &self,
        mut iq: Element,
    ) -> Result<(Instant, Option<Received>), SessionError> {
        let id = format!("q{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        iq.set_attr("id", id.as_str());
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.sh.pending.lock() {
            p.insert(id.clone(), tx);
        }
        let sent = self.send(&iq).await?;
        let resp = tokio::time::timeout(self.response_timeout, rx).await;
        if let Ok(mut p) = self.sh.pending.lock() {
            p.remove(&id);
        }
        match resp {
            Ok(Ok(r)) => Ok((sent, Some(r))),
            Ok(Err(_)) => Err(SessionError::Closed(
                self.sh.inbox.closed().unwrap_or_default(),
            )),
            Err(_) => Ok((sent, None)),
        }
    }

    /// Takes the first received stanza matching `pred`, waiting until `deadline`.
    pub async fn take(
        &self,
        pred: impl Fn(&Element) -> bool,
        deadline: Instant,
    ) -> Option<Received> {
        self.sh.inbox.take(pred, deadline).await
    }

    /// Why the stream ended, if it has.
    pub fn closed(&self) -> Option<String> {
        self.sh.inbox.closed()
    }

    /// Judges a clause on this session, with its transcript as evidence.
    pub fn judge(&self, events: &Events, check: &'static CheckDef, j: Judgement) {
        judge(events, &self.sh.rec, &self.sh.label, check, j);
    }

    /// This session's transcript so far.
    pub fn transcript(&self) -> Transcript {
        self.sh.rec.snapshot()
    }

    /// Sends the closing stream tag and waits up to `timeout` for the server's. Returns
    /// when the tag was sent and when the server's arrived (`None`: it did not).
    pub async fn close(
        &self,
        timeout: Duration,
    ) -> Result<(Instant, Option<Instant>), SessionError> {
        self.closed_check()?;
        let sent = self.sh.send(STREAM_CLOSE.as_bytes()).await?;
        let deadline = sent + timeout;
        let _ = self.sh.inbox.take(|_| false, deadline).await;
        let seen = self.sh.close_seen.lock().ok().and_then(|c| *c);
        Ok((sent, seen))
    }
}
