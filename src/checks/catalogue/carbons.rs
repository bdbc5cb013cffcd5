//! XEP-0280 Message Carbons checks (and the XEP-0334 `<no-copy/>` hint that also governs
//! carbon copies). Section numbers follow XEP-0280 version 1.0.1.

use crate::checks::{CheckDef, Level};

check!(
    CARBONS_ADVERTISED,
    "xmpp/xep-0280/3-carbons-advertised",
    "XEP-0280",
    "3",
    Must,
    "An entity advertises support for this protocol by including the \"urn:xmpp:carbons:2\" feature in its service discovery information features as specified in Service Discovery (XEP-0030). (XEP-0280 is optional for a server; a suite with carbons steps demands it, so a server that does not advertise it fails here.)"
);
check!(
    CARBONS_ENABLE,
    "xmpp/xep-0280/4-enable-result",
    "XEP-0280",
    "4",
    Must,
    "When a client wants to participate in the Carbons protocol, it enables the protocol by sending an IQ-set containing a child element <enable/> qualified by the namespace \"urn:xmpp:carbons:2\" […] The server will respond with an IQ-result when Carbons are enabled. (A suite with carbons steps demands Carbons: an IQ-error or no answer fails, and the copy checks are impossible for that resource.)"
);
check!(
    CARBONS_DISABLE,
    "xmpp/xep-0280/5-disable-result",
    "XEP-0280",
    "5",
    Must,
    "To disable Carbons, the client sends an IQ-set containing a child element <disable/> qualified by the namespace \"urn:xmpp:carbons:2\" […] The server will respond with an IQ-result when Carbons are disabled. (A suite that disables Carbons demands it: an IQ-error or no answer fails.)"
);
check!(
    CARBONS_DISABLED_NO_COPIES,
    "xmpp/xep-0280/5-disabled-no-copies",
    "XEP-0280",
    "5",
    Must,
    "The server will respond with an IQ-result when Carbons are disabled. […] Clients that do not implement the new protocol MUST NOT receive protocol they do not expect (§2); forwarded copies go to each Carbons-enabled resource (§7, §8). (A resource whose <disable/> was acknowledged gets no <received/> or <sent/> copy.)"
);
check!(
    CARBONS_RECEIVED,
    "xmpp/xep-0280/7-received-copy",
    "XEP-0280",
    "7",
    Must,
    "When the server receives a <message/> eligible for carbons delivery addressed to a client JID (either bare or full), it delivers the <message/> according to RFC 6121 § 8.5.3, and then delivers a forwarded copy to each Carbons-enabled resource for the matching bare JID recipient that did not receive it under the RFC 6121 delivery rules. […] The content of the wrapping message MUST contain a <received/> element qualified by the namespace \"urn:xmpp:carbons:2\", which itself contains a <forwarded/> element qualified by the namespace \"urn:xmpp:forward:0\" that contains the original <message/>."
);
check!(
    CARBONS_NOT_TO_ADDRESSEE,
    "xmpp/xep-0280/7-no-copy-to-addressee",
    "XEP-0280",
    "7",
    Must,
    "The receiving server MUST NOT send a forwarded copy to the client(s) the original <message/> stanza was addressed to, as these recipients receive the original <message/> stanza."
);
check!(
    CARBONS_WRAPPER,
    "xmpp/xep-0280/7-wrapper-from-bare-jid",
    "XEP-0280",
    "7",
    Must,
    "Each forwarded copy is wrapped using Stanza Forwarding (XEP-0297). The wrapping message SHOULD maintain the same 'type' attribute value; the 'from' attribute MUST be the Carbons-enabled user's bare JID (e.g., \"localpart@domainpart\"); and the 'to' attribute MUST be the full JID of the resource receiving the copy. (Judged on every <received/> and <sent/> copy; §8 requires the same 'from', and §11: \"Any forwarded copies received by a Carbons-enabled client MUST be from that user's bare JID\".)"
);
check!(
    CARBONS_SENT,
    "xmpp/xep-0280/8-sent-copy",
    "XEP-0280",
    "8",
    Must,
    "When a client sends a <message/> eligible for carbons delivery, its sending server delivers the <message/> according to RFC 6120 and RFC 6121, and delivers a forwarded copy to each Carbons-enabled resource for the matching bare JID sender, excluding the sending client. Note that this happens irrespective of whether the sending client has carbons enabled. […] The content of the wrapping message MUST contain a <sent/> element qualified by the namespace \"urn:xmpp:carbons:2\", which itself contains a <forwarded/> qualified by the namespace \"urn:xmpp:forward:0\" that contains the original <message/> stanza."
);
check!(
    CARBONS_NOT_TO_SENDER,
    "xmpp/xep-0280/8-no-copy-to-sender",
    "XEP-0280",
    "8",
    Should,
    "The sending server SHOULD NOT send a forwarded copy to the sending full JID if it is a Carbons-enabled resource."
);
check!(
    CARBONS_PRIVATE,
    "xmpp/xep-0280/9-private-no-copies",
    "XEP-0280",
    "9",
    Must,
    "To exclude a <message/> from being forwarded to other Carbons-enabled resources, the sending client add a <private/> element qualified by the namespace \"urn:xmpp:carbons:2\" as a child content element to the <message/> stanza. […] The sending server MUST NOT deliver forwarded <message/>s to the other Carbons-enabled resources of the sender. The receiving server MUST NOT deliver forwarded <message/>s to the other Carbons-enabled resource of the recipient."
);
check!(
    NO_COPY_HINT,
    "xmpp/xep-0334/4.3-no-copy",
    "XEP-0334",
    "4.3",
    May,
    "Messages with the <no-copy/> hint should not be copied to addresses other than the one to which it is addressed, for example through Message Carbons (XEP-0280). (A hint, in lowercase \"should\": a server that copies such a message anyway warns, for information.)"
);

/// The checks of this file, in report order.
pub(super) static ALL_CARBONS: &[&CheckDef] = &[
    &CARBONS_ADVERTISED,
    &CARBONS_ENABLE,
    &CARBONS_DISABLE,
    &CARBONS_DISABLED_NO_COPIES,
    &CARBONS_RECEIVED,
    &CARBONS_NOT_TO_ADDRESSEE,
    &CARBONS_WRAPPER,
    &CARBONS_SENT,
    &CARBONS_NOT_TO_SENDER,
    &CARBONS_PRIVATE,
    &NO_COPY_HINT,
];
