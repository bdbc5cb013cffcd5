//! The suite file model: fleets of virtual users and the steps they run, in TOML. Unknown
//! fields are errors; every field is documented in README.md.

use super::duration::Dur;
use serde::Deserialize;

pub use super::suite_forking::{CarbonsStep, CarbonsToggleStep, ForkStep, LockInStep};
pub use super::suite_muc::{MucCreateStep, MucJoinStep, MucMessageStep, MucRoomStep};

/// A suite file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Human name, shown in reports.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of every user's PRNG (each user derives its own stream from it and its index).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Checks to judge (ids from `impress checks list`); when absent, every check of the
    /// protocols the fleets speak.
    #[serde(default)]
    pub checks: Option<Vec<String>>,
    /// Time limits.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Memory limits per session.
    #[serde(default)]
    pub limits: Limits,
    /// How the report is cut in time (`[report] interval`).
    #[serde(default)]
    pub report: super::suite_report::ReportSettings,
    /// Fleets of virtual users.
    #[serde(rename = "fleet")]
    pub fleets: Vec<Fleet>,
    /// How clients recover in `chat-through` steps (re-login bounds, resumption).
    #[serde(default)]
    pub recovery: Option<super::suite_failover::RecoveryConf>,
    /// The step tables as written; the loader turns them into [`Suite::steps`], one
    /// table at a time so that errors point at the right line.
    #[serde(rename = "step", default)]
    pub raw_steps: Vec<toml::Spanned<toml::Table>>,
    /// The script, run in order; every step ends with a barrier across the fleet.
    #[serde(skip)]
    pub steps: Vec<Step>,
}

fn default_seed() -> u64 {
    1
}

/// Time limits of a suite.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// TCP connect.
    #[serde(default = "secs10")]
    pub connect: Dur,
    /// Any request/response exchange (IQ, SASL step, stream restart).
    #[serde(default = "secs10")]
    pub response: Dur,
    /// Waiting for a message or presence to be delivered.
    #[serde(default = "secs10")]
    pub delivery: Dur,
}

fn secs10() -> Dur {
    Dur::from_secs(10)
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: secs10(),
            response: secs10(),
            delivery: secs10(),
        }
    }
}

/// Memory limits per session: what a hostile or broken server can make impress hold.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest stanza accepted from the server; a larger one ends the session.
    #[serde(default = "default_max_stanza")]
    pub max_stanza_bytes: usize,
    /// Transcript frames kept per session (first half and latest half).
    #[serde(default = "default_transcript_frames")]
    pub transcript_frames: usize,
    /// Received, not yet consumed stanzas kept per session.
    #[serde(default = "default_inbox")]
    pub inbox_stanzas: usize,
    /// The generator's own lag (p99 of how late it starts what it scheduled) above which
    /// the run is invalid.
    #[serde(default = "default_max_lag")]
    pub max_scheduler_lag: Dur,
}

fn default_max_lag() -> Dur {
    Dur::from_secs(1)
}

fn default_max_stanza() -> usize {
    1024 * 1024
}

fn default_transcript_frames() -> usize {
    64
}

fn default_inbox() -> usize {
    1024
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stanza_bytes: default_max_stanza(),
            transcript_frames: default_transcript_frames(),
            inbox_stanzas: default_inbox(),
            max_scheduler_lag: default_max_lag(),
        }
    }
}

/// Protocol of a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// XMPP client-to-server.
    Xmpp,
    /// SIP user agents (one per device in `resources`).
    Sip,
}

/// A fleet: `users` virtual users, each signed in with every resource in `resources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Fleet name (steps can name it).
    pub name: String,
    /// Protocol.
    pub protocol: Protocol,
    /// SIP transport (`udp`, `tcp`, `tls`); SIP fleets only, default `udp`.
    #[serde(default)]
    pub transport: Option<crate::session::sip::SipTransport>,
    /// Number of users.
    pub users: usize,
    /// Resources (devices) per user.
    #[serde(default = "default_resources")]
    pub resources: Vec<String>,
    /// Account name pattern, `{n}` replaced by the user number; defaults to the target's.
    #[serde(default)]
    pub account: Option<String>,
    /// Number of the first user.
    #[serde(default = "one")]
    pub first: usize,
    /// Presence priority of every resource.
    #[serde(default)]
    pub priority: i8,
    /// Presence priority of each resource, in `resources` order (instead of `priority`).
    #[serde(default)]
    pub priorities: Option<Vec<i8>>,
    /// The node (a federation: the deployment, so also the domain) these users belong to
    /// and log in to, numbered from 0; default: the target's placement.
    #[serde(default)]
    pub deployment: Option<usize>,
}

fn default_resources() -> Vec<String> {
    vec!["impress".to_string()]
}

fn one() -> usize {
    1
}

/// How users are paired for subscriptions and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pairs {
    /// 1↔2, 3↔4, …: every user has exactly one partner (an odd last user has none).
    #[default]
    Adjacent,
    /// i↔i+1 and i↔i-1 around a ring; a user's partner for messages is i+1.
    Ring,
    /// User i of each fleet ↔ user i of the next fleet (in suite order, around): with
    /// fleets on different deployments, every pair crosses deployments.
    Across,
}

/// Whom a message is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Recipient {
    /// The partner's bare JID (RFC 6121 §8.5.2).
    #[serde(rename = "partner.bare")]
    PartnerBare,
    /// The partner's first resource (RFC 6121 §8.5.3).
    #[serde(rename = "partner.full")]
    PartnerFull,
}

/// Message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// `type='chat'`.
    #[default]
    Chat,
    /// `type='normal'`.
    Normal,
}

impl MessageKind {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Normal => "normal",
        }
    }
}

/// One step of the script. In the file, `do` names the kind and the other keys are the
/// fields of that kind (unknown keys are errors).
#[derive(Debug, Clone)]
pub enum Step {
    /// Connect every resource: STARTTLS, SASL, bind, roster get, initial presence.
    Login(LoginStep),
    /// Mutual presence subscription between partners; everyone approves.
    Subscribe(SubscribeStep),
    /// Every resource broadcasts a presence update; partners must receive it.
    Presence(PresenceStep),
    /// Each user's first resource sends messages to its partner.
    Message(MessageStep),
    /// XEP-0199 ping to the server from every session.
    Ping(FleetStep),
    /// XEP-0030 disco#info to the server from every session.
    Disco(FleetStep),
    /// Pause.
    Wait(WaitStep),
    /// An explicit synchronisation point (every step already ends with one).
    Barrier(BarrierStep),
    /// Unavailable presence, then close the stream; partners must see the unavailable.
    Logout(FleetStep),
    /// XEP-0198: every session enables stream management with resumption.
    SmEnable(FleetStep),
    /// XEP-0198: every SM session sends `<r/>`; the `<a/>` must count exactly what it sent.
    SmAck(FleetStep),
    /// XEP-0198: even users' first sessions drop their connection, their partners send
    /// them messages, and after a pause they resume; every message arrives exactly once.
    SmCutResume(SmCutStep),
    /// XEP-0198: a `<resume/>` with a made-up SM-ID must fail with `<item-not-found/>`.
    SmResumeUnknown(FleetStep),
    /// XEP-0198: resuming a session whose connection is still open ends the old stream.
    SmResumeConflict(FleetStep),
    /// XEP-0045: rooms of `room_size` users; each room's first user creates and configures it.
    MucCreate(MucCreateStep),
    /// XEP-0045: the rooms' other users enter them (with history).
    MucJoin(MucJoinStep),
    /// XEP-0045: every occupant posts groupchat messages that every occupant must receive.
    MucMessage(MucMessageStep),
    /// XEP-0045: each room's owner changes the subject; every occupant must receive it.
    MucSubject(MucRoomStep),
    /// XEP-0045: an outsider asks for the owner's nick: `<conflict/>`.
    MucNickConflict(MucRoomStep),
    /// XEP-0045: an outsider tries a full room: `<service-unavailable/>`.
    MucLimit(MucRoomStep),
    /// XEP-0045: an outsider tries a members-only room: `<registration-required/>`.
    MucMembersOnly(MucRoomStep),
    /// XEP-0045: every occupant but the owner exits.
    MucLeave(MucRoomStep),
    /// XEP-0045: each room's owner destroys the room.
    MucDestroy(MucRoomStep),
    /// A load phase: every user acts on a closed or open schedule (README "Load phases").
    Load(super::suite_load::LoadStep),
    /// XEP-0160: even users go offline, partners send to them, they log in again.
    Offline(super::suite_offline::OfflineStep),
    /// The contact-list maximum: an add beyond it must be refused.
    RosterLimit(super::suite_offline::RosterLimitStep),
    /// RFC 6121 §8.5.2.1.1: messages to the partner's bare JID, forked across its resources.
    Fork(ForkStep),
    /// The seed's "stay with the device that replied" after a reply (RFC 6121 §5.1).
    LockIn(LockInStep),
    /// XEP-0280: enable Message Carbons on every (selected) session.
    CarbonsEnable(CarbonsToggleStep),
    /// XEP-0280: disable Message Carbons on every (selected) session.
    CarbonsDisable(CarbonsToggleStep),
    /// XEP-0280: messages between partners; carbon copies judged on every other resource.
    Carbons(CarbonsStep),
    /// SIP: every device connects and REGISTERs (RFC 3261 §10).
    SipRegister(super::suite_sip::SipRegisterStep),
    /// SIP: every device removes its binding and disconnects.
    SipUnregister(super::suite_sip::SipFleetStep),
    /// SIP: first devices SUBSCRIBE to their partner's presence (RFC 6665, RFC 3856).
    SipSubscribe(super::suite_sip::SipSubscribeStep),
    /// SIP: the subscriptions end (Expires 0) with a final NOTIFY.
    SipUnsubscribe(super::suite_sip::SipFleetStep),
    /// SIP: first devices PUBLISH presence (RFC 3903); watchers get it in a NOTIFY.
    SipPublish(super::suite_sip::SipPublishStep),
    /// SIP: first devices remove their publication (Expires 0).
    SipUnpublish(super::suite_sip::SipFleetStep),
    /// SIP: MESSAGE (RFC 3428) to the partner's address-of-record, forked to its devices.
    SipMessage(super::suite_sip::SipMessageStep),
    /// SIP: requests the server must refuse (unknown event, dialog, entity tag) and a
    /// retransmitted request.
    SipProbe(super::suite_sip::SipFleetStep),
    /// Failover: kill, hang, resume, restart a node, or cut/delay/black-hole/heal its
    /// traffic through the fault proxy, at once or `after` a pause in the background.
    Fault(super::suite_failover::FaultStep),
    /// Failover: chat and ping through faults; dead connections recover (resume, else
    /// re-login to the next node after a random wait).
    ChatThrough(super::suite_failover::ChatThroughStep),
    /// Login stages at increasing offered rates: the knee rate and the HA re-login
    /// profile it suggests.
    CalibrateLogin(super::suite_calibrate::CalibrateStep),
}

/// `do = "login"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet (default: all).
    #[serde(default)]
    pub fleet: Option<String>,
    /// Sessions started per second (default: as fast as possible).
    #[serde(default)]
    pub rate: Option<f64>,
}

/// `do = "subscribe"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Pairing.
    #[serde(default)]
    pub pairs: Pairs,
}

/// `do = "presence"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// `<show/>` value (away, chat, dnd, xa).
    #[serde(default)]
    pub show: Option<String>,
}

/// `do = "message"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Bare or full JID of the partner.
    pub to: Recipient,
    /// Messages per user.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Interval between a user's messages.
    #[serde(default)]
    pub every: Dur,
    /// Message type.
    #[serde(default, rename = "type")]
    pub kind: MessageKind,
}

/// `do = "ping"`, `"disco"`, `"logout"` and the `sm-…` steps without options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
}

/// `do = "sm-cut-resume"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmCutStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Outage: time from the cut to the reconnection (at least 1 s, so partners have
    /// sent everything before the resumption).
    pub after: Dur,
    /// Messages each partner sends to the cut session during the outage.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// The cut session's full JID (default) or its user's bare JID.
    #[serde(default = "partner_full")]
    pub to: Recipient,
}

fn partner_full() -> Recipient {
    Recipient::PartnerFull
}

/// `do = "wait"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    #[serde(rename = "do")]
    _kind: String,
    /// How long.
    pub duration: Dur,
}

/// `do = "barrier"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarrierStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Label for logs.
    #[serde(default)]
    pub name: Option<String>,
}

/// The `do` names of every step kind.
pub const STEP_KINDS: &[&str] = &[
    "login",
    "subscribe",
    "presence",
    "message",
    "ping",
    "disco",
    "wait",
    "barrier",
    "logout",
    "sm-enable",
    "sm-ack",
    "sm-cut-resume",
    "sm-resume-unknown",
    "sm-resume-conflict",
    "muc-create",
    "muc-join",
    "muc-message",
    "muc-subject",
    "muc-nick-conflict",
    "muc-limit",
    "muc-members-only",
    "muc-leave",
    "muc-destroy",
    "load",
    "offline",
    "roster-limit",
    "fork",
    "lock-in",
    "carbons-enable",
    "carbons-disable",
    "carbons",
    "sip-register",
    "sip-unregister",
    "sip-subscribe",
    "sip-unsubscribe",
    "sip-publish",
    "sip-unpublish",
    "sip-message",
    "sip-probe",
    "fault",
    "chat-through",
    "calibrate-login",
];

fn one_u32() -> u32 {
    1
}

impl Step {
    /// Whether the step drives SIP user agents (it then runs on SIP fleets only).
    pub fn is_sip(&self) -> bool {
        self.kind().starts_with("sip-")
    }

    /// The `do` name of the step.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Login(_) => "login",
            Self::Subscribe(_) => "subscribe",
            Self::Presence(_) => "presence",
            Self::Message(_) => "message",
            Self::Ping(_) => "ping",
            Self::Disco(_) => "disco",
            Self::Wait(_) => "wait",
            Self::Barrier(_) => "barrier",
            Self::Logout(_) => "logout",
            Self::SmEnable(_) => "sm-enable",
            Self::SmAck(_) => "sm-ack",
            Self::SmCutResume(_) => "sm-cut-resume",
            Self::SmResumeUnknown(_) => "sm-resume-unknown",
            Self::SmResumeConflict(_) => "sm-resume-conflict",
            Self::MucCreate(_) => "muc-create",
            Self::MucJoin(_) => "muc-join",
            Self::MucMessage(_) => "muc-message",
            Self::MucSubject(_) => "muc-subject",
            Self::MucNickConflict(_) => "muc-nick-conflict",
            Self::MucLimit(_) => "muc-limit",
            Self::MucMembersOnly(_) => "muc-members-only",
            Self::MucLeave(_) => "muc-leave",
            Self::MucDestroy(_) => "muc-destroy",
            Self::Load(_) => "load",
            Self::Offline(_) => "offline",
            Self::RosterLimit(_) => "roster-limit",
            Self::Fork(_) => "fork",
            Self::LockIn(_) => "lock-in",
            Self::CarbonsEnable(_) => "carbons-enable",
            Self::CarbonsDisable(_) => "carbons-disable",
            Self::Carbons(_) => "carbons",
            Self::SipRegister(_) => "sip-register",
            Self::SipUnregister(_) => "sip-unregister",
            Self::SipSubscribe(_) => "sip-subscribe",
            Self::SipUnsubscribe(_) => "sip-unsubscribe",
            Self::SipPublish(_) => "sip-publish",
            Self::SipUnpublish(_) => "sip-unpublish",
            Self::SipMessage(_) => "sip-message",
            Self::SipProbe(_) => "sip-probe",
            Self::Fault(_) => "fault",
            Self::ChatThrough(_) => "chat-through",
            Self::CalibrateLogin(_) => "calibrate-login",
        }
    }

    /// The fleet a step is restricted to, if any.
    pub fn fleet(&self) -> Option<&str> {
        let f = match self {
            Self::Login(s) => &s.fleet,
            Self::Subscribe(s) => &s.fleet,
            Self::Presence(s) => &s.fleet,
            Self::Message(s) => &s.fleet,
            Self::Ping(s)
            | Self::Disco(s)
            | Self::Logout(s)
            | Self::SmEnable(s)
            | Self::SmAck(s)
            | Self::SmResumeUnknown(s)
            | Self::SmResumeConflict(s) => &s.fleet,
            Self::SmCutResume(s) => &s.fleet,
            Self::MucCreate(s) => &s.fleet,
            Self::MucJoin(s) => &s.fleet,
            Self::MucMessage(s) => &s.fleet,
            Self::MucSubject(s)
            | Self::MucNickConflict(s)
            | Self::MucLimit(s)
            | Self::MucMembersOnly(s)
            | Self::MucLeave(s)
            | Self::MucDestroy(s) => &s.fleet,
            Self::Load(s) => &s.fleet,
            Self::Offline(s) => &s.fleet,
            Self::RosterLimit(s) => &s.fleet,
            Self::Fork(s) => &s.fleet,
            Self::LockIn(s) => &s.fleet,
            Self::CarbonsEnable(s) | Self::CarbonsDisable(s) => &s.fleet,
            Self::Carbons(s) => &s.fleet,
            Self::SipRegister(s) => &s.fleet,
            Self::SipSubscribe(s) => &s.fleet,
            Self::SipPublish(s) => &s.fleet,
            Self::SipMessage(s) => &s.fleet,
            Self::SipUnregister(s)
            | Self::SipUnsubscribe(s)
            | Self::SipUnpublish(s)
            | Self::SipProbe(s) => &s.fleet,
            Self::ChatThrough(s) => &s.fleet,
            Self::CalibrateLogin(s) => &s.fleet,
            Self::Wait(_) | Self::Barrier(_) | Self::Fault(_) => return None,
        };
        f.as_deref()
    }
}
