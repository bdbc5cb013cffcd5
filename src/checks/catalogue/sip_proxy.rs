//! SIP proxy behaviour the deployments rely on: a MESSAGE to an address-of-record reaches
//! every registered device with its body untouched (RFC 3261 §16.6). Oracles:
//! `checks::oracle_sip_proxy`.

use crate::checks::{CheckDef, Level};

check!(
    SIP_FORKED_TO_EVERY_CONTACT,
    "sip/rfc3261/16.6-forked-to-every-contact",
    "RFC 3261",
    "16.6",
    Should,
    "As soon as the target set is non-empty, a proxy MAY begin forwarding the request. A stateful proxy MAY process the set in any order. It MAY process multiple targets serially, allowing each client transaction to complete before starting the next. It MAY start client transactions with every target in parallel. [...] For each target, the proxy forwards the request following these steps."
);
check!(
    SIP_BODY_UNMODIFIED,
    "sip/rfc3261/16.6-body-unmodified",
    "RFC 3261",
    "16.6",
    Must,
    "The proxy starts with a copy of the received request. [...] The proxy MUST NOT add to, modify, or remove the message body."
);

/// The checks of this file, in report order.
pub(super) static ALL_SIP_PROXY: &[&CheckDef] =
    &[&SIP_FORKED_TO_EVERY_CONTACT, &SIP_BODY_UNMODIFIED];
