//! One run, end to end: load the suite and target, start a managed server if asked,
//! provision accounts, play the fleet, and always write the report — also when the
//! target is unreachable or the run is interrupted (Ctrl-C, SIGTERM). Once the fleet has
//! stopped, a further Ctrl-C or SIGTERM aborts at once (exit 130) without a report.

use crate::checks::expect::Expectations;
use crate::collector::Collector;
use crate::error::{EXIT_ABORTED, EXIT_CHECKS_FAILED, EXIT_INVALID, EXIT_OK, Error};
use crate::events::Events;
use crate::exporter::Exporter;
use crate::fault::control;
use crate::fleet::{self, Ctx, User};
use crate::proto::xmpp::FramerConfig;
use crate::proto::xmpp::sasl::SaltedPasswordCache;
use crate::report::model::{Machine, RunMeta};
use crate::report::{self, RunOutput, RunStatus};
use crate::run_sip::{self, SipPlan};
use crate::scenario::suite::{Protocol, Suite};
use crate::scenario::target::TlsMode;
use crate::scenario::{Endpoint, Secret, TargetPlan, load_suite, load_target, selected_checks};
use crate::session::Settings;
use crate::target::{Deployment, ManagedServer, ServerKind};
use crate::transport::{TlsSettings, client_config};
use crate::{clock, fleet::Tracker};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, UNIX_EPOCH};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// What `impress run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// Suite file.
    pub suite: PathBuf,
    /// `--target` (default `managed:prosody`).
    pub target: Option<String>,
    /// Report directory.
    pub out: PathBuf,
    /// Do not print the terminal summary.
    pub quiet: bool,
    /// Serve live Prometheus metrics on this address while the run goes on.
    pub metrics_listen: Option<SocketAddr>,
    /// `--sip-target` of a suite with XMPP and SIP fleets (default `managed:kamailio`).
    pub sip_target: Option<String>,
    /// `--shard I/N`: run only this slice of every fleet.
    pub shard: Option<crate::shard::Shard>,
    /// `--start-at`: begin the first step at this wall time.
    pub start_at: Option<std::time::SystemTime>,
}

/// Runs a suite; returns the exit code. Errors are usage errors (exit 2) or a report that
/// could not be written.
pub async fn run(args: &RunArgs) -> Result<(RunOutput, i32), Error> {
    let mut suite = load_suite(&args.suite)?;
    if let Some(s) = args.shard {
        s.prepare(&mut suite).map_err(|message| Error::Config {
            path: args.suite.clone(),
            message: format!("--shard {s}: {message}"),
        })?;
    }
    let main_arg =
        run_sip::main_target_arg(&suite, args.target.as_deref(), args.sip_target.as_deref())?;
    let target = load_target(main_arg)?;
    let sip = run_sip::plan(&suite, &target, args.sip_target.as_deref())?;
    crate::scenario::suite_failover::check_target(&suite, &target).map_err(|message| {
        Error::Config {
            path: args.suite.clone(),
            message,
        }
    })?;
    let mut users =
        fleet::build_users(&suite, &target.pattern, &target.domain).map_err(|message| {
            Error::Config {
                path: args.suite.clone(),
                message,
            }
        })?;
    // Fleets with a `deployment` live on that node (a federation: in its domain).
    let domains = fleet::intercluster::node_domains(&target);
    fleet::intercluster::place(&suite, &mut users, &domains).map_err(|message| Error::Config {
        path: args.suite.clone(),
        message,
    })?;
    if let Some(s) = args.shard {
        users = s.select(users).map_err(Error::Usage)?;
    }
    crate::preflight::check_run(&target, &users)?;
    let mut expect = expectations(&target)?;
    if let Some(p) = sip.as_ref().filter(|p| !p.shared) {
        expect = expect.merge(expectations(&p.target)?);
    }
    let checks = selected_checks(&suite);
    let mut meta = meta(args, &suite, &target, &users);
    let interval = suite.report.interval();
    crate::shard::stamp(&mut meta, args.shard, args.start_at, interval);
    if let Some(p) = sip.as_ref().filter(|p| !p.shared) {
        meta.target = format!("{} + {}", meta.target, p.target.label);
        if let Some(v) = managed_version(&p.target) {
            let xmpp = meta.target_version.take();
            meta.target_version = Some(xmpp.map_or(v.clone(), |x| format!("{x}, {v}")));
        }
    }
    // Bound before the run starts so a taken port is a usage error, not a lost run.
    let listener = match args.metrics_listen {
        Some(addr) => Some(Exporter::bind(addr).await.map_err(|e| {
            Error::Usage(format!("cannot listen on {addr} for --metrics-listen: {e}"))
        })?),
        None => None,
    };
    // Listening from here on replaces the default action (death), so a signal during
    // start-up still stops the managed target and writes the report.
    let signals = Signals::listen();
    let start = crate::shard::origin(clock::now(), clock::wall(), args.start_at);
    let (events, collector) = Collector::spawn(start, interval);
    let exporter = match listener {
        Some(l) => Some(exporter(l, &collector, args.quiet)?),
        None => None,
    };
    let progress = crate::progress::Progress::start(collector.live(), args.quiet);
    let begin = args.start_at.map(|_| start);
    let invalid = execute(&suite, &target, sip.as_ref(), users, events, signals, begin)
        .await
        .err();
    if let Some(p) = progress {
        p.finish();
    }
    if let Some(why) = &invalid {
        tracing::warn!("run invalid: {why}");
    }
    let out = collector
        .finish()
        .await
        .finish(meta, &checks, &expect, invalid);
    drop(exporter);
    report::write_all(&args.out, &out)?;
    if !args.quiet {
        // A closed stdout (e.g. `| head`) must not turn a finished run into a panic.
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{}", report::terminal_summary(&out.report));
        let _ = writeln!(stdout, "report: {}", args.out.display());
    }
    let code = match out.report.status {
        RunStatus::Passed => EXIT_OK,
        RunStatus::Failed => EXIT_CHECKS_FAILED,
        RunStatus::Invalid => EXIT_INVALID,
    };
    Ok((out, code))
}

fn exporter(
    listener: tokio::net::TcpListener,
    collector: &crate::collector::Running,
    quiet: bool,
) -> Result<Exporter, Error> {
    let ex = Exporter::serve(listener, collector.live())
        .map_err(|e| Error::Usage(format!("--metrics-listen: {e}")))?;
    if !quiet {
        // Port 0 picks a free port: say which.
        let _ = writeln!(
            std::io::stderr(),
            "impress: live metrics on http://{}/metrics",
            ex.addr()
        );
    }
    Ok(ex)
}

/// The load generator's machine, from `/proc` where available (empty fields otherwise).
fn machine() -> Machine {
    let proc = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let release = proc("osrelease");
    Machine {
        hostname: proc("hostname"),
        os: format!("{} {release}", std::env::consts::OS)
            .trim()
            .to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
    }
}

fn meta(args: &RunArgs, suite: &Suite, target: &TargetPlan, users: &[User]) -> RunMeta {
    let started_unix_ms = clock::wall()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    RunMeta {
        suite: suite.name.clone(),
        suite_path: args.suite.display().to_string(),
        target: target.label.clone(),
        domain: target.domain.clone(),
        tls_verified: target.tls.mode == TlsMode::Starttls && !target.tls.insecure,
        seed: suite.seed,
        started_unix_ms,
        duration_ms: 0,
        users: users.len(),
        sessions: users.iter().map(|u| u.resources.len()).sum(),
        machine: machine(),
        target_version: managed_version(target),
        ..RunMeta::default()
    }
}

/// The Debian package version of a managed target's server (`dpkg-query`), if known.
fn managed_version(target: &TargetPlan) -> Option<String> {
    let Endpoint::Managed(spec) = &target.endpoint else {
        return None;
    };
    let package = spec.kind.name();
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !version.is_empty()).then(|| format!("{package} {version}"))
}

fn expectations(target: &TargetPlan) -> Result<Expectations, Error> {
    if let Some(path) = &target.expect {
        return Expectations::parse(
            path,
            &std::fs::read_to_string(path).map_err(|e| Error::Config {
                path: path.clone(),
                message: format!("cannot read: {e}"),
            })?,
        );
    }
    let Endpoint::Managed(spec) = &target.endpoint else {
        return Ok(Expectations::none());
    };
    let (name, text) = match spec.kind {
        ServerKind::Prosody => (
            "fixtures/expect/prosody.toml",
            include_str!("../fixtures/expect/prosody.toml"),
        ),
        ServerKind::Ejabberd => (
            "fixtures/expect/ejabberd.toml",
            include_str!("../fixtures/expect/ejabberd.toml"),
        ),
        ServerKind::Kamailio => (
            "fixtures/expect/kamailio.toml",
            include_str!("../fixtures/expect/kamailio.toml"),
        ),
    };
    Expectations::parse(Path::new(name), text)
}

/// Starts the target, plays the fleet, stops the target. `Err` makes the run invalid.
/// From the moment the fleet stops, the next signal aborts the process.
async fn execute(
    suite: &Suite,
    target: &TargetPlan,
    sip: Option<&SipPlan>,
    users: Vec<User>,
    events: Events,
    mut signals: Signals,
    begin: Option<Instant>,
) -> Result<(), String> {
    let (servers, password) = tokio::select! {
        r = start_targets(target, sip, suite) => r?,
        s = signals.recv() => {
            signals.abort_on_next(Vec::new());
            return Err(format!("interrupted by {s} while starting the target"));
        }
    };
    let result = tokio::select! {
        r = async {
            // With --start-at, every shard begins its first step at the agreed instant.
            let late = match begin {
                Some(at) => crate::shard::wait_for_start(at, &events).await,
                None => None,
            };
            let r = play(suite, target, sip, users, events, &servers, password).await;
            r.and_then(|()| late.map_or(Ok(()), Err))
        } => r,
        s = signals.recv() => Err(format!(
            "interrupted by {s}: the report holds what was recorded until then"
        )),
    };
    signals.abort_on_next(servers.process_ids());
    if let Some(d) = servers.main
        && let Err(e) = d.stop().await
    {
        tracing::warn!("stopping the managed deployment: {e}");
    }
    if let Some(s) = servers.sip
        && let Err(e) = s.stop().await
    {
        tracing::warn!("stopping the managed server: {e}");
    }
    result
}

/// The managed servers of a run: the main target's deployment (one or more nodes) and a
/// separate SIP server.
#[derive(Default)]
struct Servers {
    main: Option<Deployment>,
    sip: Option<ManagedServer>,
}

impl Servers {
    /// Every process of both, for an abort that cannot wait for a graceful stop.
    fn process_ids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.main.iter().flat_map(Deployment::process_ids).collect();
        pids.extend(self.sip.iter().flat_map(ManagedServer::process_ids));
        pids
    }
}

/// Starts the main target and, for a mixed suite, the SIP one (both provisioned with one
/// password). A server that started is stopped again when the other fails.
async fn start_targets(
    target: &TargetPlan,
    sip: Option<&SipPlan>,
    suite: &Suite,
) -> Result<(Servers, Secret), String> {
    let (main, password) = start_target(target, suite).await?;
    let Some(plan) = sip else {
        return Ok((Servers { main, sip: None }, password));
    };
    match run_sip::start(plan, suite, &password).await {
        Ok(sip) => Ok((Servers { main, sip }, password)),
        Err(e) => {
            if let Some(s) = main {
                let _ = s.stop().await;
            }
            Err(e)
        }
    }
}

async fn start_target(
    target: &TargetPlan,
    suite: &Suite,
) -> Result<(Option<Deployment>, Secret), String> {
    let Endpoint::Managed(spec) = &target.endpoint else {
        let pw = target.password.clone().unwrap_or_else(|| Secret::new(""));
        return Ok((None, pw));
    };
    let server = Deployment::start(spec, target.layout, target.layout_nodes)
        .await
        .map_err(|e| {
            format!(
                "target unavailable: managed {} did not start: {e}",
                spec.kind.name()
            )
        })?;
    let password = Secret::random();
    let sip_server = spec.kind == ServerKind::Kamailio;
    for (prefix, count) in accounts(suite, &target.pattern, sip_server)? {
        server
            .provision(&prefix, count, password.expose())
            .await
            .map_err(|e| format!("target unavailable: provisioning failed: {e}"))?;
    }
    Ok((Some(server), password))
}

/// Most accounts provisioned per prefix on a managed target.
const MAX_MANAGED_ACCOUNTS: usize = 1_000_000;

/// Account prefixes and counts a managed server must hold (`<prefix>{n}` patterns only),
/// for the SIP fleets (`sip`) or the XMPP ones.
pub(crate) fn accounts(
    suite: &Suite,
    default: &str,
    sip: bool,
) -> Result<Vec<(String, usize)>, String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let wanted = |p: Protocol| (p == Protocol::Sip) == sip;
    for f in suite.fleets.iter().filter(|f| wanted(f.protocol)) {
        let pat = f.account.as_deref().unwrap_or(default);
        let prefix = pat
            .strip_suffix("{n}")
            .filter(|p| !p.contains('{'))
            .ok_or_else(|| {
                format!(
                    "managed targets need account patterns of the form <prefix>{{n}}, not `{pat}`"
                )
            })?;
        let count = f.first + f.users - 1;
        // Provisioning creates <prefix>1 up to the last user, whatever `first` is.
        if count > MAX_MANAGED_ACCOUNTS {
            return Err(format!(
                "fleet `{}`: a managed target would provision accounts {prefix}1 to {prefix}{count}; at most {MAX_MANAGED_ACCOUNTS} (lower `first`)",
                f.name
            ));
        }
        match out.iter_mut().find(|(p, _)| p == prefix) {
            Some((_, c)) => *c = (*c).max(count),
            None => out.push((prefix.to_string(), count)),
        }
    }
    Ok(out)
}

async fn play(
    suite: &Suite,
    target: &TargetPlan,
    sip: Option<&SipPlan>,
    mut users: Vec<User>,
    events: Events,
    servers: &Servers,
    password: Secret,
) -> Result<(), String> {
    // Node 0's server for TLS and SIP; failover steps reach every node (`fault::control`).
    let server = servers.main.as_ref().map(|d| d.server(0));
    let mut settings = settings(suite, target, server).await?;
    let (nodes, requests) = failover_nodes(suite, target, servers.main.as_ref()).await?;
    if !nodes.is_empty() {
        settings.nodes = nodes.client_addrs();
        settings.addr = settings.nodes[0];
    }
    settings.domains = fleet::intercluster::node_domains(target);
    for u in &mut users {
        let placed = target.placement.node_of(u.gid, settings.nodes.len());
        u.node = fleet::intercluster::pinned(suite, u).unwrap_or(placed);
    }
    let nodes = Arc::new(nodes);
    let sip = match sip {
        Some(p) => {
            let s = if p.shared {
                server
            } else {
                servers.sip.as_ref()
            };
            Some(run_sip::settings(suite, p, s).await?)
        }
        None => None,
    };
    let ctx = Arc::new(Ctx {
        settings,
        tracker: Arc::new(Tracker::new(events.clone())),
        events,
        timeouts: suite.timeouts,
        password,
        first_connect_error: Mutex::new(None),
        sip,
        nodes: nodes.clone(),
    });
    let run = fleet::run(suite, ctx, users);
    // Process faults on a managed deployment are applied by this task, which owns it.
    let result = match servers.main.as_ref() {
        Some(d) => tokio::select! {
            r = run => r,
            () = async {
                control::serve(requests, d).await;
                std::future::pending::<()>().await
            } => unreachable!("serving fault requests never ends first"),
        },
        None => run.await,
    };
    nodes.stop().await;
    result.map(|_| ()).map_err(|i| i.0)
}

/// The target's nodes for failover steps: their proxies when the suite has proxy faults,
/// and a channel to the deployment for process faults. Fault steps naming a node that
/// does not exist or cannot do their action make the run invalid before it starts.
async fn failover_nodes(
    suite: &Suite,
    target: &TargetPlan,
    deployment: Option<&Deployment>,
) -> Result<(control::Nodes, control::Requests), String> {
    use crate::scenario::suite_failover::{check_nodes, needs_proxies};
    let specs = control::node_specs(target, deployment).await?;
    let (remote, requests) = control::remote();
    let procs = deployment.map(|_| Arc::new(remote) as Arc<dyn control::NodeProcesses>);
    let nodes = control::Nodes::start(specs, needs_proxies(&suite.steps), procs).await?;
    check_nodes(&suite.steps, nodes.len(), |i, a| nodes.can(i, a))
        .map_err(|e| format!("{}: {e}", target.label))?;
    Ok((nodes, requests))
}

async fn settings(
    suite: &Suite,
    target: &TargetPlan,
    server: Option<&ManagedServer>,
) -> Result<Settings, String> {
    let addr = match (&target.endpoint, server) {
        (_, Some(s)) => s.addr(),
        (Endpoint::External { host, port, .. }, None) => resolve(host, *port).await?,
        (Endpoint::Managed(_), None) => return Err("managed server missing".into()),
    };
    let sources = crate::transport::SourceAddrs::new(target.source_addresses.clone());
    sources.check_family(addr)?;
    let tls = match target.tls.mode {
        TlsMode::Plaintext => None,
        TlsMode::Starttls => {
            let ca = server
                .map(|s| s.ca_file().to_path_buf())
                .or_else(|| target.tls.ca_file.clone());
            let config =
                client_config(ca.as_deref(), target.tls.insecure).map_err(|e| e.to_string())?;
            let name = target.tls.server_name.as_deref().unwrap_or(&target.domain);
            Some(TlsSettings::new(config, name).map_err(|e| e.to_string())?)
        }
    };
    Ok(Settings {
        addr,
        domain: target.domain.clone(),
        tls,
        allow_plain: target.tls.allow_plain,
        connect_timeout: suite.timeouts.connect.0,
        response_timeout: suite.timeouts.response.0,
        framer: FramerConfig {
            max_stanza_bytes: suite.limits.max_stanza_bytes,
            ..FramerConfig::default()
        },
        transcript_frames: suite.limits.transcript_frames.max(2),
        inbox_cap: suite.limits.inbox_stanzas.max(1),
        sasl_cache: Arc::new(SaltedPasswordCache::new()),
        sources,
        nodes: vec![addr],
        domains: Vec::new(),
    })
}

pub(crate) async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("target unreachable: cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("target unreachable: {host} has no address"))
}

/// SIGINT and SIGTERM, each `None` when it cannot be listened to (its default action,
/// death, then stays).
struct Signals {
    int: Option<Signal>,
    term: Option<Signal>,
}

impl Signals {
    fn listen() -> Self {
        Self {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves on the next SIGINT or SIGTERM, naming it.
    async fn recv(&mut self) -> &'static str {
        async fn next(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.int) => "SIGINT",
            () = next(&mut self.term) => "SIGTERM",
        }
    }

    /// The graceful end (stopping the target, writing the report) can take seconds; the
    /// next signal during it kills the managed target's processes (`pids`) and exits with
    /// [`EXIT_ABORTED`] at once, leaving its temp dir and no report.
    fn abort_on_next(mut self, pids: Vec<u32>) {
        tokio::spawn(async move {
            let s = self.recv().await;
            crate::target::kill_now(&pids);
            let _ = writeln!(
                std::io::stderr(),
                "impress: {s} again: aborted without a report"
            );
            std::process::exit(EXIT_ABORTED);
        });
    }
}
