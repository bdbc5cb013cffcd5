//! SIP checks: RFC 3261 (responses, registrar, authentication, transactions, dialogs),
//! RFC 6665 / RFC 3265 (event notification), RFC 3903 (PUBLISH), RFC 3428 (MESSAGE) and
//! RFC 3856 (presence). Oracles: `checks::oracle_sip`.

use crate::checks::{CheckDef, Level};

check!(
    SIP_TO_TAG,
    "sip/rfc3261/8.2.6.2-to-tag",
    "RFC 3261",
    "8.2.6.2",
    Must,
    "However, if the To header field in the request did not contain a tag, the URI in the To header field in the response MUST equal the URI in the To header field; additionally, the UAS MUST add a tag to the To header field in the response (with the exception of the 100 (Trying) response, in which a tag MAY be present)."
);
check!(
    SIP_FROM_CALLID_CSEQ,
    "sip/rfc3261/8.2.6.2-from-callid-cseq",
    "RFC 3261",
    "8.2.6.2",
    Must,
    "The From field of the response MUST equal the From header field of the request.  The Call-ID header field of the response MUST equal the Call-ID header field of the request.  The CSeq header field of the response MUST equal the CSeq field of the request."
);
check!(
    SIP_VIA_COPIED,
    "sip/rfc3261/8.2.6.2-via-copied",
    "RFC 3261",
    "8.2.6.2",
    Must,
    "The Via header field values in the response MUST equal the Via header field values in the request and MUST maintain the same ordering."
);
check!(
    SIP_REGISTER_CONTACTS,
    "sip/rfc3261/10.3-contacts-with-expires",
    "RFC 3261",
    "10.3",
    Must,
    "The registrar returns a 200 (OK) response.  The response MUST contain Contact header field values enumerating all current bindings.  Each Contact value MUST feature an \"expires\" parameter indicating its expiration interval chosen by the registrar."
);
check!(
    SIP_UNREGISTER,
    "sip/rfc3261/10.3-unregister-removes-binding",
    "RFC 3261",
    "10.3",
    Must,
    "If the Call-ID value in the existing binding differs from the Call-ID value in the request, the binding MUST be removed if the expiration time is zero and updated otherwise.  If they are the same, the registrar compares the CSeq value.  If the value is higher than that of the existing binding, it MUST update or remove the binding as above."
);
check!(
    SIP_WWW_AUTHENTICATE,
    "sip/rfc3261/22.2-www-authenticate",
    "RFC 3261",
    "22.2",
    Must,
    "The WWW-Authenticate response-header field MUST be included in 401 (Unauthorized) response messages.  The field value consists of at least one challenge that indicates the authentication scheme(s) and parameters applicable to the realm."
);
check!(
    SIP_PROXY_AUTHENTICATE,
    "sip/rfc3261/22.3-proxy-authenticate",
    "RFC 3261",
    "22.3",
    Must,
    "The proxy MUST populate the 407 (Proxy Authentication Required) message with a Proxy-Authenticate header field value applicable to the proxy for the requested resource."
);
check!(
    SIP_QOP_IN_CHALLENGE,
    "sip/rfc3261/22.4-qop-in-challenge",
    "RFC 3261",
    "22.4",
    Must,
    "However, servers MUST always send a \"qop\" parameter in WWW-Authenticate and Proxy-Authenticate header field values."
);
check!(
    SIP_RETRANSMISSION,
    "sip/rfc3261/17.2.2-retransmission-same-response",
    "RFC 3261",
    "17.2.2",
    Must,
    "While in the \"Completed\" state, the server transaction MUST pass the final response to the transport layer for retransmission whenever a retransmission of the request is received."
);
check!(
    SIP_UNKNOWN_DIALOG,
    "sip/rfc3261/12.2.2-unknown-dialog-481",
    "RFC 3261",
    "12.2.2",
    Must,
    "If the UAS wishes to reject the request because it does not wish to recreate the dialog, it MUST respond to the request with a 481 (Call/Transaction Does Not Exist) status code and pass that to the server transaction."
);
check!(
    SIP_SUBSCRIPTION_STATE,
    "sip/rfc6665/4.1.3-subscription-state",
    "RFC 6665",
    "4.1.3",
    Must,
    "NOTIFY requests MUST contain \"Subscription-State\" header fields that indicate the status of the subscription."
);
check!(
    SIP_TERMINATED_NO_EXPIRES,
    "sip/rfc6665/4.1.3-terminated-without-expires",
    "RFC 6665",
    "4.1.3",
    Should,
    "The \"expires\" parameter has no semantics for \"terminated\" -- notifiers SHOULD NOT include an \"expires\" parameter on a \"Subscription-State\" header field with a value of \"terminated\", and subscribers MUST ignore any such parameter, if present."
);
check!(
    SIP_FINAL_NOTIFY,
    "sip/rfc6665/4.1.2.3-final-notify-terminated",
    "RFC 6665",
    "4.1.2.3",
    Should,
    "Unsubscribing is handled in the same way as refreshing of a subscription, with the \"Expires\" header field set to \"0\".  Note that a successful unsubscription will also trigger a final NOTIFY request."
);
check!(
    SIP_SUBSCRIBE_BAD_EVENT,
    "sip/rfc3265/3.1.6.1-bad-event-489",
    "RFC 3265",
    "3.1.6.1",
    Should,
    "The notifier SHOULD check that the event package specified in the \"Event\" header is understood.  If not, the notifier SHOULD return a \"489 Bad Event\" response to indicate that the specified event/event class is not understood."
);
check!(
    SIP_PUBLISH_ETAG,
    "sip/rfc3903/6-sip-etag",
    "RFC 3903",
    "6",
    Must,
    "The ESC returns a 200 (OK) response.  The response MUST contain an Expires header field indicating the expiration interval chosen by the ESC.  The response MUST also contain a SIP-ETag header field that contains a single entity-tag identifying the publication."
);
check!(
    SIP_PUBLISH_NEW_ETAG,
    "sip/rfc3903/6-new-etag",
    "RFC 3903",
    "6",
    Must,
    "The ESC MUST generate a new entity-tag for each successful publication, replacing any previous entity-tag associated with that event state."
);
check!(
    SIP_PUBLISH_UNKNOWN_ETAG,
    "sip/rfc3903/6-unknown-etag-412",
    "RFC 3903",
    "6",
    Must,
    "If no match is found, the ESC MUST reject the publication with a response of 412 (Conditional Request Failed), and skip the remaining steps."
);
check!(
    SIP_PUBLISH_BAD_EVENT,
    "sip/rfc3903/6-bad-event-489",
    "RFC 3903",
    "6",
    Must,
    "If the Event header field is missing or contains an event package which the ESC does not support, the ESC MUST respond to the PUBLISH request with a 489 (Bad Event) response, and skip the remaining steps."
);
check!(
    SIP_MESSAGE_2XX,
    "sip/rfc3428/7-2xx-no-body",
    "RFC 3428",
    "7",
    Must,
    "A 2xx response to a MESSAGE request MUST NOT contain a body.  A UAS MUST NOT insert a Contact header field into a 2xx response."
);
check!(
    SIP_PIDF_BODY,
    "sip/rfc3856/6.5-pidf-body",
    "RFC 3856",
    "6.5",
    Must,
    "All subscribers and notifiers MUST support the \"application/pidf+xml\" presence data format described in [8]."
);

/// The checks of this file, in report order.
pub(super) static ALL_SIP: &[&CheckDef] = &[
    &SIP_TO_TAG,
    &SIP_FROM_CALLID_CSEQ,
    &SIP_VIA_COPIED,
    &SIP_RETRANSMISSION,
    &SIP_REGISTER_CONTACTS,
    &SIP_UNREGISTER,
    &SIP_WWW_AUTHENTICATE,
    &SIP_PROXY_AUTHENTICATE,
    &SIP_QOP_IN_CHALLENGE,
    &SIP_UNKNOWN_DIALOG,
    &SIP_SUBSCRIPTION_STATE,
    &SIP_TERMINATED_NO_EXPIRES,
    &SIP_FINAL_NOTIFY,
    &SIP_SUBSCRIBE_BAD_EVENT,
    &SIP_PUBLISH_ETAG,
    &SIP_PUBLISH_NEW_ETAG,
    &SIP_PUBLISH_UNKNOWN_ETAG,
    &SIP_PUBLISH_BAD_EVENT,
    &SIP_MESSAGE_2XX,
    &SIP_PIDF_BODY,
];
