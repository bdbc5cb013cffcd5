//! How one node of a multi-node deployment differs from a stand-alone managed server: a PKI
//! shared with its siblings, membership of an ejabberd cluster (shared epmd, cookie, a node
//! name and the node to join), or s2s routes to federated peers. [`NodeOpts::default`] is a
//! stand-alone server, exactly as [`ManagedServer::start`](super::ManagedServer::start)
//! starts it.

use std::sync::Arc;

use super::certs::TestPki;

/// Start options of one node.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeOpts {
    /// The CA and certificate every node of the deployment uses; `None`: mint a new one.
    pub pki: Option<Arc<TestPki>>,
    /// ejabberd only: join (or found) a cluster instead of running alone.
    pub cluster: Option<ClusterMember>,
    /// Federation: listen for s2s and route outgoing s2s to the peers on loopback.
    pub s2s: Option<S2sRoutes>,
    /// Prosody only: use this data dir (another node's) instead of a fresh one, as an
    /// active/standby pair sharing a database would (accounts, rosters, offline messages).
    pub shared_data: Option<std::path::PathBuf>,
}

/// One node of an ejabberd cluster on this machine.
#[derive(Debug, Clone)]
pub(crate) struct ClusterMember {
    /// The port of the cluster's shared epmd (started by the deployment).
    pub epmd_port: u16,
    /// The cookie every node (and every control node) uses.
    pub cookie: String,
    /// This node's Erlang name, e.g. `impress2@localhost`.
    pub node: String,
    /// The node to join after the first start (`None` for the founding node).
    pub join: Option<String>,
}

/// Server-to-server settings of a federated node.
#[derive(Debug, Clone)]
pub(crate) struct S2sRoutes {
    /// This node's s2s listening port.
    pub port: u16,
    /// Every federated domain (this one's too) and the loopback s2s port serving it; MUC
    /// subdomains (`conference.<domain>`) route to the same port. A domain listed more
    /// than once (an active/standby pair) is tried at each port in order.
    pub routes: Vec<(String, u16)>,
}
