//! XML namespace names used by the XMPP codec, each tied to the document that defines it
//! (RFC 6120 core, RFC 3921 session, and the XEPs the harness exercises).

/// Stream namespace bound to the `stream:` prefix (RFC 6120 §4.8.1).
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// Content namespace of client-to-server streams (RFC 6120 §4.8.3).
pub const CLIENT: &str = "jabber:client";
/// STARTTLS negotiation (RFC 6120 §5.4).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL negotiation (RFC 6120 §6.4).
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding (RFC 6120 §7.4).
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Legacy session establishment (RFC 3921 §3, kept optional by RFC 6121 appendix E).
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Stanza error conditions (RFC 6120 §8.3.3).
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// Stream error conditions (RFC 6120 §4.9.3).
pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Roster management (RFC 6121 §2).
pub const ROSTER: &str = "jabber:iq:roster";
/// XMPP Ping (XEP-0199).
pub const PING: &str = "urn:xmpp:ping";
/// Service Discovery, info (XEP-0030 §3).
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Service Discovery, items (XEP-0030 §4).
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// Stream Management, version 3 (XEP-0198).
pub const SM: &str = "urn:xmpp:sm:3";
/// Message Carbons, version 2 (XEP-0280).
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// Message Processing Hints (XEP-0334).
pub const HINTS: &str = "urn:xmpp:hints";
/// Stanza Forwarding (XEP-0297).
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// Delayed Delivery (XEP-0203).
pub const DELAY: &str = "urn:xmpp:delay";
/// Multi-User Chat, join (XEP-0045 §7.2).
pub const MUC: &str = "http://jabber.org/protocol/muc";
/// Multi-User Chat, occupant information (XEP-0045 §7.2.2).
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// Multi-User Chat, room configuration (XEP-0045 §10).
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// Data Forms (XEP-0004).
pub const DATA_FORMS: &str = "jabber:x:data";
/// Software Version (XEP-0092).
pub const VERSION: &str = "jabber:iq:version";
/// In-Band Registration (XEP-0077).
pub const REGISTER: &str = "jabber:iq:register";
