//! What the proxy does to traffic right now ([`Mode`]), the record of every change
//! ([`ModeChange`], for the run timeline), and which XMPP messages it drops ([`DropRule`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::proto::xmpp::Element;

/// How the proxy treats connections; changed at run time with [`Proxy::set_mode`].
///
/// [`Proxy::set_mode`]: super::Proxy::set_mode
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Forward both directions as fast as they come.
    #[default]
    Pass,
    /// Hold each chunk for the given time in each direction before forwarding it; order is
    /// kept, so a round trip takes at least twice the delay.
    Delay(Duration),
    /// Reset every open connection (TCP RST to both ends, via `SO_LINGER` 0) and refuse new
    /// ones (the listening socket is closed) until another mode is set.
    Cut,
    /// A partition: connections stay open but nothing is read or forwarded; new connections
    /// are accepted and get nothing (their upstream connection waits for the partition to
    /// end).
    Blackhole,
}

impl Mode {
    /// True when bytes move (pass or delay).
    pub fn forwards(self) -> bool {
        matches!(self, Self::Pass | Self::Delay(_))
    }

    /// How long a chunk read now is held.
    pub fn delay(self) -> Duration {
        match self {
            Self::Delay(d) => d,
            _ => Duration::ZERO,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass => f.write_str("pass"),
            Self::Delay(d) => write!(f, "delay {d:?}"),
            Self::Cut => f.write_str("cut"),
            Self::Blackhole => f.write_str("blackhole"),
        }
    }
}

/// One mode change, stamped when it was requested (the proxy's start counts as the first,
/// to [`Mode::Pass`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeChange {
    /// When the change was made.
    pub at: Instant,
    /// The mode from then on.
    pub mode: Mode,
}

/// A top-level `<message/>` the stanza filter is about to forward, as shown to a
/// [`DropRule`].
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// The parsed stanza.
    pub element: &'a Element,
    /// Its exact bytes.
    pub raw: &'a [u8],
    /// The `id` attribute.
    pub id: Option<&'a str>,
    /// The text of its `<body/>`, when it has one.
    pub body: Option<&'a str>,
    /// Position among the messages with a body seen since the rule was set (1-based), or 0
    /// for a message without a body.
    pub seq: u64,
}

/// Which server-to-client messages the stanza filter drops.
#[derive(Clone)]
pub enum DropRule {
    /// Every k-th message that has a body (k, 2k, 3k … counted over all connections since
    /// the rule was set). `EveryNth(0)` drops nothing.
    EveryNth(u64),
    /// Messages whose `id` or body contains this text.
    Marker(String),
    /// Any predicate; true drops the message.
    Custom(Arc<dyn Fn(&MessageView<'_>) -> bool + Send + Sync>),
}

impl DropRule {
    /// Whether the rule drops `m`.
    pub fn matches(&self, m: &MessageView<'_>) -> bool {
        match self {
            Self::EveryNth(k) => *k > 0 && m.seq > 0 && m.seq.is_multiple_of(*k),
            Self::Marker(s) => {
                m.id.is_some_and(|id| id.contains(s.as_str()))
                    || m.body.is_some_and(|b| b.contains(s.as_str()))
            }
            Self::Custom(f) => f(m),
        }
    }
}

impl fmt::Debug for DropRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EveryNth(k) => f.debug_tuple("EveryNth").field(k).finish(),
            Self::Marker(s) => f.debug_tuple("Marker").field(s).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}
