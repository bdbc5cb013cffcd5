//! Managed ejabberd 23.01: config from `fixtures/targets/ejabberd/`, a private `epmd` on a
//! free port (the global one on 4369 outlives everything and mixes up instances), started as
//! `ejabberdctl --config-dir <dir> … foreground` (as root it re-execs via `su ejabberd`, so
//! the child we spawn is a wrapper; the server is the `beam.smp` whose PID ejabberd writes to
//! `<dir>/ejabberd.pid`). Accounts are created by one Erlang control node that registers the
//! first user and clones its SCRAM record with `mnesia:dirty_write` (targets.md §4.2: 1000
//! accounts in ~1 s including the control node's boot, versus ~8 min through
//! `ejabberdctl register`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::node::{ClusterMember, NodeOpts};
use super::process::{self, ProcessSet, SystemUser, io_err};
use super::{
    Backend, ManagedServer, ManagedSpec, ServerKind, TargetError, Workspace, loopback, render,
    write_file,
};

const YML: &str = include_str!("../../fixtures/targets/ejabberd/ejabberd.yml");
const CTL_CFG: &str = include_str!("../../fixtures/targets/ejabberd/ejabberdctl.cfg");
const INETRC: &str = include_str!("../../fixtures/targets/ejabberd/inetrc");
/// ejabberd listens after 2–5 s (first start creates the mnesia schema).
const READY_TIMEOUT: Duration = Duration::from_secs(40);
/// Logged by `ejabberd_app` when the node is fully started.
pub(super) const STARTED_LINE: &str = "is started in the node";
/// epmd listens within milliseconds.
const EPMD_TIMEOUT: Duration = Duration::from_secs(10);
/// beam.smp stops in ~1.1 s after SIGTERM.
const BEAM_GRACE: Duration = Duration::from_secs(15);
/// The wrapper (`ejabberdctl` → `su`) exits on its own once beam is gone.
const WRAPPER_GRACE: Duration = Duration::from_secs(5);
const EPMD_GRACE: Duration = Duration::from_secs(3);
/// Bounds the provisioning control node (boot ~0.3 s + ~0.1 ms per account).
const PROVISION_TIMEOUT: Duration = Duration::from_secs(120);

/// Makes node names unique within this process (the PID makes them unique across).
static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// Control-node programs ([`Ejabberd::eval`]) print this line last when they succeed.
pub(super) const EVAL_OK: &str = "impress-eval-ok";

/// Run by the provisioning control node with `-extra NODE HOST PREFIX COUNT` and the password
/// in the environment (arguments, not string splicing, so no quoting issues; the password
/// stays out of `ps`). It always halts: an uncaught error in `-eval` would leave the VM
/// running.
const PROVISION_EVAL: &str = r#"
try
  [NodeS, HostS, PreS, CountS] = init:get_plain_arguments(),
  PassS = os:getenv("IMPRESS_PROVISION_PASSWORD"),
  N = list_to_atom(NodeS),
  B = fun(S) -> unicode:characters_to_binary(S) end,
  H = B(HostS), Pre = B(PreS), P = B(PassS), C = list_to_integer(CountS),
  U1 = <<Pre/binary, "1">>,
  ok = rpc:call(N, mnesia, wait_for_tables, [[passwd], 30000]),
  ok = case rpc:call(N, ejabberd_auth, try_register, [U1, H, P]) of
         {error, exists} -> rpc:call(N, ejabberd_auth, set_password, [U1, H, P]);
         R -> R
       end,
  [Rec] = rpc:call(N, mnesia, dirty_read, [passwd, {U1, H}]),
  Mk = fun(I) -> setelement(2, Rec, {<<Pre/binary, (integer_to_binary(I))/binary>>, H}) end,
  [ok = rpc:call(N, lists, foreach, [fun mnesia:dirty_write/1, [Mk(I) || I <- lists:seq(F, min(F + 9999, C))]])
   || F <- lists:seq(2, C, 10000)],
  rpc:call(N, ets_cache, clear, [ejabberd_auth_mnesia_cache]),
  %% mnesia's log file is written with a delayed-write buffer: without a sync a SIGKILL
  %% right after provisioning (a failover test) can lose the accounts on a restart.
  ok = rpc:call(N, mnesia, sync_log, []),
  io:format("impress-eval-ok~n"),
  halt(0)
catch Class:Reason:Stack ->
  io:format("impress-provision-error ~p:~p~n~p~n", [Class, Reason, Stack]),
  halt(1)
end.
"#;

/// ejabberd-specific state of a running instance.
#[derive(Debug)]
pub(super) struct Ejabberd {
    /// The server's Erlang node name.
    node: String,
    /// Random per instance.
    cookie: String,
    /// The private epmd's port.
    epmd_port: u16,
    /// The user control nodes run as, when we are root.
    run_as: Option<SystemUser>,
    erl: PathBuf,
    /// `ejabberdctl`, to start the node again after a kill.
    ctl: PathBuf,
}

/// Per-instance values rendered into the templates.
struct Instance {
    dir: PathBuf,
    c2s_port: u16,
    epmd_port: u16,
    node: String,
    cookie: String,
}

/// Starts ejabberd for `spec` and waits until its beam.smp owns the c2s LISTEN socket. A
/// cluster member uses the cluster's epmd and cookie instead of its own, and joins its
/// cluster before this returns.
pub(super) async fn start(
    spec: &ManagedSpec,
    opts: &NodeOpts,
) -> Result<ManagedServer, TargetError> {
    // Rejects unknown module names before anything touches the disk.
    render_yml(spec, Path::new("/"), 1)?;
    let ctl = process::find_program("ejabberdctl")?;
    let epmd = process::find_program("epmd")?;
    let erl = process::find_program("erl")?;
    check_user()?;
    let ws = Workspace::create_with(spec, "ejabberd", opts.pki.as_deref())?;
    let inst = prepare(spec, &ws, opts.cluster.as_ref())?;
    let mut procs = ProcessSet::default();
    if opts.cluster.is_none() {
        let log = inst.dir.join("epmd.log");
        start_epmd(&mut procs, &epmd, inst.epmd_port, &log, ws.run_as.as_ref()).await?;
    }
    let log_files = ["console.log", "log/crash.log", "epmd.log"].map(|f| inst.dir.join(f));
    let wrapper_pid = spawn_server(&mut procs, &ctl, &inst)?;
    let pid = wait_ready(&mut procs, wrapper_pid, &inst, &log_files, 0).await?;
    let server = ManagedServer {
        kind: ServerKind::Ejabberd,
        domain: spec.domain.clone(),
        addr: loopback(inst.c2s_port).into(),
        ca_file: ws.ca_file,
        pid,
        log_files: log_files.to_vec(),
        backend: Backend::Ejabberd(Ejabberd {
            node: inst.node,
            cookie: inst.cookie,
            epmd_port: inst.epmd_port,
            run_as: ws.run_as,
            erl,
            ctl,
        }),
        procs,
        dir: ws.dir,
    };
    if let Some(peer) = opts.cluster.as_ref().and_then(|m| m.join.as_deref()) {
        super::cluster::join(&server, peer).await?;
    }
    Ok(server)
}

/// Fills the workspace: dirs, certificate, config files, ownership. A cluster member takes
/// its node name, cookie and epmd from `member`.
fn prepare(
    spec: &ManagedSpec,
    ws: &Workspace,
    member: Option<&ClusterMember>,
) -> Result<Instance, TargetError> {
    let dir = ws.dir.path().to_owned();
    for sub in ["db", "log", "certs"] {
        fs::create_dir_all(dir.join(sub))
            .map_err(|e| io_err(format!("creating {}/{sub}", dir.display()), e))?;
    }
    ws.pki.write_ejabberd(&dir.join("certs"), &spec.domain)?;
    let ports = process::free_ports(2)?;
    let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
    let (a, b) = (rand::random::<u64>(), rand::random::<u64>());
    let mut inst = Instance {
        dir,
        c2s_port: ports[0],
        epmd_port: ports[1],
        node: format!("impress{}x{n}@localhost", std::process::id()),
        cookie: format!("{a:016x}{b:016x}"),
    };
    if let Some(m) = member {
        inst.epmd_port = m.epmd_port;
        inst.node = m.node.clone();
        inst.cookie = m.cookie.clone();
    }
    write_config(spec, &inst)?;
    if let Some(user) = &ws.run_as {
        user.chown_tree(&inst.dir)?;
    }
    Ok(inst)
}

/// Spawns `ejabberdctl … foreground` (the wrapper) and returns its PID.
fn spawn_server(procs: &mut ProcessSet, ctl: &Path, inst: &Instance) -> Result<u32, TargetError> {
    let dir = &inst.dir;
    let mut cmd = Command::new(ctl);
    cmd.arg("--config-dir").arg(dir);
    cmd.arg("--logs").arg(dir.join("log"));
    cmd.arg("--spool").arg(dir.join("db"));
    cmd.arg("foreground");
    cmd.env("ERL_EPMD_PORT", inst.epmd_port.to_string());
    // The caller's Erlang flags must not leak into the server.
    for var in ["ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS"] {
        cmd.env_remove(var);
    }
    let wrapper = process::spawn(cmd, "ejabberdctl", &dir.join("console.log"), dir)?;
    let pid = wrapper.id();
    procs.push_child("ejabberdctl wrapper", wrapper, WRAPPER_GRACE);
    Ok(pid)
}

/// Waits until the beam.smp named in the pid file owns the c2s LISTEN socket and ejabberd
/// has logged (past byte `log_from` of its log: a restart's old log says it too) that it
/// is started; returns beam's PID.
async fn wait_ready(
    procs: &mut ProcessSet,
    wrapper_pid: u32,
    inst: &Instance,
    log_files: &[PathBuf],
    log_from: u64,
) -> Result<u32, TargetError> {
    let addr = loopback(inst.c2s_port);
    let pid_file = inst.dir.join("ejabberd.pid");
    let main_log = inst.dir.join("log/ejabberd.log");
    // Listening alone is too early: ejabberd opens c2s before the auth tables exist (a login
    // or provisioning then fails with `no_exists passwd`). It logs STARTED_LINE once every
    // module is up.
    let started = || log_contains(&main_log, log_from, STARTED_LINE);
    let mut beam = None;
    let waited = process::wait_for(READY_TIMEOUT, || {
        if let Some(status) = procs.exit_status(wrapper_pid) {
            return Err(TargetError::NotReady {
                what: format!("ejabberd exited ({status}) before listening on {addr}"),
                log_tail: process::tail_files(log_files, 40),
            });
        }
        beam = beam.or_else(|| {
            fs::read_to_string(&pid_file)
                .ok()?
                .trim()
                .parse::<u32>()
                .ok()
        });
        Ok(beam.filter(|&pid| process::owns_listen_socket(pid, addr) && started()))
    })
    .await;
    // Track beam before judging the wait, so a failed start still gets it killed.
    if let Some(pid) = beam {
        procs.push_pid("beam.smp", pid, BEAM_GRACE);
    }
    waited?.ok_or_else(|| {
        let seen = beam.map_or("no pid file yet".to_owned(), |p| {
            format!("beam.smp pid {p}")
        });
        TargetError::NotReady {
            what: format!(
                "ejabberd ({seen}) did not listen on {addr} and log \"{STARTED_LINE}\" within \
                 {READY_TIMEOUT:?}"
            ),
            log_tail: process::tail_files(log_files, 40),
        }
    })
}

/// Whether the file at `path`, from byte `from` on, contains `needle`.
pub(super) fn log_contains(path: &Path, from: u64, needle: &str) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(from)).is_ok()
        && f.read_to_end(&mut buf).is_ok()
        && String::from_utf8_lossy(&buf).contains(needle)
}

/// `ejabberdctl` refuses to run as anyone but root or `ejabberd`; say so up front.
fn check_user() -> Result<(), TargetError> {
    if process::is_root() {
        return process::find_program("setpriv").map(drop);
    }
    let me = process::euid();
    match SystemUser::lookup("ejabberd") {
        Ok(user) if Some(user.uid) == me => Ok(()),
        Ok(_) => Err(TargetError::Environment(
            "a managed ejabberd must be started as root (it then runs as user `ejabberd`) or as \
             user `ejabberd`: /usr/sbin/ejabberdctl refuses everyone else"
                .into(),
        )),
        Err(e) => Err(e),
    }
}

/// Writes `ejabberd.yml`, `ejabberdctl.cfg` and `inetrc` into the instance dir.
fn write_config(spec: &ManagedSpec, inst: &Instance) -> Result<(), TargetError> {
    let dir = inst.dir.to_string_lossy();
    let vars = [
        ("DIR", dir.as_ref()),
        ("NODE", inst.node.as_str()),
        ("COOKIE", inst.cookie.as_str()),
        ("EPMD_PORT", &inst.epmd_port.to_string()),
    ];
    write_file(
        &inst.dir.join("ejabberd.yml"),
        &render_yml(spec, &inst.dir, inst.c2s_port)?,
    )?;
    write_file(&inst.dir.join("ejabberdctl.cfg"), &render(CTL_CFG, &vars))?;
    write_file(&inst.dir.join("inetrc"), INETRC)
}

/// Starts a private epmd on `port` (an instance's own, or a cluster's shared one) and waits
/// until it listens.
pub(super) async fn start_epmd(
    procs: &mut ProcessSet,
    epmd: &Path,
    port: u16,
    log: &Path,
    run_as: Option<&SystemUser>,
) -> Result<(), TargetError> {
    let mut cmd = match run_as {
        Some(user) => user.command(&epmd.to_string_lossy()),
        None => Command::new(epmd),
    };
    cmd.args(["-port", &port.to_string(), "-address", "127.0.0.1"]);
    let cwd = log.parent().unwrap_or(Path::new("/"));
    let child = process::spawn(cmd, "epmd", log, cwd)?;
    let pid = child.id();
    procs.push_child("epmd", child, EPMD_GRACE);
    let addr = loopback(port);
    let logs = [log.to_owned()];
    process::wait_listening(procs, "epmd", pid, addr, EPMD_TIMEOUT, &logs).await
}

/// The ejabberd.yml for `spec`: template filled in, modules removed, settings applied.
fn render_yml(spec: &ManagedSpec, dir: &Path, c2s_port: u16) -> Result<String, TargetError> {
    let port = c2s_port.to_string();
    let dir = dir.to_string_lossy();
    let vars = [
        ("DIR", dir.as_ref()),
        ("DOMAIN", spec.domain.as_str()),
        ("C2S_PORT", &port),
    ];
    let mut yml = render(YML, &vars);
    for module in &spec.disable_modules {
        yml = remove_module(&yml, module).ok_or_else(|| {
            TargetError::Spec(format!(
                "ejabberd module `{module}` is not in the managed config (names look like `mod_ping`)"
            ))
        })?;
    }
    for (key, value) in &spec.settings {
        yml = match (key.strip_prefix("c2s."), key.split_once('.')) {
            (Some(option), _) => set_c2s_option(&yml, option, value),
            (None, Some((module, option))) => set_module_option(&yml, module, option, value)
                .ok_or_else(|| {
                    TargetError::Spec(format!(
                        "setting `{key}`: ejabberd module `{module}` is not in the managed config"
                    ))
                })?,
            (None, None) => set_top_level(&yml, key, value),
        };
    }
    Ok(yml)
}

/// Sets `option: value` in the block of `module` under `modules:`, replacing the
/// template's line if present (e.g. `mod_stream_mgmt.resume_timeout`); `None` if the
/// module is not there.
fn set_module_option(yml: &str, module: &str, option: &str, value: &str) -> Option<String> {
    let mut lines: Vec<String> = yml.lines().map(str::to_owned).collect();
    let section = lines.iter().position(|l| l.starts_with("modules:"))?;
    let head = format!("  {module}:");
    let start = section
        + 1
        + lines[section + 1..]
            .iter()
            .take_while(|l| l.is_empty() || indent(l) > 0)
            .position(|l| {
                indent(l) == 2 && (l.trim_end() == head || l.starts_with(&format!("{head} ")))
            })?;
    // `mod_x: {}` has no block yet: open one.
    lines[start] = head;
    let end = start
        + 1
        + lines[start + 1..]
            .iter()
            .take_while(|l| !l.is_empty() && indent(l) > 2)
            .count();
    let new = format!("    {option}: {value}");
    let prefix = format!("{option}:");
    match (start + 1..end)
        .find(|&i| indent(&lines[i]) == 4 && lines[i].trim_start().starts_with(&prefix))
    {
        Some(i) => lines[i] = new,
        None => lines.insert(start + 1, new),
    }
    Some(lines.join("\n") + "\n")
}

/// Indentation of a line (spaces only; the templates use no tabs).
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Removes `  <module>:` and its deeper-indented options from the `modules:` section;
/// `None` if the module is not there.
fn remove_module(yml: &str, module: &str) -> Option<String> {
    let lines: Vec<&str> = yml.lines().collect();
    let section = lines.iter().position(|l| l.starts_with("modules:"))?;
    let head = format!("  {module}:");
    let start = section
        + 1
        + lines[section + 1..]
            .iter()
            .take_while(|l| l.is_empty() || indent(l) > 0)
            .position(|l| l.starts_with(&head) && indent(l) == 2)?;
    let len = 1 + lines[start + 1..]
        .iter()
        .take_while(|l| !l.is_empty() && indent(l) > 2)
        .count();
    let mut out: Vec<&str> = lines[..start].to_vec();
    out.extend_from_slice(&lines[start + len..]);
    Some(out.join("\n") + "\n")
}

/// Sets top-level `key: value`, replacing the template's block of that key (ejabberd
/// rejects duplicate options) or appending it.
fn set_top_level(yml: &str, key: &str, value: &str) -> String {
    let lines: Vec<&str> = yml.lines().collect();
    let head = format!("{key}:");
    let new = format!("{key}: {value}");
    match lines.iter().position(|l| l.starts_with(&head)) {
        Some(start) => {
            let len = 1 + lines[start + 1..]
                .iter()
                .take_while(|l| l.is_empty() || indent(l) > 0)
                .count();
            let mut out: Vec<&str> = lines[..start].to_vec();
            out.push(&new);
            out.extend_from_slice(&lines[start + len..]);
            out.join("\n") + "\n"
        }
        None => format!("{yml}{new}\n"),
    }
}

/// Sets `option: value` in the c2s listener, replacing the template's line if present.
fn set_c2s_option(yml: &str, option: &str, value: &str) -> String {
    let mut lines: Vec<String> = yml.lines().map(str::to_owned).collect();
    let new = format!("    {option}: {value}");
    let Some(module) = lines
        .iter()
        .position(|l| l.trim() == "module: ejabberd_c2s")
    else {
        return yml.to_owned();
    };
    // The listener's options are the 4-space lines around `module:` up to the next `  -`.
    let first = lines[..module]
        .iter()
        .rposition(|l| l.trim() == "-")
        .map_or(module, |i| i + 1);
    let last = module
        + lines[module..]
            .iter()
            .take_while(|l| indent(l) >= 4)
            .count();
    let head = format!("{option}:");
    match (first..last).find(|&i| lines[i].trim_start().starts_with(&head)) {
        Some(i) => lines[i] = new,
        None => lines.insert(module + 1, new),
    }
    lines.join("\n") + "\n"
}

impl Ejabberd {
    /// Registers `<prefix>1` through ejabberd (so the record has the server's own SCRAM
    /// format) and clones its `passwd` record for the rest: SCRAM keys do not depend on the
    /// user name, so every clone logs in with the same password (SCRAM-SHA-1 and PLAIN).
    pub(super) async fn provision(
        &self,
        server: &ManagedServer,
        prefix: &str,
        count: usize,
        password: &str,
    ) -> Result<(), TargetError> {
        let count = count.to_string();
        let extra = [self.node.as_str(), server.domain(), prefix, &count];
        self.eval(
            server,
            PROVISION_EVAL,
            &extra,
            Some(password),
            PROVISION_TIMEOUT,
        )
        .await
        .map(drop)
        .map_err(TargetError::Provision)
    }

    /// Runs `eval` (an Erlang expression that prints [`EVAL_OK`] and halts) on a hidden
    /// control node connected to this instance, with `extra` as plain arguments and
    /// `password` in `IMPRESS_PROVISION_PASSWORD`. Returns its output, or why it failed
    /// (with the server's log tail).
    pub(super) async fn eval(
        &self,
        server: &ManagedServer,
        eval: &str,
        extra: &[&str],
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<String, String> {
        let mut cmd = tokio::process::Command::from(self.control_node(server, eval, extra));
        if let Some(p) = password {
            cmd.env("IMPRESS_PROVISION_PASSWORD", p);
        }
        cmd.kill_on_drop(true);
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .map_err(|_| format!("the erl control node did not finish within {timeout:?}"))?
            .map_err(|e| format!("could not run erl: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.contains(EVAL_OK) {
            return Ok(stdout.into_owned());
        }
        Err(format!(
            "the erl control node failed ({}): {}{}\n--- server log tail ---\n{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim(),
            server.log_tail(20)
        ))
    }

    /// The Erlang node name of this instance.
    pub(super) fn node(&self) -> &str {
        &self.node
    }

    /// Starts the instance of `server` again in its dir with its node name and ports (after
    /// a kill); returns beam's PID once it listens and has logged that it started. A cluster
    /// member finds its peers in its mnesia schema and rejoins on its own. New processes go
    /// to `procs`.
    pub(super) async fn respawn(
        &self,
        server: &ManagedServer,
        procs: &mut ProcessSet,
    ) -> Result<u32, TargetError> {
        let inst = Instance {
            dir: server.dir().to_owned(),
            c2s_port: server.addr.port(),
            epmd_port: self.epmd_port,
            node: self.node.clone(),
            cookie: self.cookie.clone(),
        };
        // The killed beam's pid file would otherwise be taken for the new one.
        let _ = fs::remove_file(inst.dir.join("ejabberd.pid"));
        let from = fs::metadata(inst.dir.join("log/ejabberd.log")).map_or(0, |m| m.len());
        let wrapper = spawn_server(procs, &self.ctl, &inst)?;
        wait_ready(procs, wrapper, &inst, &server.log_files, from).await
    }

    /// A hidden Erlang node that runs `eval` against the server over the instance's epmd,
    /// as the `ejabberd` user when we are root.
    fn control_node(&self, server: &ManagedServer, eval: &str, extra: &[&str]) -> Command {
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let ctl_node = format!("impressctl{}x{n}@localhost", std::process::id());
        let erl = self.erl.to_string_lossy();
        let mut cmd = match &self.run_as {
            Some(user) => user.command(&erl),
            None => Command::new(erl.as_ref()),
        };
        let dist = [
            "-start_epmd",
            "false",
            "-kernel",
            "inet_dist_use_interface",
            "{127,0,0,1}",
        ];
        cmd.args([
            "-sname",
            &ctl_node,
            "-setcookie",
            &self.cookie,
            "-hidden",
            "-noinput",
        ])
        .args(dist)
        .args(["-eval", eval])
        .arg("-extra")
        .args(extra);
        cmd.env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("HOME", server.dir())
            .env("ERL_CRASH_DUMP_BYTES", "0")
            .env("ERL_INETRC", server.dir().join("inetrc"))
            .env_remove("ERL_FLAGS")
            .env_remove("ERL_AFLAGS")
            .env_remove("ERL_ZFLAGS")
            .current_dir(server.dir())
            .stdin(Stdio::null());
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ManagedSpec {
        ManagedSpec::new(ServerKind::Ejabberd)
    }

    #[test]
    fn template_renders_without_placeholders() {
        let yml = render_yml(&spec(), Path::new("/tmp/x"), 15222).unwrap();
        assert!(yml.contains("    port: 15222\n"));
        assert!(yml.contains("  - \"example.test\"\n"));
        assert!(yml.contains("      - \"conference.example.test\"\n"));
        assert!(
            super::super::tests::leftover_placeholder(&yml).is_none(),
            "{yml}"
        );
        let cfg = render(
            CTL_CFG,
            &[
                ("DIR", "/d"),
                ("NODE", "n@localhost"),
                ("COOKIE", "c"),
                ("EPMD_PORT", "1"),
            ],
        );
        assert!(cfg.contains("export ERL_EPMD_PORT=1\n"));
        assert!(
            super::super::tests::leftover_placeholder(&cfg).is_none(),
            "{cfg}"
        );
    }

    #[test]
    fn disabling_removes_exactly_the_module_block() {
        let mut s = spec();
        s.disable_modules = vec!["mod_muc".into(), "mod_ping".into()];
        let yml = render_yml(&s, Path::new("/tmp/x"), 15222).unwrap();
        assert!(
            !yml.contains("mod_muc:") && !yml.contains("access_create: muc_create"),
            "{yml}"
        );
        assert!(!yml.contains("mod_ping"), "{yml}");
        assert!(
            yml.contains("  mod_muc_admin: {}\n  mod_offline:\n"),
            "{yml}"
        );
        s.disable_modules = vec!["ping".into()];
        assert!(matches!(
            render_yml(&s, Path::new("/"), 1),
            Err(TargetError::Spec(_))
        ));
    }

    #[test]
    fn settings_set_module_options() {
        let mut s = spec();
        s.settings = vec![
            ("mod_stream_mgmt.resume_timeout".into(), "1".into()),
            ("mod_stream_mgmt.max_ack_queue".into(), "10".into()),
            ("mod_ping.send_pings".into(), "true".into()),
        ];
        let yml = render_yml(&s, Path::new("/tmp/x"), 15222).unwrap();
        assert!(
            yml.contains("  mod_stream_mgmt:\n    max_ack_queue: 10\n    resend_on_timeout: if_offline\n    resume_timeout: 1\n"),
            "{yml}"
        );
        assert!(!yml.contains("resume_timeout: 60"));
        assert!(
            yml.contains("  mod_ping:\n    send_pings: true\n  mod_privacy"),
            "{yml}"
        );
        s.settings = vec![("mod_nope.x".into(), "1".into())];
        assert!(matches!(
            render_yml(&s, Path::new("/"), 1),
            Err(TargetError::Spec(_))
        ));
    }

    #[test]
    fn settings_replace_blocks_and_listener_options() {
        let mut s = spec();
        s.settings = vec![
            ("shaper_rules".into(), "{max_user_sessions: 1}".into()),
            ("max_fsm_queue".into(), "100".into()),
            ("c2s.max_stanza_size".into(), "10000".into()),
            ("c2s.starttls_required".into(), "true".into()),
            ("c2s.protocol_options".into(), "[\"no_sslv3\"]".into()),
        ];
        let yml = render_yml(&s, Path::new("/tmp/x"), 15222).unwrap();
        assert!(
            yml.contains("\nshaper_rules: {max_user_sessions: 1}\nmodules:\n"),
            "{yml}"
        );
        assert!(!yml.contains("c2s_shaper"));
        assert!(yml.ends_with("\nmax_fsm_queue: 100\n"));
        assert!(yml.contains("\n    max_stanza_size: 10000\n") && !yml.contains("262144"));
        assert!(yml.contains("\n    starttls_required: true\n"));
        assert!(
            yml.contains("    module: ejabberd_c2s\n    protocol_options: [\"no_sslv3\"]\n"),
            "{yml}"
        );
    }
}
