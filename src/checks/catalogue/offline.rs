//! Offline messages (XEP-0160, XEP-0203 delay stamps, RFC 6120 in-order delivery) and
//! deployment limits (the contact-list maximum).
//!
//! XEP-0160 is an Informational best practice whose process flow is RECOMMENDED, so its
//! checks are SHOULD-level. The store limit and the contact-list maximum are deployment
//! settings, not protocol constants: the suite states them (`limit`, `max`) and the checks
//! hold the server to them; the quotes say so in parentheses.

use crate::checks::{CheckDef, Level};

check!(
    OFFLINE_STORED,
    "xmpp/xep-0160/2-offline-stored-delivered",
    "XEP-0160",
    "2",
    Should,
    "The RECOMMENDED process flow is as follows: […] Recipient's server does not return a <service-unavailable/> error but instead stores the message stanza for later delivery. When the recipient next sends non-negative available presence to the server, the server delivers the message to the resource that has sent that presence. (Judged per recipient: every message sent to its bare JID while it was offline, up to the suite's store `limit`, must arrive at the resource that logs in next.)"
);
check!(
    OFFLINE_DELAY,
    "xmpp/xep-0160/2-delay-added",
    "XEP-0160",
    "2",
    Should,
    "The recipient's server now delivers the offline message to that resource (it is RECOMMENDED for the server to add a Delayed Delivery (XEP-0203) extension to indicate that the message was stored offline)."
);
check!(
    OFFLINE_QUEUE_FULL,
    "xmpp/xep-0160/2-queue-full-error",
    "XEP-0160",
    "2",
    Should,
    "Recipient's server determines that if the server can store offline messages on behalf of the intended recipient; if not (e.g., because the recipient's offline message queue is full), the server returns a <service-unavailable/> error to the sender. (impress sends more messages than the deployment's store limit, the suite's `limit`: at most `limit` may be stored and delivered, and every message beyond it must come back to the sender as a <service-unavailable/> error; what the server did with the overflow is recorded.)"
);
check!(
    DELAY_STAMP,
    "xmpp/xep-0203/2-delay-stamp",
    "XEP-0203",
    "2",
    Must,
    "Information about the delivery delay is communicated by adding to the <message/> or <presence/> stanza one and only one <delay/> child […]. stamp: The time when the XML stanza was originally sent. The format MUST adhere to the dateTime format specified in XEP-0082 and MUST be expressed in UTC. (Inclusion: REQUIRED. impress allows 30 s of clock skew between itself and the server around the send and delivery times it observed.)"
);
check!(
    DELAY_FROM,
    "xmpp/xep-0203/2-delay-from",
    "XEP-0203",
    "2",
    Should,
    "from: The Jabber ID of the entity that originally sent the XML stanza or that delayed the delivery of the stanza (e.g., the address of a multi-user chat room). (Inclusion: RECOMMENDED. For an offline message that is the sender's JID or the recipient's server.)"
);
check!(
    OFFLINE_IN_ORDER,
    "xmpp/rfc6120/10.1-offline-in-order",
    "RFC 6120",
    "10.1",
    Must,
    "An XMPP server MUST ensure in-order processing of the stanzas and other XML elements it receives over a given input stream from a connected client or remote server. (Judged on offline storage: the messages one sender sent over one stream while the recipient was offline must be delivered at login in the order they were sent.)"
);
check!(
    ROSTER_MAX_REFUSED,
    "xmpp/rfc6121/2.3.2-roster-max-refused",
    "RFC 6121",
    "2.3.2",
    Must,
    "If the server can successfully process the roster set for the new item (i.e., if no error occurs), it MUST create the item in the user's roster and proceed as follows. The server MUST return an IQ stanza of type \"result\" to the connected resource that sent the roster set. (With a contact-list maximum configured on the deployment, the suite's `max`: every add up to the maximum must succeed this way, and an add beyond it is one the server cannot process: it must be answered with an IQ error and the item not created. The error condition is recorded.)"
);

/// The checks of this file, in report order.
pub(super) static ALL_OFFLINE: &[&CheckDef] = &[
    &OFFLINE_STORED,
    &OFFLINE_DELAY,
    &OFFLINE_QUEUE_FULL,
    &DELAY_STAMP,
    &DELAY_FROM,
    &OFFLINE_IN_ORDER,
    &ROSTER_MAX_REFUSED,
];
