//! A two-or-more-node ejabberd cluster on this machine (targets.md §4.4): the nodes share a
//! private epmd on a free port and a random cookie, are named `impress1@localhost`,
//! `impress2@localhost` …, each serves c2s on its own free port, and every node after the
//! first joins the first (`ejabberd_admin:join_cluster`, what `ejabberdctl join_cluster`
//! calls), so users, rosters and rooms live in replicated mnesia tables. A node killed and
//! started again in its dir finds its peers in its mnesia schema and rejoins on its own;
//! [`rejoined`] confirms it.

use std::path::Path;
use std::time::Duration;

use super::ejabberd::{Ejabberd, log_contains};
use super::process::{self, ProcessSet, SystemUser, io_err};
use super::{Backend, ManagedServer, TargetError};

/// Joining copies the tables and restarts ejabberd on the joining node (~1.6 s).
const JOIN_TIMEOUT: Duration = Duration::from_secs(90);
/// A node is started again and syncing its tables: bounds the wait for its peers.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one membership probe may take (boots a control node, ~0.3 s).
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// `-extra NODE PEER`: makes NODE join PEER's cluster, then checks that PEER is among
/// NODE's running mnesia nodes. Always halts.
const JOIN_EVAL: &str = r#"
try
  [NodeS, PeerS] = init:get_plain_arguments(),
  N = list_to_atom(NodeS), Peer = list_to_atom(PeerS),
  R = rpc:call(N, ejabberd_admin, join_cluster, [list_to_binary(PeerS)], 80000),
  Nodes = rpc:call(N, mnesia, system_info, [running_db_nodes]),
  case is_list(Nodes) andalso lists:member(Peer, Nodes) of
    true -> io:format("impress-eval-ok~n"), halt(0);
    false -> io:format("impress-join-error ~p ~p~n", [R, Nodes]), halt(1)
  end
catch Class:Reason ->
  io:format("impress-join-error ~p:~p~n", [Class, Reason]),
  halt(1)
end.
"#;

/// `-extra NODE PEER…`: succeeds when every PEER is among NODE's running mnesia nodes and
/// NODE's tables are loaded. Always halts.
const MEMBERS_EVAL: &str = r#"
try
  [NodeS | PeersS] = init:get_plain_arguments(),
  N = list_to_atom(NodeS),
  Nodes = rpc:call(N, mnesia, system_info, [running_db_nodes]),
  ok = rpc:call(N, mnesia, wait_for_tables, [[passwd, roster], 5000]),
  case is_list(Nodes) andalso lists:all(fun(P) -> lists:member(list_to_atom(P), Nodes) end, PeersS) of
    true -> io:format("impress-eval-ok~n"), halt(0);
    false -> io:format("impress-members ~p~n", [Nodes]), halt(1)
  end
catch Class:Reason ->
  io:format("impress-members-error ~p:~p~n", [Class, Reason]),
  halt(1)
end.
"#;

/// The epmd and scratch dir every node of one cluster shares.
#[derive(Debug)]
pub(super) struct SharedEpmd {
    /// epmd's port.
    pub port: u16,
    /// Declared before `dir`: epmd stops before its log vanishes.
    procs: ProcessSet,
    dir: tempfile::TempDir,
}

impl SharedEpmd {
    /// Starts a private epmd on a free loopback port (as the `ejabberd` user when we are
    /// root) and waits until it listens.
    pub(super) async fn start() -> Result<Self, TargetError> {
        use std::os::unix::fs::PermissionsExt;
        let epmd = process::find_program("epmd")?;
        let run_as = process::is_root()
            .then(|| SystemUser::lookup("ejabberd"))
            .transpose()?;
        let dir = tempfile::Builder::new()
            .prefix("impress-cluster-")
            .tempdir()
            .map_err(|e| io_err("creating the cluster temp dir", e))?;
        // epmd runs as `ejabberd` with this dir as its working directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_err("making the cluster temp dir traversable", e))?;
        let port = process::free_ports(1)?[0];
        let mut procs = ProcessSet::default();
        let log = dir.path().join("epmd.log");
        super::ejabberd::start_epmd(&mut procs, &epmd, port, &log, run_as.as_ref()).await?;
        Ok(Self { port, procs, dir })
    }

    /// epmd's PID(s).
    pub(super) fn pids(&self) -> Vec<u32> {
        self.procs.pids()
    }

    /// Stops epmd and removes the dir (blocking).
    pub(super) fn shutdown(mut self) -> Result<(), TargetError> {
        self.procs
            .shutdown()
            .map_err(|left| TargetError::Stop(format!("left running: {}", left.join(", "))))?;
        let path = self.dir.path().to_owned();
        self.dir
            .close()
            .map_err(|e| TargetError::Stop(format!("removing {}: {e}", path.display())))
    }

    /// The shared dir (epmd's log).
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The ejabberd state of a managed server, or a spec error for any other server.
fn backend(server: &ManagedServer) -> Result<&Ejabberd, TargetError> {
    match &server.backend {
        Backend::Ejabberd(e) => Ok(e),
        _ => Err(TargetError::Spec(format!(
            "only ejabberd nodes form clusters, not {}",
            server.kind
        ))),
    }
}

/// Makes `server` join the cluster of node `peer` and waits until it serves c2s again
/// (joining restarts ejabberd on the joining node).
pub(super) async fn join(server: &ManagedServer, peer: &str) -> Result<(), TargetError> {
    let ej = backend(server)?;
    let log = server.dir().join("log/ejabberd.log");
    let from = std::fs::metadata(&log).map_or(0, |m| m.len());
    ej.eval(server, JOIN_EVAL, &[ej.node(), peer], None, JOIN_TIMEOUT)
        .await
        .map_err(|e| TargetError::NotReady {
            what: format!("ejabberd node {} could not join {peer}", ej.node()),
            log_tail: e,
        })?;
    wait_serving(server, &log, from, "after joining the cluster").await
}

/// Waits until `server`'s beam owns its c2s socket and has logged, after byte `from` of
/// `log`, that ejabberd is started.
async fn wait_serving(
    server: &ManagedServer,
    log: &Path,
    from: u64,
    when: &str,
) -> Result<(), TargetError> {
    let std::net::SocketAddr::V4(addr) = server.addr else {
        return Err(TargetError::Spec(
            "a managed ejabberd listens on IPv4".into(),
        ));
    };
    let pid = server.pid;
    let ready = process::wait_for(JOIN_TIMEOUT, || {
        Ok((process::owns_listen_socket(pid, addr)
            && log_contains(log, from, super::ejabberd::STARTED_LINE))
        .then_some(()))
    })
    .await?;
    ready.ok_or_else(|| TargetError::NotReady {
        what: format!("ejabberd (pid {pid}) did not serve c2s on {addr} again {when}"),
        log_tail: server.log_tail(40),
    })
}

/// Waits until every node of `peers` is among `server`'s running mnesia nodes (after a
/// restart: the node has rejoined and synced its tables).
pub(super) async fn rejoined(server: &ManagedServer, peers: &[String]) -> Result<(), TargetError> {
    let ej = backend(server)?;
    let mut extra = vec![ej.node()];
    extra.extend(peers.iter().map(String::as_str));
    let deadline = std::time::Instant::now() + REJOIN_TIMEOUT;
    loop {
        match ej
            .eval(server, MEMBERS_EVAL, &extra, None, PROBE_TIMEOUT)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(TargetError::NotReady {
                    what: format!(
                        "ejabberd node {} did not rejoin {peers:?} within {REJOIN_TIMEOUT:?}",
                        ej.node()
                    ),
                    log_tail: e,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// The Erlang node name of a cluster member.
pub(super) fn node_name(server: &ManagedServer) -> Option<String> {
    backend(server).ok().map(|e| e.node().to_owned())
}
