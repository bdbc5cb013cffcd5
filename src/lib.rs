//! impress: a conformance and load-test harness for XMPP and SIP instant-messaging and
//! presence deployments.
//!
//! # Layout
//! Data flows one way (see `ARCHITECTURE.md` in the design notes):
//!
//! ```text
//! suite.toml ─┐                        ┌─> checks (verdicts) ─┐
//! target.toml ┴> scenario::RunPlan ─> fleet ─> session ─> proto      collector ─> report
//!                                      │         │ events ───────────────^
//!                                      └ target  └ transport (tcp/udp/tls)
//! ```
//!
//! - [`proto`]: sans-io codecs, XMPP and SIP (no tokio, no sockets, no clock).
//! - [`transport`]: TCP and TLS streams, no protocol knowledge.
//! - [`session`]: one virtual client pumping a codec over a transport (XMPP sessions,
//!   SIP user agents in [`session::sip`]).
//! - [`scenario`]: suite and target files, resolved into a [`scenario::RunPlan`].
//! - [`fleet`]: runs the plan's steps over every virtual user, load phases on closed or
//!   open schedules ([`fleet::schedule`]) included, and watches the generator's own lag.
//! - [`fault`]: the loopback fault proxy (delay, cut, blackhole, XMPP message drops).
//! - [`ha`]: high-availability arithmetic (client re-login limits of the HA login profiles).
//! - [`serve`]: `impress serve`, a managed server left running for other tools.
//! - [`target`]: managed servers (Prosody, ejabberd, Kamailio) started from
//!   `fixtures/targets/`.
//! - [`run`] / [`run_sip`]: one run end to end, with the SIP target of suites with SIP fleets.
//! - [`events`] / [`collector`]: the one seam between workers and results.
//! - [`checks`]: the catalogue of spec clauses and their oracles.
//! - [`metrics`]: HDR histograms per operation, per-interval series, live snapshots.
//! - [`exporter`]: the live Prometheus endpoint (`--metrics-listen`).
//! - [`preflight`]: file descriptors, ephemeral ports and memory checked before a run.
//! - [`report`]: terminal summary, `report.json`, `junit.xml`, `report.html`, HdrHistogram
//!   logs, and run comparison.

pub mod checks;
pub mod cli;
pub mod clock;
pub mod collector;
pub mod error;
pub mod events;
pub mod exporter;
pub mod fault;
pub mod fleet;
pub mod ha;
pub mod metrics;
pub mod preflight;
pub mod progress;
pub mod proto;
pub mod report;
pub mod run;
pub mod run_sip;
pub mod scenario;
pub mod serve;
pub mod session;
pub mod shard;
pub mod target;
pub mod transport;
