//! HDR latency recording per operation: whole-run and per-interval histograms, in
//! microseconds with 3 significant figures; per-interval error and gauge series; live
//! snapshots. Knows nothing but numbers and operation names.

pub mod live;
mod recorder;
mod series;

pub use live::Snapshot;
pub use recorder::{Interval, OpRecorder, OpSummary};
pub use series::{Series, SeriesRecorder};

use serde::Serialize;

/// An operation whose latency impress measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// TCP connect to bound resource (STARTTLS and SASL included).
    Login,
    /// Roster get round trip.
    Roster,
    /// Subscribe sent → `subscribed` received.
    Subscribe,
    /// Presence sent → received by a watcher.
    Presence,
    /// Message sent → received by the addressed resource.
    Message,
    /// XEP-0199 ping round trip.
    Ping,
    /// XEP-0030 disco#info round trip.
    Disco,
    /// Closing stream sent → server's closing tag received.
    Logout,
    /// XEP-0198 resumption: reconnect started (response time) or `<resume/>` sent (service
    /// time) → `<resumed/>` received.
    Resume,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Self; 9] = [
        Self::Login,
        Self::Roster,
        Self::Subscribe,
        Self::Presence,
        Self::Message,
        Self::Ping,
        Self::Disco,
        Self::Logout,
        Self::Resume,
    ];

    /// The name used in reports and file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Roster => "roster",
            Self::Subscribe => "subscribe",
            Self::Presence => "presence",
            Self::Message => "message",
            Self::Ping => "ping",
            Self::Disco => "disco",
            Self::Logout => "logout",
            Self::Resume => "resume",
        }
    }
}
