//! The target file model (`--target deploy.toml`): where the deployment is, how to secure
//! the connection, how accounts are named and where their password comes from, and
//! optionally a managed server to start instead.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A target file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Label for reports (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// XMPP domain.
    #[serde(default = "default_domain")]
    pub domain: String,
    /// c2s endpoints (failover steps use them all; other steps start on the first).
    /// Required unless `[managed]` is given.
    #[serde(default, rename = "node")]
    pub nodes: Vec<Node>,
    /// Transport security.
    #[serde(default)]
    pub tls: TlsConf,
    /// Accounts.
    #[serde(default)]
    pub accounts: AccountsConf,
    /// Start a managed server instead of using `nodes`.
    #[serde(default)]
    pub managed: Option<ManagedConf>,
    /// Expectation file (known deviations with reasons).
    #[serde(default)]
    pub expect: Option<PathBuf>,
    /// Where users log in first: `active` (all on node 0, the default) or `spread` (round
    /// robin over the nodes).
    #[serde(default)]
    pub placement: Option<super::suite_failover::Placement>,
}

fn default_domain() -> String {
    "example.test".to_string()
}

/// One c2s endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Node name.
    #[serde(default)]
    pub name: Option<String>,
    /// IP address or host name.
    pub host: String,
    /// c2s port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Source addresses connections rotate over (`"127.0.0.2-127.0.0.200"`, comma lists
    /// too), to hold more sessions than one address has ephemeral ports.
    #[serde(default)]
    pub source_addresses: Option<String>,
    /// SIP targets: the SIP-over-TLS port (`port` serves UDP and TCP).
    #[serde(default)]
    pub sip_tls_port: Option<u16>,
    /// Failover hook: a shell command (`sh -c`) that kills this node's server.
    #[serde(default)]
    pub kill: Option<String>,
    /// Failover hook: freezes the server (e.g. `kill -STOP <pid>`).
    #[serde(default)]
    pub hang: Option<String>,
    /// Failover hook: unfreezes a hung server (e.g. `kill -CONT <pid>`).
    #[serde(default)]
    pub resume: Option<String>,
    /// Failover hook: starts the server again (after a kill) on the same address.
    #[serde(default)]
    pub restart: Option<String>,
}

fn default_port() -> u16 {
    5222
}

/// How the client secures the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// STARTTLS must be offered and is used (default).
    #[default]
    Starttls,
    /// Never negotiate TLS (lab use; PLAIN still needs `allow_plain`).
    Plaintext,
}

/// Transport security settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConf {
    /// STARTTLS or plaintext.
    #[serde(default)]
    pub mode: TlsMode,
    /// Trust only this CA bundle (PEM); the system roots otherwise.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Off by default; the report records it when on.
    #[serde(default)]
    pub insecure: bool,
    /// Name to verify in the certificate (default: the domain).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Allow SASL PLAIN on a stream that is not encrypted.
    #[serde(default)]
    pub allow_plain: bool,
}

/// Account naming and credentials. Exactly one password source may be given; the
/// password is never accepted on the command line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsConf {
    /// Account name pattern; `{n}` is the user number.
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// Password (may contain `{n}`). Prefer `password_env` or `password_file`.
    #[serde(default)]
    pub password: Option<String>,
    /// Name of an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File whose first line is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

fn default_pattern() -> String {
    "user{n}".to_string()
}

impl Default for AccountsConf {
    fn default() -> Self {
        Self {
            pattern: default_pattern(),
            password: None,
            password_env: None,
            password_file: None,
        }
    }
}

/// A managed server started for the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedConf {
    /// `prosody`, `ejabberd` or `kamailio`.
    pub server: String,
    /// Modules to leave out, in the server's own names (`ping`, `mod_ping`; Kamailio:
    /// `presence`, `auth_db`, `tls` switch their feature off).
    #[serde(default)]
    pub disable_modules: Vec<String>,
    /// Extra global settings in the server's own syntax (key → value).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Source addresses connections rotate over, as for `[[node]]`.
    #[serde(default)]
    pub source_addresses: Option<String>,
    /// How many servers and how they relate: `single` (default), `cluster` (ejabberd),
    /// `pair` (independent servers provisioned alike), `federation` (Prosody, one domain per
    /// node, s2s on loopback).
    #[serde(default)]
    pub layout: Option<String>,
    /// Nodes of the layout (default 1 for `single`, 2 otherwise).
    #[serde(default)]
    pub nodes: Option<usize>,
}
