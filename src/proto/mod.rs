//! Sans-io protocol codecs and state machines: bytes in, frames and events out.
//! Nothing here does I/O or reads a clock.

pub mod sip;
pub mod xmpp;
