//! Fault actions on the target's nodes, for the suite's `do = "fault"` steps.
//!
//! Every node has an upstream c2s address and, when the suite has proxy faults, a fault
//! [`Proxy`] in front of it that clients connect through (`cut`, `delay`, `blackhole`,
//! `heal` act there). Process faults (`kill`, `hang`, `resume`, `restart`) go to whoever
//! runs the node: a managed deployment ([`NodeProcesses`]), or the shell hooks of an external
//! target's `[[node]]` (`sh -c`, which must exit 0). Every fault applied is marked on the
//! report timeline and kept in a log, so recovery is measured from the moment it struck.

use super::{Proxy, ProxyConfig};
use crate::clock;
use crate::events::Events;
use crate::scenario::suite_failover::FaultAction;
use crate::target::Deployment;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A hook that runs longer than this failed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// A boxed future of a process action.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Whoever runs the nodes' server processes (a managed deployment).
pub trait NodeProcesses: Send + Sync + fmt::Debug {
    /// Whether it can do `action` at all.
    fn can(&self, action: FaultAction) -> bool;
    /// Kill (SIGKILL), hang (SIGSTOP), resume (SIGCONT) or restart node `node`'s server;
    /// a restart resolves once the node listens again.
    fn act(&self, node: usize, action: FaultAction) -> Pending<'_>;
}

/// A single managed server, known by its process id: kill, hang and resume by signal.
#[derive(Debug, Clone, Copy)]
pub struct SignalledProcess(pub u32);

impl NodeProcesses for SignalledProcess {
    fn can(&self, action: FaultAction) -> bool {
        matches!(
            action,
            FaultAction::Kill | FaultAction::Hang | FaultAction::Resume
        )
    }

    fn act(&self, _: usize, action: FaultAction) -> Pending<'_> {
        let sig = match action {
            FaultAction::Kill => "KILL",
            FaultAction::Hang => "STOP",
            _ => "CONT",
        };
        // kill(1): the crate forbids `unsafe`, so no libc::kill here.
        let cmd = format!("kill -s {sig} {}", self.0);
        Box::pin(async move { run_hook(&cmd).await })
    }
}

/// A request to the task that owns a managed [`Deployment`].
type Request = (usize, FaultAction, oneshot::Sender<Result<(), String>>);

/// The receiving end of a [`Remote`].
pub type Requests = mpsc::UnboundedReceiver<Request>;

/// Process actions forwarded to the task that owns the deployment ([`serve`]).
#[derive(Debug, Clone)]
pub struct Remote(mpsc::UnboundedSender<Request>);

/// A [`Remote`] and the receiving end to give [`serve`].
pub fn remote() -> (Remote, Requests) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Remote(tx), rx)
}

impl NodeProcesses for Remote {
    fn can(&self, _: FaultAction) -> bool {
        true
    }

    fn act(&self, node: usize, action: FaultAction) -> Pending<'_> {
        let (tx, rx) = oneshot::channel();
        let sent = self.0.send((node, action, tx));
        Box::pin(async move {
            sent.map_err(|_| "the deployment is gone".to_string())?;
            rx.await.map_err(|_| "the deployment is gone".to_string())?
        })
    }
}

/// Applies the process actions of `requests` to `d` until every [`Remote`] is dropped.
pub async fn serve(mut requests: Requests, d: &Deployment) {
    while let Some((node, action, reply)) = requests.recv().await {
        let r = match action {
            FaultAction::Kill => d.kill(node),
            FaultAction::Hang => d.hang(node),
            FaultAction::Resume => d.cont(node),
            FaultAction::Restart => d.restart(node).await,
            other => {
                let _ = reply.send(Err(format!("`{}` is a proxy action", other.name())));
                continue;
            }
        };
        let _ = reply.send(r.map_err(|e| e.to_string()));
    }
}

/// Shell hooks of an external node.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// Kills the server.
    pub kill: Option<String>,
    /// Freezes it.
    pub hang: Option<String>,
    /// Unfreezes it.
    pub resume: Option<String>,
    /// Starts it again.
    pub restart: Option<String>,
}

impl Hooks {
    fn get(&self, a: FaultAction) -> Option<&str> {
        match a {
            FaultAction::Kill => self.kill.as_deref(),
            FaultAction::Hang => self.hang.as_deref(),
            FaultAction::Resume => self.resume.as_deref(),
            FaultAction::Restart => self.restart.as_deref(),
            _ => None,
        }
    }
}

/// One node as the fault controller knows it.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Name for the timeline (`node0` unless the target names it).
    pub name: String,
    /// The server's own c2s address.
    pub upstream: SocketAddr,
    /// Shell hooks (external targets).
    pub hooks: Hooks,
}

/// One fault as applied.
#[derive(Debug, Clone)]
pub struct FaultRecord {
    /// When it took effect.
    pub at: Instant,
    /// What it was.
    pub action: FaultAction,
    /// On which node.
    pub node: usize,
}

/// The target's nodes and what can be done to them.
#[derive(Debug)]
pub struct Nodes {
    specs: Vec<NodeSpec>,
    proxies: Vec<Proxy>,
    processes: Option<Arc<dyn NodeProcesses>>,
    log: Mutex<Vec<FaultRecord>>,
    /// Faults not yet taken by a `chat-through` step.
    fresh: Mutex<Vec<FaultRecord>>,
}

impl Nodes {
    /// The nodes; with `proxies`, a fault proxy is started in front of each.
    pub async fn start(
        specs: Vec<NodeSpec>,
        proxies: bool,
        processes: Option<Arc<dyn NodeProcesses>>,
    ) -> Result<Self, String> {
        let mut started = Vec::new();
        if proxies {
            for s in &specs {
                let p = Proxy::start(ProxyConfig::new(s.upstream))
                    .await
                    .map_err(|e| format!("fault proxy for {}: {e}", s.name))?;
                started.push(p);
            }
        }
        Ok(Self {
            specs,
            proxies: started,
            processes,
            log: Mutex::new(Vec::new()),
            fresh: Mutex::new(Vec::new()),
        })
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether there is no node.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Where clients connect to reach each node (its proxy, if any).
    pub fn client_addrs(&self) -> Vec<SocketAddr> {
        if self.proxies.is_empty() {
            self.specs.iter().map(|s| s.upstream).collect()
        } else {
            self.proxies.iter().map(Proxy::addr).collect()
        }
    }

    /// Whether `action` can be applied to `node`.
    pub fn can(&self, node: usize, action: FaultAction) -> bool {
        let Some(spec) = self.specs.get(node) else {
            return false;
        };
        if action.is_proxy() {
            return !self.proxies.is_empty();
        }
        spec.hooks.get(action).is_some() || self.processes.as_ref().is_some_and(|p| p.can(action))
    }

    /// Applies one fault, marks it on the timeline (`fault kill node0`) and logs it.
    pub async fn apply(
        &self,
        node: usize,
        action: FaultAction,
        delay: Option<Duration>,
        events: &Events,
    ) -> Result<(), String> {
        let spec = self
            .specs
            .get(node)
            .ok_or_else(|| format!("node {node} does not exist"))?;
        let label = format!("fault {} {}", action.name(), spec.name);
        let r = if action.is_proxy() {
            self.proxy_action(node, action, delay).await
        } else {
            self.process_action(spec, node, action).await
        };
        let at = clock::now();
        match &r {
            Ok(()) => {
                events.mark(label);
                let rec = FaultRecord { at, action, node };
                if let Ok(mut l) = self.log.lock() {
                    l.push(rec.clone());
                }
                if let Ok(mut f) = self.fresh.lock() {
                    f.push(rec);
                }
            }
            Err(e) => {
                events.mark(format!("{label} (failed)"));
                events.error("fault", format!("{label}: {e}"));
            }
        }
        r
    }

    async fn proxy_action(
        &self,
        node: usize,
        action: FaultAction,
        delay: Option<Duration>,
    ) -> Result<(), String> {
        let p = self
            .proxies
            .get(node)
            .ok_or_else(|| "the suite started no fault proxy".to_string())?;
        match action {
            FaultAction::Cut => p.cut().await,
            FaultAction::Blackhole => p.blackhole().await,
            FaultAction::Delay => p.delay(delay.unwrap_or_default()).await,
            _ => p.pass().await,
        };
        Ok(())
    }

    async fn process_action(
        &self,
        spec: &NodeSpec,
        node: usize,
        action: FaultAction,
    ) -> Result<(), String> {
        if let Some(cmd) = spec.hooks.get(action) {
            return run_hook(cmd).await;
        }
        let p = self
            .processes
            .as_ref()
            .ok_or_else(|| format!("no `{}` hook and no managed process", action.name()))?;
        if !p.can(action) {
            return Err(format!("this target cannot `{}` a node", action.name()));
        }
        p.act(node, action).await
    }

    /// Faults applied at or after `since`, in order.
    pub fn since(&self, since: Instant) -> Vec<FaultRecord> {
        self.log
            .lock()
            .map(|l| l.iter().filter(|f| f.at >= since).cloned().collect())
            .unwrap_or_default()
    }

    /// The faults applied since the last call, in order.
    pub fn take_faults(&self) -> Vec<FaultRecord> {
        self.fresh
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    /// Stops the proxies (their connections end).
    pub async fn stop(&self) {
        for p in &self.proxies {
            p.stop().await;
        }
    }
}

/// Runs a hook with `sh -c`; it must exit 0 within [`HOOK_TIMEOUT`]. Its output goes
/// nowhere: a hook that starts a server in the background must not hold a pipe open.
async fn run_hook(cmd: &str) -> Result<(), String> {
    use std::process::Stdio;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `sh -c {cmd}`: {e}"))?;
    let status = tokio::time::timeout(HOOK_TIMEOUT, child.wait())
        .await
        .map_err(|_| format!("hook `{cmd}` ran longer than {HOOK_TIMEOUT:?}"))?
        .map_err(|e| format!("hook `{cmd}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("hook `{cmd}` failed ({status})"))
    }
}

/// The nodes of a run's target: a managed deployment's, or an external target's
/// `[[node]]` entries (resolved, with their hooks).
pub async fn node_specs(
    target: &crate::scenario::TargetPlan,
    deployment: Option<&Deployment>,
) -> Result<Vec<NodeSpec>, String> {
    if let Some(d) = deployment {
        return Ok((0..d.len())
            .map(|i| NodeSpec {
                name: format!("node{i}"),
                upstream: d.addr(i),
                hooks: Hooks::default(),
            })
            .collect());
    }
    let mut specs = Vec::new();
    for (i, n) in target.nodes.iter().enumerate() {
        specs.push(NodeSpec {
            name: n.name.clone().unwrap_or_else(|| format!("node{i}")),
            upstream: crate::run::resolve(&n.host, n.port).await?,
            hooks: Hooks {
                kill: n.kill.clone(),
                hang: n.hang.clone(),
                resume: n.resume.clone(),
                restart: n.restart.clone(),
            },
        });
    }
    Ok(specs)
}
