//! Fault injection on the wire: a loopback TCP [`Proxy`] in front of one upstream address
//! (a target node), whose [`Mode`] a run changes at any time — pass, delay, cut (reset and
//! refuse) or blackhole (partition) — and which can drop selected XMPP messages with an
//! exact account of what it dropped.
//!
//! - [`Proxy`] / [`ProxyConfig`]: the listener and its cheap, cloneable control handle.
//!   Every mode change is stamped ([`ModeChange`]) for the run timeline.
//! - [`XmppFilter`]: frames the upstream → client direction of a *plaintext* XMPP stream
//!   with the project's sans-io framer and removes top-level `<message/>` stanzas chosen
//!   by a [`DropRule`]; everything else passes byte-identical.
//! - [`ProxyStats`]: connections, bytes each way, messages seen and dropped (with ids),
//!   and the mode timeline.
//! - [`control`]: the fault steps of failover suites acting on a target's nodes (process
//!   signals or shell hooks, and one proxy per node).
//!
//! ```no_run
//! # async fn demo(node: std::net::SocketAddr) -> Result<(), impress::fault::FaultError> {
//! use impress::fault::{DropRule, Proxy, ProxyConfig};
//! use std::time::Duration;
//!
//! let cfg = ProxyConfig::new(node).with_xmpp_filter(Some(DropRule::EveryNth(10)));
//! let proxy = Proxy::start(cfg).await?;
//! // Clients connect to proxy.addr() instead of the node.
//! proxy.delay(Duration::from_millis(200)).await;
//! proxy.blackhole().await; // partition: connections hang
//! proxy.cut().await; // reset every connection, refuse new ones
//! proxy.pass().await;
//! let stats = proxy.stats();
//! println!("{} lost: {:?}", stats.messages_dropped, stats.dropped_ids());
//! proxy.stop().await;
//! # Ok(()) }
//! ```

mod conn;
pub mod control;
mod filter;
mod mode;
mod proxy;
mod stats;

pub use filter::{Bypass, XmppFilter};
pub use mode::{DropRule, MessageView, Mode, ModeChange};
pub use proxy::{FaultError, Proxy, ProxyConfig};
pub use stats::{Dropped, ProxyStats};
