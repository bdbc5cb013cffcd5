//! Stream negotiation (RFC 6120 §4–§7): stream header, STARTTLS, SASL, resource binding.
//! Each clause it exercises is judged on the way, with the transcript as evidence.

use super::transcript::Recorder;
use super::{Credentials, SessionError, Settings};
use crate::checks::catalogue as c;
use crate::checks::oracle::{self, Judgement};
use crate::checks::{CheckDef, Direction, Outcome};
use crate::clock;
use crate::events::Events;
use crate::proto::xmpp::sasl::{self, Mechanism, ScramClient};
use crate::proto::xmpp::stanza::{self, StreamError, StreamFeatures};
use crate::proto::xmpp::{Element, Frame, Framer, Jid, NsContext, ns};
use crate::transport::Stream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A negotiated stream, ready for stanzas.
pub(super) struct Negotiated {
    pub stream: Stream,
    pub framer: Framer,
    pub ctx: NsContext,
    pub jid: Jid,
    /// XEP-0198 advertised in the post-SASL features.
    pub sm_offered: bool,
}

/// The stream during negotiation: one owner, no reader task yet.
struct Wire<'a> {
    /// `None` only while the TCP stream is inside the TLS handshake.
    stream: Option<Stream>,
    framer: Framer,
    ctx: NsContext,
    settings: &'a Settings,
    rec: &'a Recorder,
    events: &'a Events,
    subject: &'a str,
}

/// Judges one clause on `subject`, with the transcript as evidence when it does not hold.
pub(crate) fn judge(
    events: &Events,
    rec: &Recorder,
    subject: &str,
    check: &'static CheckDef,
    j: Judgement,
) {
    let o = match j {
        Ok(()) => Outcome::pass(check, subject),
        Err(v) => {
            Outcome::violation(check, subject, v.expected, v.actual).with_evidence(rec.snapshot())
        }
    };
    events.outcome(o);
}

impl Wire<'_> {
    fn judge(&self, check: &'static CheckDef, j: Judgement) {
        judge(self.events, self.rec, self.subject, check, j);
    }

    fn io(&mut self) -> Result<&mut Stream, SessionError> {
        self.stream
            .as_mut()
            .ok_or_else(|| SessionError::Closed("the stream was lost in the TLS handshake".into()))
    }

    async fn send(&mut self, bytes: &[u8], shown: Option<&str>) -> Result<(), SessionError> {
        let shown = shown.map_or(bytes, str::as_bytes);
        self.rec.record(clock::now(), Direction::Out, shown);
        let io = self.io()?;
        io.write_all(bytes).await?;
        io.flush().await?;
        Ok(())
    }

    async fn frame(&mut self, what: &'static str) -> Result<Frame, SessionError> {
        let deadline = clock::now() + self.settings.response_timeout;
        // On the heap, not in the future: thousands of logins in flight would each carry it.
        let mut buf = vec![0u8; 2048];
        loop {
            if let Some(f) = self.framer.next_frame()? {
                self.rec.record(clock::now(), Direction::In, f.raw());
                return Ok(f);
            }
            let io = self.io()?;
            match tokio::time::timeout_at(deadline.into(), io.read(&mut buf)).await {
                Err(_) => return Err(SessionError::Timeout(what)),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(0)) => return Err(SessionError::Closed(format!("while waiting for {what}"))),
                Ok(Ok(n)) => self.framer.feed(&buf[..n])?,
            }
        }
    }

    async fn element(&mut self, what: &'static str) -> Result<Element, SessionError> {
        match self.frame(what).await? {
            Frame::Element { raw } => {
                let el = crate::proto::xmpp::element::parse(&raw, &self.ctx)?;
                if el.is("error", ns::STREAM) {
                    let e = StreamError::parse(&el).unwrap_or(StreamError {
                        condition: "undefined-condition".into(),
                        text: None,
                    });
                    return Err(SessionError::Stream(e));
                }
                Ok(el)
            }
            Frame::Close { .. } => Err(SessionError::Closed(format!(
                "server closed the stream while waiting for {what}"
            ))),
            Frame::Open { .. } => Err(SessionError::Negotiation(format!(
                "unexpected stream header while waiting for {what}"
            ))),
        }
    }

    /// Opens (or reopens) the stream and returns the first element after the header. The
    /// framer must already expect a header: a fresh one does, and after SASL the caller
    /// restarts it (once, as the framer's contract asks).
    async fn open(&mut self) -> Result<Element, SessionError> {
        let open = stanza::stream_open(&self.settings.domain);
        self.send(open.as_bytes(), None).await?;
        match self.frame("the response stream header").await? {
            Frame::Open { header, .. } => self.ctx = header.ns_context(),
            _ => {
                return Err(SessionError::Negotiation(
                    "expected a response stream header".into(),
                ));
            }
        }
        self.element("stream features").await
    }
}

fn features_of(el: &Element) -> StreamFeatures {
    if el.is("features", ns::STREAM) {
        StreamFeatures::parse(el)
    } else {
        StreamFeatures::default()
    }
}

/// Connects and negotiates up to a bound resource.
pub(super) async fn login(
    settings: &Settings,
    creds: &Credentials,
    subject: &str,
    events: &Events,
    rec: &Recorder,
) -> Result<Negotiated, SessionError> {
    let (mut w, features) = authenticated(settings, creds, subject, events, rec).await?;
    w.judge(&c::BIND_OFFERED, oracle::bind_offered(&features));
    let jid = bind(&mut w, &features, creds).await?;
    w.into_negotiated(jid, features.sm)
}

/// Connects and authenticates, then sends `request` (XEP-0198 §5 `<resume/>`) instead of
/// binding. Returns the stream, when the request was written and the server's answer
/// (`None`: none before the response timeout).
pub(super) async fn resume(
    settings: &Settings,
    creds: &Credentials,
    jid: Jid,
    events: &Events,
    rec: &Recorder,
    request: &Element,
) -> Result<(Negotiated, Instant, Option<Element>), SessionError> {
    let subject = jid.to_string();
    let (mut w, features) = authenticated(settings, creds, &subject, events, rec).await?;
    let sent = clock::now();
    w.send(request.to_xml().as_bytes(), None).await?;
    let answer = match w.element("the resumption answer").await {
        Ok(el) => Some(el),
        Err(SessionError::Timeout(_)) => None,
        Err(e) => return Err(e),
    };
    Ok((w.into_negotiated(jid, features.sm)?, sent, answer))
}

/// Connects, secures and authenticates; returns the wire and the post-SASL features.
async fn authenticated<'a>(
    settings: &'a Settings,
    creds: &Credentials,
    subject: &'a str,
    events: &'a Events,
    rec: &'a Recorder,
) -> Result<(Wire<'a>, StreamFeatures), SessionError> {
    let source = settings.sources.next();
    let stream = Stream::connect_from(settings.addr, source, settings.connect_timeout).await?;
    let mut w = Wire {
        stream: Some(stream),
        framer: Framer::new(settings.framer.clone()),
        ctx: NsContext::client(),
        settings,
        rec,
        events,
        subject,
    };
    let mut features = features_of(&w.open().await?);
    if settings.tls.is_some() {
        features = starttls(&mut w, &features).await?;
    }
    authenticate(&mut w, &features, creds).await?;
    // RFC 6120 §6.4.6: the stream restarts after <success/>; bytes already buffered after
    // it belong to the new stream.
    w.framer.restart();
    let after_sasl = w.open().await?;
    Ok((w, features_of(&after_sasl)))
}

impl Wire<'_> {
    fn into_negotiated(self, jid: Jid, sm_offered: bool) -> Result<Negotiated, SessionError> {
        Ok(Negotiated {
            stream: self
                .stream
                .ok_or_else(|| SessionError::Closed("stream lost".into()))?,
            framer: self.framer,
            ctx: self.ctx,
            jid,
            sm_offered,
        })
    }
}

async fn starttls(
    w: &mut Wire<'_>,
    features: &StreamFeatures,
) -> Result<StreamFeatures, SessionError> {
    let Some(tls) = w.settings.tls.clone() else {
        return Ok(features.clone());
    };
    if features.starttls.is_none() {
        return Err(SessionError::Negotiation(
            "the server does not offer STARTTLS and the target requires TLS (tls.mode = \"plaintext\" disables it)".into(),
        ));
    }
    let req = Element::new("starttls", ns::TLS).to_xml();
    w.send(req.as_bytes(), None).await?;
    let answer = w.element("STARTTLS <proceed/>").await?;
    if !answer.is("proceed", ns::TLS) {
        return Err(SessionError::Negotiation(format!(
            "STARTTLS refused with <{}/>",
            answer.name
        )));
    }
    let tcp = w
        .stream
        .take()
        .ok_or_else(|| SessionError::Closed("stream lost".into()))?;
    w.stream = Some(tcp.upgrade(&tls).await?);
    w.rec.note(clock::now(), "TLS established");
    w.framer = Framer::new(w.settings.framer.clone());
    let first = w.open().await;
    let first_el = first.as_ref().ok();
    w.judge(&c::FEATURES_AFTER_TLS, oracle::features_received(first_el));
    let features = features_of(&first?);
    w.judge(
        &c::NO_STARTTLS_AFTER_TLS,
        oracle::no_starttls_after_tls(&features),
    );
    Ok(features)
}

async fn authenticate(
    w: &mut Wire<'_>,
    features: &StreamFeatures,
    creds: &Credentials,
) -> Result<(), SessionError> {
    let allow_plain = w.io()?.is_tls() || w.settings.allow_plain;
    let mech = sasl::choose(&features.mechanisms, allow_plain).ok_or_else(|| {
        SessionError::Negotiation(format!(
            "no acceptable SASL mechanism among {:?} (PLAIN needs TLS or tls.allow_plain)",
            features.mechanisms
        ))
    })?;
    match mech {
        Mechanism::Plain => {
            let payload = B64.encode(sasl::plain_initial(
                &creds.username,
                creds.password.expose(),
            ));
            send_auth(w, mech, &payload, true).await?;
            let outcome = w.element("the SASL outcome").await?;
            sasl_outcome(w, &outcome)
        }
        _ => scram(w, mech, creds).await,
    }
}

async fn send_auth(
    w: &mut Wire<'_>,
    mech: Mechanism,
    payload: &str,
    secret: bool,
) -> Result<(), SessionError> {
    let el = |p: &str| {
        Element::new("auth", ns::SASL)
            .with_attr("mechanism", mech.name())
            .with_text(p)
            .to_xml()
    };
    let shown = secret.then(|| el("[redacted]"));
    w.send(el(payload).as_bytes(), shown.as_deref()).await
}

fn sasl_outcome(w: &Wire<'_>, outcome: &Element) -> Result<(), SessionError> {
    let j = oracle::sasl_outcome(outcome);
    let failed = j.is_err();
    w.judge(&c::SASL_SUCCESS, j);
    if failed {
        let cond = outcome
            .children()
            .next()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        return Err(SessionError::Negotiation(format!(
            "authentication failed: <{}/> {cond}",
            outcome.name
        )));
    }
    Ok(())
}

fn decode(el: &Element) -> Result<Vec<u8>, SessionError> {
    let text = el.text();
    let text = text.trim();
    if text == "=" {
        return Ok(Vec::new());
    }
    B64.decode(text).map_err(|e| {
        SessionError::Negotiation(format!("undecodable SASL data in <{}/>: {e}", el.name))
    })
}

async fn scram(w: &mut Wire<'_>, mech: Mechanism, creds: &Credentials) -> Result<(), SessionError> {
    let nonce = client_nonce();
    let mut client = ScramClient::new(mech, &creds.username, creds.password.expose(), &nonce);
    send_auth(w, mech, &B64.encode(client.client_first()), false).await?;
    let challenge = w.element("the SCRAM challenge").await?;
    if !challenge.is("challenge", ns::SASL) {
        return sasl_outcome(w, &challenge);
    }
    // PBKDF2 takes milliseconds of CPU (4096 rounds and more): on the async workers a login
    // burst would stall every session's reads and timers, so it runs on the blocking pool.
    let (server_first, cache) = (decode(&challenge)?, w.settings.sasl_cache.clone());
    let (client, final_msg) = tokio::task::spawn_blocking(move || {
        let out = client.handle_server_first(&server_first, &cache);
        (client, out)
    })
    .await
    .map_err(|e| SessionError::Negotiation(format!("SCRAM key derivation task failed: {e}")))?;
    let final_msg = final_msg
        .map_err(|e| SessionError::Negotiation(format!("SCRAM server-first-message: {e}")))?;
    let response = |p: &str| Element::new("response", ns::SASL).with_text(p).to_xml();
    let shown = response("[redacted]");
    w.send(response(&B64.encode(final_msg)).as_bytes(), Some(&shown))
        .await?;
    let mut outcome = w.element("the SASL outcome").await?;
    let mut server_final = None;
    if outcome.is("challenge", ns::SASL) {
        // RFC 6120 §6.4.6 lets a server send its final data in a challenge and then an
        // empty success.
        server_final = Some(decode(&outcome)?);
        w.send(Element::new("response", ns::SASL).to_xml().as_bytes(), None)
            .await?;
        outcome = w.element("the SASL outcome").await?;
    }
    sasl_outcome(w, &outcome)?;
    let server_final = match server_final {
        Some(f) => f,
        None => decode(&outcome)?,
    };
    let verified = client.verify_server_final(&server_final);
    let j = verified
        .as_ref()
        .map(|_| ())
        .map_err(|e| oracle::Violation {
            expected: "a ServerSignature matching the client's computation".into(),
            actual: e.to_string(),
        });
    w.judge(&c::SCRAM_SERVER_SIGNATURE, j);
    verified.map_err(|e| {
        SessionError::Negotiation(format!(
            "the server did not prove it knows the password: {e}"
        ))
    })
}

fn client_nonce() -> String {
    use rand::Rng;
    use rand::distributions::Alphanumeric;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

async fn bind(
    w: &mut Wire<'_>,
    features: &StreamFeatures,
    creds: &Credentials,
) -> Result<Jid, SessionError> {
    let resource = Element::new("resource", ns::BIND).with_text(creds.resource.as_str());
    let req = stanza::iq(
        "set",
        "bind-1",
        None,
        Some(Element::new("bind", ns::BIND).with_child(resource)),
    );
    w.send(req.to_xml().as_bytes(), None).await?;
    let resp = match w.element("the bind result").await {
        Ok(el) => Some(el),
        Err(SessionError::Timeout(_)) => None,
        Err(e) => return Err(e),
    };
    w.judge(
        &c::IQ_RESPONSE,
        oracle::iq_response("bind-1", resp.as_ref()),
    );
    let resp = resp.ok_or(SessionError::Timeout("the bind result"))?;
    let account = Jid::new(Some(&creds.username), &w.settings.domain, None)
        .map_err(|e| SessionError::Negotiation(format!("account name is not a valid JID: {e}")))?;
    let bound = oracle::bind_result(&resp, &account);
    w.judge(
        &c::BIND_FULL_JID,
        bound.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let jid = bound.map_err(|v| SessionError::Negotiation(format!("bind failed: {}", v.actual)))?;
    if features.session_required {
        let req = stanza::iq(
            "set",
            "sess-1",
            None,
            Some(Element::new("session", ns::SESSION)),
        );
        w.send(req.to_xml().as_bytes(), None).await?;
        w.element("the session result").await?;
    }
    Ok(jid)
}
