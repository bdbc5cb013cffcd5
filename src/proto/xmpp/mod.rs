//! (stub) XMPP codec.
