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
//!                                      └ target  └ transport (tcp/tls)
//! ```
//!
//! - [`proto`]: sans-io codecs (no tokio, no sockets, no clock).
//! - [`transport`]: TCP and TLS streams, no protocol knowledge.
//! - [`session`]: one virtual client pumping a codec over a transport.
//! - [`scenario`]: suite and target files, resolved into a [`scenario::RunPlan`].
//! - [`fleet`]: runs the plan's steps over every virtual user.
//! - [`target`]: managed servers (Prosody, ejabberd) started from `fixtures/targets/`.
//! - [`events`] / [`collector`]: the one seam between workers and results.
//! - [`checks`]: the catalogue of spec clauses and their oracles.
//! - [`metrics`]: HDR histograms per operation, per-interval series, live snapshots.
//! - [`exporter`]: the live Prometheus endpoint (`--metrics-listen`).
//! - [`report`]: terminal summary, `report.json`, `junit.xml`, `report.html`, HdrHistogram
//!   logs, and run comparison.

pub mod checks;
pub mod cli;
pub mod clock;
pub mod collector;
pub mod error;
pub mod events;
pub mod exporter;
pub mod fleet;
pub mod metrics;
pub mod proto;
pub mod report;
pub mod run;
pub mod scenario;
pub mod session;
pub mod target;
pub mod transport;
