//! XEP-0198 stream management checks.

use crate::checks::{CheckDef, Level};

check!(
    SM_ADVERTISED,
    "xmpp/xep-0198/2-sm-advertised",
    "XEP-0198",
    "2",
    Must,
    "The server returns a stream header to the client along with stream features, where the features include an <sm/> element qualified by the 'urn:xmpp:sm:3' namespace. (XEP-0198 is optional for a server; a suite with stream-management steps demands it, so a server that does not advertise it fails here and the other XEP-0198 checks are impossible.)"
);
check!(
    SM_ENABLED,
    "xmpp/xep-0198/3-enabled-resumable",
    "XEP-0198",
    "3",
    Must,
    "Upon receiving the enable request, the receiving entity MUST reply with an <enabled/> element or a <failed/> element qualified by the 'urn:xmpp:sm:3' namespace. […] If the receiving entity will allow the stream to be resumed, it MUST include a 'resume' attribute set to \"true\" or \"1\" on the <enabled/> element and MUST include an 'id' attribute that specifies an identifier for the stream (§5). (impress asks for resume='true'; a suite with stream-management steps demands a resumable stream, so <failed/> or an <enabled/> without resume and id fails.)"
);
check!(
    SM_ACK_H,
    "xmpp/xep-0198/4-ack-h",
    "XEP-0198",
    "4",
    Must,
    "When an <r/> element (\"request\") is received, the recipient MUST acknowledge it by sending an <a/> element to the sender containing a value of 'h' that is equal to the number of stanzas handled by the recipient of the <r/> element."
);
check!(
    SM_RESUMED,
    "xmpp/xep-0198/5-resumed",
    "XEP-0198",
    "5",
    Must,
    "If the receiving entity can resume the former stream, it MUST return a <resumed/> element that includes a 'previd' attribute set to the SM-ID of the former stream and MUST also include an 'h' attribute set to the sequence number of the last handled stanza sent over the former stream from the initiating entity to the receiving entity. (impress resumes after the suite's `after` outage, which the deployment must survive: a <failed/> then, or an 'h' acknowledging stanzas never sent, fails.)"
);
check!(
    SM_RETRANSMIT,
    "xmpp/xep-0198/5-retransmit-unhandled",
    "XEP-0198",
    "5",
    Should,
    "When a session is resumed, the parties proceed as follows: […] Both parties SHOULD retransmit any stanzas that were not handled during the previous session, based on the sequence number reported by the peer. (Judged per message sent to the cut session: delivered exactly once across the cut, no loss and no duplicate.)"
);
check!(
    SM_UNKNOWN_PREVID,
    "xmpp/xep-0198/5-unknown-previd-failed",
    "XEP-0198",
    "5",
    Must,
    "If the receiving entity does not recognize the 'previd' as an earlier session (e.g., because the former session has timed out), it MUST return a <failed/> element"
);
check!(
    SM_UNKNOWN_PREVID_CONDITION,
    "xmpp/xep-0198/5-unknown-previd-item-not-found",
    "XEP-0198",
    "5",
    Should,
    "If the receiving entity does not recognize the 'previd' as an earlier session […], it MUST return a <failed/> element, which SHOULD include an error condition of <item-not-found/>."
);
check!(
    SM_OLD_STREAM_TERMINATED,
    "xmpp/xep-0198/5-old-stream-terminated",
    "XEP-0198",
    "5",
    Should,
    "If the former stream is resumed and the receiving entity still has the stream for the previously-identified session open at this time, the old stream SHOULD be terminated."
);

/// The checks of this file, in report order.
pub(super) static ALL_SM: &[&CheckDef] = &[
    &SM_ADVERTISED,
    &SM_ENABLED,
    &SM_ACK_H,
    &SM_RESUMED,
    &SM_RETRANSMIT,
    &SM_UNKNOWN_PREVID,
    &SM_UNKNOWN_PREVID_CONDITION,
    &SM_OLD_STREAM_TERMINATED,
];
