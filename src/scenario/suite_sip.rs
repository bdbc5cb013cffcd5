//! Suite steps of SIP fleets (`protocol = "sip"`): registration, presence subscription and
//! publication, MESSAGE, and the conformance probes. Every device of a user is one user
//! agent with its own Contact. Field meanings are documented in README.md.

use super::duration::Dur;
use serde::Deserialize;

/// Longest registration or subscription a step may ask for (a day).
pub const MAX_EXPIRES: u32 = 86_400;

fn expires_300() -> u32 {
    300
}

fn one() -> u32 {
    1
}

/// `do = "sip-register"`: every device connects and REGISTERs its Contact (answering the
/// digest challenge); a second REGISTER refreshes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipRegisterStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Registration lifetime requested, seconds.
    #[serde(default = "expires_300")]
    pub expires: u32,
    /// Devices registered per second across the fleet (default: as fast as possible).
    #[serde(default)]
    pub rate: Option<f64>,
}

/// `do = "sip-subscribe"`: each user's first device subscribes to its partner's presence
/// (RFC 3856) and waits for the initial NOTIFY.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSubscribeStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Subscription lifetime requested, seconds.
    #[serde(default = "expires_300")]
    pub expires: u32,
}

/// Basic status of a published PIDF tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BasicStatus {
    /// `open`: available.
    #[default]
    Open,
    /// `closed`: unavailable.
    Closed,
}

/// `do = "sip-publish"`: each user's first device PUBLISHes a PIDF document (RFC 3903),
/// refreshes and modifies it with its entity tag; its watchers must receive the new state
/// in a NOTIFY.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipPublishStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Basic status published.
    #[serde(default)]
    pub basic: BasicStatus,
    /// Publication lifetime, seconds.
    #[serde(default = "expires_300")]
    pub expires: u32,
}

/// `do = "sip-message"`: each user's first device sends `count` MESSAGEs to its partner's
/// address-of-record; every registered device of the partner must receive each one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipMessageStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
    /// Messages per user.
    #[serde(default = "one")]
    pub count: u32,
    /// Interval between a user's messages.
    #[serde(default)]
    pub every: Dur,
}

/// `do = "sip-unsubscribe"`, `"sip-unpublish"`, `"sip-unregister"`, `"sip-probe"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipFleetStep {
    #[serde(rename = "do")]
    _kind: String,
    /// Only this fleet.
    #[serde(default)]
    pub fleet: Option<String>,
}

/// Why a SIP step's fields are unusable, if they are.
pub fn invalid_expires(expires: u32) -> Option<String> {
    (!(1..=MAX_EXPIRES).contains(&expires))
        .then(|| format!("field `expires` must be between 1 and {MAX_EXPIRES} seconds"))
}
