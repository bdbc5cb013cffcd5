//! HDR latency recording per operation: whole-run and per-interval histograms, in
//! microseconds with 3 significant figures; per-interval error and gauge series; live
//! snapshots. Knows nothing but numbers and operation names.

pub mod accounting;
pub mod lag;
pub mod live;
mod recorder;
pub mod recovery;
pub mod remote_watch;
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
    /// XEP-0045: join presence sent → self-presence received from the room.
    MucJoin,
    /// XEP-0045: groupchat message sent → each occupant's copy received.
    Groupchat,
    /// XEP-0160 offline message: sent (response time) or the recipient's next available
    /// presence (service time) → delivered at that login.
    Offline,
    /// RFC 6121 §8.5.2.1.1 forking: message to a bare JID sent → each resource's copy.
    Fork,
    /// XEP-0280: message sent → each `<received/>` or `<sent/>` carbon copy.
    Carbon,
    /// The generator's own lateness: how late it started what it scheduled (load-phase
    /// actions, and a 10 ms ticker for the whole run). Not the target's latency.
    SchedulerLag,
    /// SIP REGISTER sent → 2xx (the digest challenge round trip included).
    SipRegister,
    /// SIP SUBSCRIBE sent → the initial NOTIFY received.
    SipSubscribe,
    /// SIP PUBLISH sent → 2xx.
    SipPublish,
    /// SIP PUBLISH sent → each watcher's NOTIFY carrying the new state.
    SipNotify,
    /// SIP MESSAGE sent → each registered device's copy received.
    SipMessage,
    /// Failover: a client declares its connection dead → it is logged in (or resumed)
    /// again. One sample per user and loss.
    Outage,
    /// Failover: the fault struck → the client declares its connection dead.
    Detection,
    /// Intercluster: message sent → received, sender and recipient in different domains
    /// (federated deployments, over s2s); [`Op::Message`] stays the local one.
    RemoteMessage,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Self; 23] = [
        Self::Login,
        Self::Roster,
        Self::Subscribe,
        Self::Presence,
        Self::Message,
        Self::Ping,
        Self::Disco,
        Self::Logout,
        Self::Resume,
        Self::MucJoin,
        Self::Groupchat,
        Self::Offline,
        Self::Fork,
        Self::Carbon,
        Self::SchedulerLag,
        Self::SipRegister,
        Self::SipSubscribe,
        Self::SipPublish,
        Self::SipNotify,
        Self::SipMessage,
        Self::Outage,
        Self::Detection,
        Self::RemoteMessage,
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
            Self::MucJoin => "muc_join",
            Self::Groupchat => "groupchat",
            Self::Offline => "offline",
            Self::Fork => "fork",
            Self::Carbon => "carbon",
            Self::SchedulerLag => "scheduler_lag",
            Self::SipRegister => "sip_register",
            Self::SipSubscribe => "sip_subscribe",
            Self::SipPublish => "sip_publish",
            Self::SipNotify => "sip_notify",
            Self::SipMessage => "sip_message",
            Self::Outage => "outage",
            Self::Detection => "detection",
            Self::RemoteMessage => "remote_message",
        }
    }
}
