//! Sans-io XMPP codec (RFC 6120 core, RFC 6121 IM, RFC 7622 addresses): a framer that cuts
//! the byte stream into the stream header, top-level elements and the close tag; a small
//! DOM for one stanza; JIDs; SASL client mechanisms; typed stanza views and builders;
//! XEP-0198 stream management counters; XEP-0280 carbon copies.
//!
//! Nothing here performs I/O or reads a clock: the session feeds bytes in and writes the
//! strings and bytes produced here out.

pub mod carbons;
pub mod element;
pub mod framer;
pub mod jid;
pub mod ns;
pub mod sasl;
mod scanner;
pub mod sm;
pub mod stanza;

pub use element::{Element, Node, NsContext, ParseError};
pub use framer::{Frame, FrameError, Framer, FramerConfig, StreamHeader};
pub use jid::{Jid, JidError};
