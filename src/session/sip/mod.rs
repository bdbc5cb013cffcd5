//! One virtual SIP user agent (one device of a user): a UDP, TCP or TLS connection to the
//! registrar/proxy, a reader task that answers NOTIFY and MESSAGE and absorbs
//! retransmissions (RFC 3261 §17.2.2), and non-INVITE client transactions with Timer E/F
//! retransmission on UDP and digest authentication (§22) on 401/407. The sans-io parts
//! live in `proto::sip`; this module only pumps them over sockets.

mod conn;
mod ua;

pub use ua::{Exchange, Received, SipUa};

use crate::proto::sip::{FrameError, ParseError, Timers};
use crate::transport::{TlsSettings, TransportError};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// SIP transport of a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    /// UDP, one message per datagram, with retransmissions.
    #[default]
    Udp,
    /// TCP, Content-Length framing.
    Tcp,
    /// TLS over TCP (certificate verified unless the target says `insecure`).
    Tls,
}

impl SipTransport {
    /// The Via transport token.
    pub fn via(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// The `transport` URI parameter.
    pub fn param(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// Whether the transport is reliable (no retransmissions, §17.1.2.2).
    pub fn reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }
}

/// How every SIP user agent of a run connects.
#[derive(Debug, Clone)]
pub struct SipSettings {
    /// Registrar/proxy address for UDP and TCP.
    pub addr: SocketAddr,
    /// Address for TLS (`None` when the target has none).
    pub tls_addr: Option<SocketAddr>,
    /// SIP domain (AORs are `sip:<user>@<domain>`).
    pub domain: String,
    /// TLS client settings, for [`SipTransport::Tls`].
    pub tls: Option<TlsSettings>,
    /// Timer values (T1, T2, T4).
    pub timers: Timers,
    /// TCP/TLS connect limit.
    pub connect_timeout: Duration,
    /// Limit for each transaction on reliable transports (UDP uses Timer F).
    pub response_timeout: Duration,
    /// Largest message accepted.
    pub max_message_bytes: usize,
    /// Frames kept per transcript.
    pub transcript_frames: usize,
    /// Received requests kept in an inbox.
    pub inbox_cap: usize,
}

/// Why a SIP operation failed (the harness or the network; server violations are verdicts).
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// Connecting failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent bytes that are not SIP.
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
    /// A message impress built or received could not be parsed.
    #[error("parse: {0}")]
    Parse(#[from] ParseError),
    /// No final response before Timer F (UDP) or the response timeout.
    #[error("no final response to {0} before the timeout")]
    Timeout(String),
    /// The connection is gone.
    #[error("connection closed: {0}")]
    Closed(String),
    /// The transport asked for is not configured on the target.
    #[error("{0}")]
    Unsupported(String),
    /// A challenge impress cannot answer.
    #[error("authentication: {0}")]
    Auth(String),
}

/// Sees every NOTIFY and MESSAGE a user agent receives (the fleet's delivery tracker).
pub trait SipObserver: Send + Sync + std::fmt::Debug {
    /// Device `to` received `msg` at `at`.
    fn request(&self, to: &str, msg: &crate::proto::sip::Message, at: std::time::Instant);
}

impl SipError {
    /// Whether the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Transport(_))
    }
}
