//! One virtual XMPP client: connects, negotiates (STARTTLS, SASL, bind), then pumps the
//! sans-io codec over the transport on a reader task, turning wire traffic into inbox
//! entries, delivery observations and verdicts.

mod inbox;
mod negotiate;
mod reader;
pub mod sip;
mod sm;
pub mod transcript;
mod xmpp;

pub use inbox::{Inbox, Received};
pub use sm::{Detached, ResumeAttempt};
pub use xmpp::Session;

use crate::proto::xmpp::sasl::SaltedPasswordCache;
use crate::proto::xmpp::stanza::StreamError;
use crate::proto::xmpp::{Element, FrameError, FramerConfig, ParseError};
use crate::scenario::Secret;
use crate::transport::{TlsSettings, TransportError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How every session of a run connects.
#[derive(Debug, Clone)]
pub struct Settings {
    /// c2s endpoint.
    pub addr: SocketAddr,
    /// XMPP domain (stream `to`).
    pub domain: String,
    /// STARTTLS settings; `None` means plaintext.
    pub tls: Option<TlsSettings>,
    /// Allow SASL PLAIN on a plaintext stream.
    pub allow_plain: bool,
    /// TCP connect limit.
    pub connect_timeout: Duration,
    /// Limit for each negotiation step and each request.
    pub response_timeout: Duration,
    /// Framer limits (stanza size, depth).
    pub framer: FramerConfig,
    /// Frames kept per session transcript.
    pub transcript_frames: usize,
    /// Stanzas kept in an inbox.
    pub inbox_cap: usize,
    /// PBKDF2 results shared by every session.
    pub sasl_cache: Arc<SaltedPasswordCache>,
    /// Source addresses connections rotate over (empty: the kernel chooses).
    pub sources: crate::transport::SourceAddrs,
    /// c2s endpoint of every node of the target, as clients reach it (through the node's
    /// fault proxy when the suite has one); `addr` is the first.
    pub nodes: Vec<SocketAddr>,
    /// The XMPP domain of every node when they differ (a federation: one domain per
    /// deployment); empty when every node serves `domain`.
    pub domains: Vec<String>,
}

impl Settings {
    /// These settings aimed at node `node` (node 0 when there is no such node).
    pub fn at(&self, node: usize) -> Self {
        let mut s = self.clone();
        s.addr = self.nodes.get(node).copied().unwrap_or(self.addr);
        if let Some(d) = self.domains.get(node) {
            s.domain = d.clone();
        }
        s
    }
}

/// Who logs in.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Account localpart.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Resource to request.
    pub resource: String,
}

/// Receives messages and presences that carry impress tokens, as they come off the wire.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// A message arrived at session `to`. Returns true when the observer consumed it.
    fn message(&self, to: &str, el: &Element, raw: &[u8], at: Instant) -> bool;
    /// A presence arrived at session `to`. Returns true when the observer consumed it.
    fn presence(&self, to: &str, el: &Element, raw: &[u8], at: Instant) -> bool;
    /// A XEP-0280 carbon copy (`el`, the wrapper) arrived at session `to`. It is reported
    /// here and never through [`Observer::message`], so a copy is never taken for a
    /// delivery of the message it forwards. Returns true when the observer consumed it.
    fn carbon(&self, _to: &str, _el: &Element, _raw: &[u8], _at: Instant) -> bool {
        false
    }
}

/// Why a session failed. Transport and timeout errors are the network's fault (verdict
/// `error`); protocol errors are the server's (they also produce `fail` verdicts).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Connect or TLS failure.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Read or write failure.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The server's bytes are not a well-formed, acceptable XMPP stream.
    #[error("server sent an unacceptable stream: {0}")]
    Frame(#[from] FrameError),
    /// A stanza could not be parsed.
    #[error("server sent an unparsable stanza: {0}")]
    Parse(#[from] ParseError),
    /// The server sent a stream error.
    #[error("server sent stream error <{}/>{}", .0.condition, .0.text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Stream(StreamError),
    /// The server closed the stream or the connection.
    #[error("server closed the connection: {0}")]
    Closed(String),
    /// Nothing arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The negotiation cannot continue (e.g. no acceptable SASL mechanism).
    #[error("negotiation failed: {0}")]
    Negotiation(String),
}

impl SessionError {
    /// True when the failure is the network's or the target's availability, not a
    /// protocol judgement (used to tell an unreachable target from a failing one).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Transport(TransportError::Connect { .. } | TransportError::ConnectTimeout { .. })
        )
    }
}
