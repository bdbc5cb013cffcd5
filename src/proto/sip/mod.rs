//! Sans-io SIP codec: RFC 3261 and the extensions a presence and messaging UA uses
//! (RFC 6665 events, RFC 3856 presence, RFC 3903 publication, RFC 3428 MESSAGE, RFC 3863
//! PIDF, RFC 2617 / RFC 7616 digest).
//!
//! - [`framer`]: bytes to messages on streams and datagrams (§18.3), size caps.
//! - [`message`]: [`Message`], raw bytes beside a header view and the `rsip` typed view.
//! - [`values`]: typed header values (Via, name-addr, CSeq, Event, Subscription-State).
//! - [`transaction`]: non-INVITE client and server transactions, timers as data.
//! - [`digest`]: answering 401/407 challenges.
//! - [`dialog`]: SUBSCRIBE dialogs and in-dialog requests.
//! - [`build`]: request and response builders.
//! - [`pidf`]: PIDF documents.
//!
//! Nothing here performs I/O or reads a clock: the session feeds bytes in, passes `now`
//! in, and writes the bytes produced here.

pub mod build;
pub mod dialog;
pub mod digest;
pub mod framer;
pub mod headers;
pub mod message;
pub mod pidf;
pub mod transaction;
pub mod values;

pub use build::{Ids, Local, RequestBuilder, ResponseBuilder};
pub use dialog::{Dialog, DialogError, DialogId};
pub use digest::{AuthHeader, Challenge, Credentials, DigestError};
pub use framer::{FrameError, Framer, FramerConfig, frame_datagram};
pub use message::{Message, ParseError, StartLine};
pub use pidf::{Basic, Pidf, PidfError};
pub use transaction::{ClientTransaction, ServerTransactions, Timers, TransactionKey};
pub use values::{CSeq, Event, Method, NameAddr, SubState, SubscriptionState, Via};
