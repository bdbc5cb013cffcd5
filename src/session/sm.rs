//! XEP-0198 Stream Management on a live session: the counters the writer and the reader
//! share, the reader's handling of `<r/>`, `<a/>` and `<enabled/>`, and the session
//! operations steps use: enable, request an ack, cut the connection abruptly, and resume
//! on a new connection (retransmitting what the server did not handle).

use super::inbox::Received;
use super::negotiate::{self, judge};
use super::reader::Shared;
use super::transcript::Recorder;
use super::xmpp::{Parts, Session};
use super::{Credentials, Observer, SessionError, Settings};
use crate::checks::CheckDef;
use crate::checks::oracle::Judgement;
use crate::clock;
use crate::events::Events;
use crate::proto::xmpp::sm::{self, Resumption, StreamMgmt};
use crate::proto::xmpp::{Element, Jid, ns};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The SM counters of one session, shared by its writer (outbound, under the write lock
/// so the count follows wire order) and its reader (inbound). Idle until enabled.
#[derive(Debug, Default)]
pub(crate) struct SmSlot(Mutex<Option<Counting>>);

#[derive(Debug, Clone, Default)]
struct Counting {
    state: StreamMgmt,
    /// Stanzas sent before the latest `<r/>` we wrote.
    last_r: Option<u32>,
}

impl SmSlot {
    fn install(&self, state: StreamMgmt) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(Counting {
                state,
                last_r: None,
            });
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut Counting) -> T) -> Option<T> {
        self.0.lock().ok()?.as_mut().map(f)
    }

    /// Counts a write: a stanza is queued until acknowledged, an `<r/>` marks the count an
    /// exact `<a/>` must report.
    pub(super) fn wrote(&self, bytes: &[u8]) {
        self.update(|c| {
            if sm::counts_xml(bytes) {
                c.state.wrote(&String::from_utf8_lossy(bytes));
            } else if bytes == sm::REQUEST_XML.as_bytes() {
                c.last_r = Some(c.state.sent());
            }
        });
    }

    fn start(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(Counting::default());
        }
    }

    fn stop(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = None;
        }
    }

    fn snapshot(&self) -> Option<StreamMgmt> {
        self.update(|c| c.state.clone())
    }
}

/// Handles the SM side of an incoming element on the reader; true when it is consumed.
/// `<a/>`, `<enabled/>` and `<failed/>` still reach the inbox, for the step waiting on them.
pub(super) async fn intercept(sh: &Shared, el: &Element) -> bool {
    if el.ns != ns::SM {
        if sm::counts(el) {
            // Counting starts with <enabled/> (§4: h starts at zero there).
            sh.sm.update(|c| {
                if c.state.granted.is_some() {
                    c.state.received();
                }
            });
        }
        return false;
    }
    match el.name.as_str() {
        "r" => {
            if let Some(h) = sh.sm.update(|c| c.state.inbound()) {
                let _ = sh.send(sm::answer(h).to_xml().as_bytes()).await;
            }
            true
        }
        "a" => {
            // A bad h changes nothing here; the step's oracle judges it.
            if let Ok(h) = sm::parse_h(el.attr("h")) {
                sh.sm.update(|c| c.state.acknowledge(h));
            }
            false
        }
        "enabled" => {
            sh.sm.update(|c| c.state.granted = Resumption::parse(el));
            false
        }
        _ => false,
    }
}

fn is_sm(el: &Element, names: &[&str]) -> bool {
    el.ns == ns::SM && names.contains(&el.name.as_str())
}

impl Session {
    /// Whether the server advertised XEP-0198 after authentication.
    pub fn sm_offered(&self) -> bool {
        self.sm_offered
    }

    /// Sends `<enable resume='true'/>` and waits for `<enabled/>` or `<failed/>` (`None`:
    /// neither before the response timeout). Counting starts with the request.
    pub async fn sm_enable(&self) -> Result<Option<Element>, SessionError> {
        self.sh.sm.start();
        let sent = self.send(&sm::enable(true, None)).await?;
        let answer = self
            .take(
                |el| is_sm(el, &["enabled", "failed"]),
                sent + self.response_timeout,
            )
            .await
            .map(|r| r.el);
        if !answer.as_ref().is_some_and(|a| a.is("enabled", ns::SM)) {
            self.sh.sm.stop();
        }
        Ok(answer)
    }

    /// Whether stream management is enabled (`<enabled/>` arrived).
    pub fn sm_enabled(&self) -> bool {
        self.sh.sm.snapshot().is_some_and(|s| s.granted.is_some())
    }

    /// Whether `<enabled/>` granted a resumable stream.
    pub fn sm_resumable(&self) -> bool {
        self.sh
            .sm
            .snapshot()
            .and_then(|s| s.granted)
            .is_some_and(|g| g.resume && g.id.is_some())
    }

    /// Sends `<r/>` and waits for `<a/>`. Returns the number of stanzas sent before the
    /// `<r/>` (what `h` must equal) and the answer (`None`: none before the timeout).
    pub async fn sm_request_ack(&self) -> Result<(u32, Option<Element>), SessionError> {
        let is_a = |el: &Element| el.is("a", ns::SM);
        // Unrequested acks that arrived earlier answer nothing we ask now.
        while self.take(is_a, clock::now()).await.is_some() {}
        let sent = self.send(&sm::request()).await?;
        let mark = self.sh.sm.update(|c| c.last_r).flatten().unwrap_or(0);
        let a = self.take(is_a, sent + self.response_timeout).await;
        Ok((mark, a.map(|r| r.el)))
    }

    /// What a resumption of this (still open) session needs, without touching it.
    pub fn detach_copy(&self, cut_at: Instant) -> Detached {
        Detached {
            label: self.sh.label.clone(),
            jid: self.sh.jid.clone(),
            rec: self.sh.rec.clone(),
            observer: self.sh.observer.clone(),
            sm: self.sh.sm.snapshot(),
            sm_offered: self.sm_offered,
            cut_at,
        }
    }

    /// Drops the connection abruptly, as a network outage would (XEP-0198 §5): no closing
    /// stream tag and no TLS close_notify; the socket is closed once the reader stopped.
    pub async fn cut(mut self) -> Detached {
        self.reader.abort();
        let _ = (&mut self.reader).await;
        let at = clock::now();
        self.sh
            .rec
            .note(at, "impress cut the connection (no closing stream tag)");
        let d = self.detach_copy(at);
        let sh = self.sh.clone();
        drop(self);
        // The reader's half is gone with its task; dropping the last owner of the write
        // half closes the socket.
        drop(Arc::try_unwrap(sh));
        d
    }
}

/// A session whose connection is gone, with what resuming it needs: its label and
/// transcript (so the resumed session continues them), its bound JID and SM counters.
#[derive(Debug)]
pub struct Detached {
    label: String,
    jid: Jid,
    rec: Recorder,
    observer: Arc<dyn Observer>,
    sm: Option<StreamMgmt>,
    sm_offered: bool,
    cut_at: Instant,
}

/// The outcome of a `<resume/>` on a new connection.
#[derive(Debug)]
pub struct ResumeAttempt {
    /// The SM-ID asked for.
    pub previd: String,
    /// SM counters at the cut (what the server's `h` is judged against).
    pub before: StreamMgmt,
    /// When `<resume/>` was written.
    pub sent: Instant,
    /// The server's answer and when it arrived (`None`: none before the timeout).
    pub answer: Option<Received>,
    /// The resumed session, when the server answered `<resumed/>`.
    pub session: Option<Session>,
}

impl Detached {
    /// A made-up session to resume: `previd` was never issued by the server.
    pub fn unknown(
        settings: &Settings,
        label: String,
        jid: Jid,
        observer: Arc<dyn Observer>,
        previd: &str,
    ) -> Self {
        let mut sm = StreamMgmt::new();
        sm.granted = Some(Resumption {
            id: Some(previd.to_owned()),
            resume: true,
            location: None,
            max: None,
        });
        let now = clock::now();
        Self {
            label,
            jid,
            rec: Recorder::new(now, settings.transcript_frames),
            observer,
            sm: Some(sm),
            sm_offered: true,
            cut_at: now,
        }
    }

    /// The session's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// When the connection was cut.
    pub fn cut_at(&self) -> Instant {
        self.cut_at
    }

    /// The resumption time `<enabled max/>` granted, if any.
    pub fn max(&self) -> Option<Duration> {
        let max = self.sm.as_ref()?.granted.as_ref()?.max?;
        Some(Duration::from_secs(max.into()))
    }

    /// Judges a clause on this session, with its transcript as evidence.
    pub fn judge(&self, events: &Events, check: &'static CheckDef, j: Judgement) {
        judge(events, &self.rec, &self.label, check, j);
    }

    /// Connects, authenticates and sends `<resume previd h/>` instead of binding (§5).
    /// On `<resumed/>` the stanzas the server's `h` leaves unacknowledged are written
    /// again before the reader starts, and the session continues with the same counters.
    pub async fn resume(
        &self,
        settings: &Settings,
        creds: &Credentials,
        events: &Events,
    ) -> Result<ResumeAttempt, SessionError> {
        let before = self.sm.clone().unwrap_or_default();
        let previd = before
            .granted
            .as_ref()
            .and_then(|g| g.id.clone())
            .unwrap_or_default();
        let req = sm::resume(&previd, before.inbound());
        let (neg, sent, answer) =
            negotiate::resume(settings, creds, self.jid.clone(), events, &self.rec, &req).await?;
        let at = clock::now();
        let answer = answer.map(|el| Received { at, el });
        let h = answer
            .as_ref()
            .filter(|a| a.el.is("resumed", ns::SM))
            .and_then(|a| sm::parse_h(a.el.attr("h")).ok());
        let mut attempt = ResumeAttempt {
            previd,
            before: before.clone(),
            sent,
            answer,
            session: None,
        };
        let Some(h) = h else {
            return Ok(attempt);
        };
        let mut state = before;
        // An impossible h is judged by the caller; resend everything then.
        let _ = state.acknowledge(h);
        let resend: Vec<String> = state.unacked().map(str::to_owned).collect();
        let parts = Parts {
            label: self.label.clone(),
            rec: self.rec.clone(),
            observer: self.observer.clone(),
            sm: SmSlot::default(),
        };
        let (sh, rd) = Session::shared(settings, neg.jid, neg.stream, parts);
        for xml in &resend {
            sh.send(xml.as_bytes()).await?;
        }
        sh.sm.install(state);
        let s = Session::start(settings, sh, rd, neg.framer, neg.ctx, self.sm_offered);
        attempt.session = Some(s);
        Ok(attempt)
    }
}
