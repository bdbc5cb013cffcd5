//! RFC 6121 checks of messages to a user signed in on several resources (devices): no
//! copy to a negative-priority resource, and the seed deployment's "stay with the device
//! that replied", recorded as an informational observation.

use crate::checks::{CheckDef, Level};

check!(
    NO_NEGATIVE_PRIORITY,
    "xmpp/rfc6121/8.5.2.1.1-no-negative-priority",
    "RFC 6121",
    "8.5.2.1.1",
    Must,
    "If the JID contained in the 'to' attribute is of the form <localpart@domainpart>, then the server MUST adhere to the following rules. […] for any message type the server MUST NOT deliver the stanza to any available resource with a negative priority. (Judged on the original message only: a XEP-0280 carbon copy to a Carbons-enabled negative-priority resource is not a delivery of the stanza.)"
);
check!(
    LOCK_IN,
    "xmpp/rfc6121/5.1-lock-in",
    "RFC 6121",
    "5.1",
    May,
    "Once the user's client receives a reply from the contact's full JID, it SHOULD address its subsequent messages to the contact's full JID as provided in the 'from' address of the contact's replies, thus \"locking in\" on that full JID. (RFC 6121 puts lock-in on the client, and §8.5.2.1.1 lets the server deliver a message to the bare JID to the \"most available\" resource or resources by its own algorithm. The seed deployment locks in on the server: after the contact replies from one device, messages to the bare JID go to that device only. impress records whether the server does so; one that forks again after the reply warns, for information.)"
);

/// The checks of this file, in report order.
pub(super) static ALL_FORKING: &[&CheckDef] = &[&NO_NEGATIVE_PRIORITY, &LOCK_IN];
