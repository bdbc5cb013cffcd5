//! Managed deployments of one or more nodes, and the fault actions on them (issue #6).
//!
//! A [`Deployment`] is what a run's managed target is: [`Layout::Single`] is one
//! [`ManagedServer`] exactly as before; [`Layout::Pair`] is N independent servers of one kind
//! and domain, provisioned alike (an active/standby pair); [`Layout::Cluster`] is an ejabberd
//! cluster on this machine (see [`cluster`](super::cluster)); [`Layout::Federation`] is N
//! Prosody deployments with different domains federated over s2s on loopback.
//!
//! Every node's certificate is signed by one CA ([`Deployment::ca_file`]). Faults act on a
//! node's server process by PID: [`kill`](Deployment::kill) (SIGKILL), [`hang`](Deployment::hang)
//! (SIGSTOP), [`cont`](Deployment::cont) (SIGCONT); [`restart`](Deployment::restart) starts the
//! node again in its dir on its ports (a cluster node rejoins). Everything is `&self`, so
//! fault actions run while sessions use the deployment.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::certs::TestPki;
use super::cluster::{self, SharedEpmd};
use super::node::{ClusterMember, NodeOpts, S2sRoutes};
use super::process::{self, ProcessSet};
use super::{Backend, ManagedServer, ManagedSpec, ServerKind, TargetError};

/// How long a killed server may take to disappear before a restart gives up.
const DEATH_WAIT: Duration = Duration::from_secs(5);

/// How the nodes of a deployment relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One server (the default).
    #[default]
    Single,
    /// ejabberd nodes in one cluster: shared users and rooms, each with its own c2s port.
    Cluster,
    /// Independent servers of one kind and domain, provisioned with the same accounts.
    Pair,
    /// Deployments with different domains, federated over s2s on loopback (Prosody).
    Federation,
    /// A federation whose first deployment is an active/standby pair (Prosody, 3 nodes):
    /// node 0 serves `a.<base>` (active), node 1 `b.<base>`, node 2 `a.<base>` again (the
    /// standby, sharing node 0's data dir). s2s to `a.<base>` tries node 0, then node 2.
    FederationStandby,
}

impl Layout {
    /// The lowercase name used in target files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Cluster => "cluster",
            Self::Pair => "pair",
            Self::Federation => "federation",
            Self::FederationStandby => "federation-standby",
        }
    }

    /// Nodes when the target does not say: 1 for `single`, 3 for `federation-standby`, 2
    /// otherwise.
    pub fn default_nodes(self) -> usize {
        match self {
            Self::Single => 1,
            Self::FederationStandby => 3,
            _ => 2,
        }
    }

    /// Whether `kind` can run in this layout with `nodes` nodes; `Err` says why not.
    pub fn check(self, kind: ServerKind, nodes: usize) -> Result<(), TargetError> {
        let bad = |m: String| Err(TargetError::Spec(m));
        match self {
            Self::Single if nodes != 1 => bad(format!("layout `single` has 1 node, not {nodes}")),
            Self::Single => Ok(()),
            _ if !(1..=MAX_NODES).contains(&nodes) => bad(format!(
                "layout `{self}` takes 1 to {MAX_NODES} nodes, not {nodes}"
            )),
            Self::Cluster if kind != ServerKind::Ejabberd => bad(format!(
                "layout `cluster` needs ejabberd (Prosody has no clustering), not {kind}"
            )),
            Self::Federation if kind != ServerKind::Prosody => bad(format!(
                "layout `federation` runs Prosody (it routes s2s to loopback ports with a \
                 plugin; ejabberd would need a private /etc/hosts), not {kind}"
            )),
            Self::Federation if nodes < 2 => bad("layout `federation` needs 2 nodes".into()),
            Self::FederationStandby if kind != ServerKind::Prosody => bad(format!(
                "layout `federation-standby` runs Prosody (s2s routes to loopback ports), \
                 not {kind}"
            )),
            Self::FederationStandby if nodes != 3 => bad(format!(
                "layout `federation-standby` has 3 nodes (A active, B, A standby), not {nodes}"
            )),
            Self::Pair if kind == ServerKind::Kamailio => {
                bad("layout `pair` is for XMPP servers".into())
            }
            _ => Ok(()),
        }
    }
}

/// Most nodes one managed deployment may have (each is a real server on this machine).
pub const MAX_NODES: usize = 8;

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "single" => Ok(Self::Single),
            "cluster" => Ok(Self::Cluster),
            "pair" => Ok(Self::Pair),
            "federation" => Ok(Self::Federation),
            "federation-standby" => Ok(Self::FederationStandby),
            other => Err(TargetError::Spec(format!(
                "unknown layout `{other}` (single, cluster, pair, federation, \
                 federation-standby)"
            ))),
        }
    }
}

/// One node: the server as first started, and what restarts changed.
#[derive(Debug)]
struct Node {
    server: ManagedServer,
    /// The current server PID (a restart changes it).
    pid: AtomicU32,
    /// Processes started by restarts (the server's own set holds the first start's).
    restarted: Mutex<ProcessSet>,
    /// One restart at a time per node.
    restarting: tokio::sync::Mutex<()>,
    /// Hung by [`Deployment::hang`] and not continued since. Only these are continued at
    /// stop: a process someone else stopped is theirs to continue.
    hung: std::sync::atomic::AtomicBool,
}

impl Node {
    fn new(server: ManagedServer) -> Self {
        Self {
            pid: AtomicU32::new(server.pid()),
            server,
            restarted: Mutex::new(ProcessSet::default()),
            restarting: tokio::sync::Mutex::new(()),
            hung: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn restarted(&self) -> std::sync::MutexGuard<'_, ProcessSet> {
        self.restarted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every process of the node, the current ones first.
    fn process_ids(&self) -> Vec<u32> {
        let mut pids = self.restarted().pids();
        pids.extend(self.server.process_ids());
        pids
    }
}

/// A running managed deployment. Stop it with [`stop`](Self::stop); dropping it also stops
/// every process (best effort) and removes the temp dirs.
#[derive(Debug)]
pub struct Deployment {
    layout: Layout,
    nodes: Vec<Node>,
    /// A cluster's shared epmd (stopped after the nodes).
    epmd: Option<SharedEpmd>,
}

impl Deployment {
    /// Starts `nodes` nodes of `spec` in `layout` (nodes start concurrently) and waits
    /// until every one listens (cluster: every node has joined the first).
    pub async fn start(
        spec: &ManagedSpec,
        layout: Layout,
        nodes: usize,
    ) -> Result<Self, TargetError> {
        layout.check(spec.kind, nodes)?;
        spec.validate()?;
        let t0 = Instant::now();
        let deployment = match layout {
            Layout::Single => Self::single(ManagedServer::start(spec).await?),
            Layout::Pair => Self::pair(spec, nodes).await?,
            Layout::Cluster => Self::cluster(spec, nodes).await?,
            Layout::Federation => Self::federation(spec, nodes).await?,
            Layout::FederationStandby => Self::federation_standby(spec).await?,
        };
        if layout != Layout::Single {
            tracing::info!(
                %layout, nodes, addrs = ?(0..nodes).map(|i| deployment.addr(i)).collect::<Vec<_>>(),
                elapsed_ms = t0.elapsed().as_millis() as u64, "managed deployment ready"
            );
        }
        Ok(deployment)
    }

    /// A single-node deployment of an already started server.
    pub fn single(server: ManagedServer) -> Self {
        Self {
            layout: Layout::Single,
            nodes: vec![Node::new(server)],
            epmd: None,
        }
    }

    async fn pair(spec: &ManagedSpec, n: usize) -> Result<Self, TargetError> {
        let opts = NodeOpts {
            pki: Some(Arc::new(TestPki::generate(&spec.domain)?)),
            ..NodeOpts::default()
        };
        let servers = start_all(vec![(spec.clone(), opts); n]).await?;
        Ok(Self::of(Layout::Pair, servers, None))
    }

    async fn cluster(spec: &ManagedSpec, n: usize) -> Result<Self, TargetError> {
        let epmd = SharedEpmd::start().await?;
        let pki = Arc::new(TestPki::generate(&spec.domain)?);
        let cookie = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let opts = (0..n).map(|i| {
            let member = ClusterMember {
                epmd_port: epmd.port,
                cookie: cookie.clone(),
                node: format!("impress{}@localhost", i + 1),
                join: None,
            };
            let opts = NodeOpts {
                pki: Some(pki.clone()),
                cluster: Some(member),
                s2s: None,
                shared_data: None,
            };
            (spec.clone(), opts)
        });
        // Start every node at once (2–5 s each), then join them one by one to the first.
        let servers = start_all(opts.collect()).await?;
        let first = cluster::node_name(&servers[0]).unwrap_or_default();
        for server in &servers[1..] {
            cluster::join(server, &first).await?;
        }
        tracing::debug!(epmd_dir = %epmd.dir().display(), "cluster formed");
        Ok(Self::of(Layout::Cluster, servers, Some(epmd)))
    }

    async fn federation(spec: &ManagedSpec, n: usize) -> Result<Self, TargetError> {
        let domains = federation_domains(&spec.domain, n);
        let names: Vec<&str> = domains.iter().map(String::as_str).collect();
        let pki = Arc::new(TestPki::generate_for(&names)?);
        let ports = process::free_ports(n)?;
        let routes: Vec<(String, u16)> = domains.iter().cloned().zip(ports.clone()).collect();
        let opts = domains.iter().zip(&ports).map(|(domain, &port)| {
            let mut spec = spec.clone();
            spec.domain = domain.clone();
            let s2s = S2sRoutes {
                port,
                routes: routes.clone(),
            };
            let opts = NodeOpts {
                pki: Some(pki.clone()),
                cluster: None,
                s2s: Some(s2s),
                shared_data: None,
            };
            (spec, opts)
        });
        let servers = start_all(opts.collect()).await?;
        Ok(Self::of(Layout::Federation, servers, None))
    }

    /// Node 0 (A active) and node 1 (B) start together; node 2 (A standby) then starts on
    /// node 0's data dir. Every node routes `a.<base>` to node 0's s2s port, then node 2's.
    async fn federation_standby(spec: &ManagedSpec) -> Result<Self, TargetError> {
        let domains = layout_domains(Layout::FederationStandby, &spec.domain, 3);
        let pki = Arc::new(TestPki::generate_for(&[
            domains[0].as_str(),
            domains[1].as_str(),
        ])?);
        let ports = process::free_ports(3)?;
        let routes: Vec<(String, u16)> = domains.iter().cloned().zip(ports.clone()).collect();
        let node = |i: usize, shared_data| {
            let mut spec = spec.clone();
            spec.domain = domains[i].clone();
            let s2s = S2sRoutes {
                port: ports[i],
                routes: routes.clone(),
            };
            let opts = NodeOpts {
                pki: Some(pki.clone()),
                cluster: None,
                s2s: Some(s2s),
                shared_data,
            };
            (spec, opts)
        };
        let mut servers = start_all(vec![node(0, None), node(1, None)]).await?;
        let shared = servers[0].dir().join("data");
        servers.extend(start_all(vec![node(2, Some(shared))]).await?);
        Ok(Self::of(Layout::FederationStandby, servers, None))
    }

    fn of(layout: Layout, servers: Vec<ManagedServer>, epmd: Option<SharedEpmd>) -> Self {
        Self {
            layout,
            nodes: servers.into_iter().map(Node::new).collect(),
            epmd,
        }
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Which server every node runs.
    pub fn kind(&self) -> ServerKind {
        self.nodes[0].server.kind()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a deployment has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `node`'s server as first started (its address, domain, dir and logs stay the
    /// same across restarts; its `pid()` is the first start's: use [`pid`](Self::pid)).
    /// Panics if `node >= len()`.
    pub fn server(&self, node: usize) -> &ManagedServer {
        &self.nodes[node].server
    }

    /// The c2s address of node `node` (the same after restarts). Panics if `node >= len()`.
    pub fn addr(&self, node: usize) -> SocketAddr {
        self.nodes[node].server.addr()
    }

    /// The XMPP domain node `node` serves (federation: each deployment's own). Panics if
    /// `node >= len()`.
    pub fn domain(&self, node: usize) -> &str {
        self.nodes[node].server.domain()
    }

    /// The CA that signed every node's certificate.
    pub fn ca_file(&self) -> &Path {
        self.nodes[0].server.ca_file()
    }

    /// The current server PID of node `node` (`beam.smp` for ejabberd). Panics if
    /// `node >= len()`.
    pub fn pid(&self, node: usize) -> u32 {
        self.nodes[node].pid.load(Ordering::SeqCst)
    }

    /// Whether node `node`'s server process exists (a hung one does; a killed one not).
    pub fn is_running(&self, node: usize) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|_| process::pid_alive(self.pid(node)))
    }

    /// Creates accounts `<prefix>1` … `<prefix><count>` with `password` (see
    /// [`ManagedServer::provision`]) on every node; a cluster provisions once, through its
    /// first running node (mnesia replicates them).
    pub async fn provision(
        &self,
        prefix: &str,
        count: usize,
        password: &str,
    ) -> Result<(), TargetError> {
        if self.layout == Layout::Cluster {
            let i = (0..self.len()).find(|&i| self.is_running(i)).unwrap_or(0);
            return self.nodes[i]
                .server
                .provision(prefix, count, password)
                .await;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            // A standby sharing node 0's data dir has its accounts already.
            if self.layout == Layout::FederationStandby && i == 2 {
                continue;
            }
            node.server.provision(prefix, count, password).await?;
        }
        Ok(())
    }

    /// Sends `sig` to node `node`'s server; a process already gone is not an error.
    fn signal(&self, node: usize, sig: i32, what: &str) -> Result<(), TargetError> {
        self.check_node(node)?;
        let pid = self.pid(node);
        match process::send_signal(pid, sig) {
            Ok(()) => {
                tracing::info!(node, pid, "{what}");
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(process::io_err(format!("{what} (pid {pid})"), e)),
        }
    }

    fn check_node(&self, node: usize) -> Result<(), TargetError> {
        if node < self.len() {
            Ok(())
        } else {
            Err(TargetError::Spec(format!(
                "node {node} does not exist: the deployment has {} node(s), numbered from 0",
                self.len()
            )))
        }
    }

    /// SIGKILLs node `node`'s server (its clients see the connection reset or closed).
    pub fn kill(&self, node: usize) -> Result<(), TargetError> {
        self.signal(node, libc::SIGKILL, "node killed (SIGKILL)")
    }

    /// SIGSTOPs node `node`'s server: connections stay open, nothing answers.
    pub fn hang(&self, node: usize) -> Result<(), TargetError> {
        self.signal(node, libc::SIGSTOP, "node hung (SIGSTOP)")?;
        self.nodes[node].hung.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// SIGCONTs node `node`'s server after [`hang`](Self::hang).
    pub fn cont(&self, node: usize) -> Result<(), TargetError> {
        self.signal(node, libc::SIGCONT, "node continued (SIGCONT)")?;
        self.nodes[node].hung.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Starts node `node` again in its dir on its ports and waits until it listens (a
    /// cluster node also until it has rejoined its running peers). A server still running
    /// (e.g. hung) is killed first.
    pub async fn restart(&self, node: usize) -> Result<(), TargetError> {
        self.check_node(node)?;
        let n = &self.nodes[node];
        let _one = n.restarting.lock().await;
        let t0 = Instant::now();
        let old = self.pid(node);
        let _ = process::send_signal(old, libc::SIGKILL);
        let _ = process::send_signal(old, libc::SIGCONT);
        // A dead child of ours stays a zombie until shutdown reaps it; pid_alive says dead.
        let gone =
            process::wait_for(DEATH_WAIT, || Ok((!process::pid_alive(old)).then_some(()))).await?;
        if gone.is_none() {
            return Err(TargetError::Stop(format!(
                "node {node}'s server (pid {old}) survived SIGKILL"
            )));
        }
        let mut procs = ProcessSet::default();
        let pid = match &n.server.backend {
            Backend::Prosody(p) => p.respawn(&n.server, &mut procs).await?,
            Backend::Ejabberd(e) => match e.respawn(&n.server, &mut procs).await {
                // epmd forgets a SIGKILLed node only when it notices the closed socket; a
                // restart right after the kill can race it. Once more, after a pause.
                Err(TargetError::NotReady { log_tail, .. })
                    if log_tail.contains("is already running") =>
                {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    e.respawn(&n.server, &mut procs).await?
                }
                r => r?,
            },
            Backend::Kamailio(_) => {
                return Err(TargetError::Spec(
                    "restarting Kamailio is not supported".into(),
                ));
            }
        };
        n.restarted().absorb(&mut procs);
        n.pid.store(pid, Ordering::SeqCst);
        n.hung.store(false, Ordering::SeqCst);
        if self.layout == Layout::Cluster {
            let peers: Vec<String> = (0..self.len())
                .filter(|&i| i != node && self.is_running(i))
                .filter_map(|i| cluster::node_name(&self.nodes[i].server))
                .collect();
            cluster::rejoined(&n.server, &peers).await?;
        }
        let elapsed_ms = t0.elapsed().as_millis() as u64;
        tracing::info!(node, pid, elapsed_ms, "node restarted");
        Ok(())
    }

    /// Every live process impress started for the deployment (for an abort that cannot
    /// wait for [`stop`](Self::stop): [`kill_now`](super::kill_now)). Processes a fault
    /// killed are left out, so a recycled PID is never signalled.
    pub fn process_ids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.nodes.iter().flat_map(Node::process_ids).collect();
        pids.extend(self.epmd.iter().flat_map(SharedEpmd::pids));
        pids.retain(|&p| process::pid_alive(p));
        pids
    }

    /// Stops every process by PID (a hung server is continued first, so it can take its
    /// SIGTERM) and removes every temp dir. Stops every node even when one fails; returns
    /// the first failure.
    pub async fn stop(mut self) -> Result<(), TargetError> {
        self.continue_all();
        let nodes = std::mem::take(&mut self.nodes);
        let epmd = self.epmd.take();
        let mut first_err = None;
        for node in nodes.into_iter().rev() {
            let Node {
                server, restarted, ..
            } = node;
            let mut procs = restarted.into_inner().unwrap_or_else(|e| e.into_inner());
            let done = tokio::task::spawn_blocking(move || procs.shutdown()).await;
            if let Ok(Err(left)) = done {
                let e = TargetError::Stop(format!("left running: {}", left.join(", ")));
                first_err.get_or_insert(e);
            }
            if let Err(e) = server.stop().await {
                first_err.get_or_insert(e);
            }
        }
        if let Some(epmd) = epmd {
            let done = tokio::task::spawn_blocking(move || epmd.shutdown()).await;
            if let Ok(Err(e)) = done {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// SIGCONT to every server [`hang`](Self::hang) stopped: it would sit out its SIGTERM
    /// grace (it is SIGKILLed after it either way).
    fn continue_all(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            if n.hung.load(Ordering::SeqCst) {
                let _ = process::send_signal(self.pid(i), libc::SIGCONT);
            }
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // The nodes' process sets stop everything as they drop; unfreeze first.
        self.continue_all();
    }
}

/// Starts one server per `(spec, opts)` concurrently. On any failure the ones that started
/// are stopped (by drop) and the first error is returned.
async fn start_all(nodes: Vec<(ManagedSpec, NodeOpts)>) -> Result<Vec<ManagedServer>, TargetError> {
    let tasks: Vec<_> = nodes
        .into_iter()
        .map(|(spec, opts)| {
            tokio::spawn(async move { ManagedServer::start_node(&spec, &opts).await })
        })
        .collect();
    let mut servers = Vec::with_capacity(tasks.len());
    let mut first_err = None;
    for task in tasks {
        match task.await {
            Ok(Ok(s)) => servers.push(s),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(TargetError::Spawn {
                    program: "node start task".into(),
                    source: std::io::Error::other(e.to_string()),
                });
            }
        }
    }
    match first_err {
        None => Ok(servers),
        Some(e) => Err(e),
    }
}

/// The domains of a federation of `n`: `domain` itself, then `b.<base>`, `c.<base>` …
/// where `<base>` is `domain` without a leading `a.` (so `a.example.test` federates with
/// `b.example.test`).
pub fn federation_domains(domain: &str, n: usize) -> Vec<String> {
    let base = domain.strip_prefix("a.").unwrap_or(domain);
    (0..n)
        .map(|i| match i {
            0 => domain.to_owned(),
            _ => format!("{}.{base}", char::from(b'a' + (i as u8 % 26))),
        })
        .collect()
}

/// The XMPP domain of each of the `n` nodes of a `layout` deployment whose target domain
/// is `domain`: one per deployment of a federation, `a.<base>` twice in a
/// `federation-standby` (nodes 0 and 2), else `domain` for every node.
pub fn layout_domains(layout: Layout, domain: &str, n: usize) -> Vec<String> {
    match layout {
        Layout::Federation => federation_domains(domain, n),
        Layout::FederationStandby => {
            let d = federation_domains(domain, 2);
            (0..n).map(|i| d[i % 2].clone()).collect()
        }
        _ => vec![domain.to_owned(); n.max(1)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_and_check_kinds() {
        for l in [
            Layout::Single,
            Layout::Cluster,
            Layout::Pair,
            Layout::Federation,
            Layout::FederationStandby,
        ] {
            assert_eq!(l.name().parse::<Layout>().unwrap(), l);
        }
        assert!("ring".parse::<Layout>().is_err());
        assert!(Layout::Cluster.check(ServerKind::Prosody, 2).is_err());
        assert!(Layout::Cluster.check(ServerKind::Ejabberd, 2).is_ok());
        assert!(Layout::Single.check(ServerKind::Prosody, 2).is_err());
        assert!(Layout::Pair.check(ServerKind::Ejabberd, 0).is_err());
        assert!(Layout::Pair.check(ServerKind::Prosody, 3).is_ok());
        assert!(Layout::Federation.check(ServerKind::Prosody, 1).is_err());
        assert!(Layout::Federation.check(ServerKind::Ejabberd, 2).is_err());
        assert!(
            Layout::FederationStandby
                .check(ServerKind::Prosody, 3)
                .is_ok()
        );
        assert!(
            Layout::FederationStandby
                .check(ServerKind::Prosody, 2)
                .is_err()
        );
        assert!(
            Layout::FederationStandby
                .check(ServerKind::Ejabberd, 3)
                .is_err()
        );
        assert!(
            Layout::Pair
                .check(ServerKind::Ejabberd, MAX_NODES + 1)
                .is_err()
        );
    }

    #[test]
    fn federation_domains_differ() {
        assert_eq!(
            federation_domains("a.example.test", 2),
            ["a.example.test", "b.example.test"]
        );
        assert_eq!(
            federation_domains("example.test", 3),
            ["example.test", "b.example.test", "c.example.test"]
        );
    }

    #[test]
    fn a_standby_serves_its_active_nodes_domain() {
        assert_eq!(
            layout_domains(Layout::FederationStandby, "a.example.test", 3),
            ["a.example.test", "b.example.test", "a.example.test"]
        );
        assert_eq!(
            layout_domains(Layout::Pair, "x.test", 2),
            ["x.test", "x.test"]
        );
    }

    #[test]
    fn deployment_is_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Deployment>();
    }
}
