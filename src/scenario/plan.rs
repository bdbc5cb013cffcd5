//! Loading and validating suite and target files, and resolving them with the command
//! line into one [`RunPlan`]. Every error here is the user's: it names the file, line and
//! field, and maps to exit code 2.

use super::describe_toml_error;
use super::secret::Secret;
use super::suite::{STEP_KINDS, Step, Suite};
use super::target::{ManagedConf, TargetFile, TlsConf};
use crate::checks::{CATALOGUE, CheckDef};
use crate::error::Error;
use crate::target::{Layout, ManagedSpec, ServerKind};
use std::path::{Path, PathBuf};

/// Where the target runs.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A server impress starts and stops.
    Managed(ManagedSpec),
    /// An external deployment.
    External {
        /// Host name or address.
        host: String,
        /// c2s port (SIP: UDP and TCP).
        port: u16,
        /// SIP over TLS port, if any.
        sip_tls_port: Option<u16>,
    },
}

/// The resolved target.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    /// Label for reports: `managed:prosody` or the target file path.
    pub label: String,
    /// XMPP domain.
    pub domain: String,
    /// Where it runs.
    pub endpoint: Endpoint,
    /// Transport security.
    pub tls: TlsConf,
    /// Account pattern (`{n}`).
    pub pattern: String,
    /// Password pattern; `None` for managed targets (a random one is made per run).
    pub password: Option<Secret>,
    /// Expectation file.
    pub expect: Option<PathBuf>,
    /// Source addresses connections rotate over (empty: the kernel chooses).
    pub source_addresses: Vec<std::net::IpAddr>,
    /// Every `[[node]]` of an external target, hooks included (empty for managed ones).
    pub nodes: Vec<super::target::Node>,
    /// Where users log in first.
    pub placement: super::suite_failover::Placement,
    /// Managed targets: how many servers and how they relate (`[managed] layout`).
    pub layout: Layout,
    /// Managed targets: nodes of the layout (`[managed] nodes`).
    pub layout_nodes: usize,
}

/// Everything a run needs, resolved.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The suite.
    pub suite: Suite,
    /// Where it came from.
    pub suite_path: PathBuf,
    /// The target.
    pub target: TargetPlan,
    /// The checks to judge.
    pub checks: Vec<&'static CheckDef>,
}

fn config_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| config_err(path, format!("cannot read: {e}")))
}

/// Loads and validates a suite file.
pub fn load_suite(path: &Path) -> Result<Suite, Error> {
    let text = read(path)?;
    parse_suite(path, &text)
}

/// Parses and validates suite text (`path` is used in errors only).
pub fn parse_suite(path: &Path, text: &str) -> Result<Suite, Error> {
    let mut suite: Suite =
        toml::from_str(text).map_err(|e| config_err(path, describe_toml_error(text, &e)))?;
    let raw = std::mem::take(&mut suite.raw_steps);
    suite.steps = raw
        .iter()
        .map(|t| parse_step(text, t))
        .collect::<Result<_, _>>()
        .map_err(|m| config_err(path, m))?;
    validate_suite(&suite).map_err(|m| config_err(path, m))?;
    suite
        .report
        .validate(text)
        .map_err(|m| config_err(path, m))?;
    Ok(suite)
}

/// Parses one `[[step]]` table by its `do` kind. The table's own text is parsed again on
/// its own, so serde's error span (and so the line) points at the offending key.
fn parse_step(text: &str, table: &toml::Spanned<toml::Table>) -> Result<Step, String> {
    let span = table.span();
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let at = line(span.start);
    let kind = match table.get_ref().get("do") {
        Some(toml::Value::String(k)) => k.clone(),
        Some(_) => {
            return Err(format!(
                "line {at}: field `do` must be a string naming the step kind"
            ));
        }
        None => {
            return Err(format!(
                "line {at}: missing field `do` (one of {STEP_KINDS:?})"
            ));
        }
    };
    let slice = &text[span.clone()];
    let one = |e: toml::de::Error| {
        let offset = e.span().map(|s| span.start + s.start);
        let shifted = offset.map(line).unwrap_or(at);
        let msg = e.message().trim_end();
        match offset
            .and_then(|o| super::key_at(text, o))
            .filter(|_| !msg.contains("field `"))
        {
            Some(key) => format!("line {shifted}: step `{kind}`: field `{key}`: {msg}"),
            None => format!("line {shifted}: step `{kind}`: {msg}"),
        }
    };
    #[derive(serde::Deserialize)]
    struct One<T> {
        step: Vec<T>,
    }
    fn first<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, toml::de::Error> {
        let mut one: One<T> = toml::from_str(s)?;
        Ok(one.step.remove(0))
    }
    let step = match kind.as_str() {
        "login" => Step::Login(first(slice).map_err(one)?),
        "subscribe" => Step::Subscribe(first(slice).map_err(one)?),
        "presence" => Step::Presence(first(slice).map_err(one)?),
        "message" => Step::Message(first(slice).map_err(one)?),
        "ping" => Step::Ping(first(slice).map_err(one)?),
        "disco" => Step::Disco(first(slice).map_err(one)?),
        "wait" => Step::Wait(first(slice).map_err(one)?),
        "barrier" => Step::Barrier(first(slice).map_err(one)?),
        "logout" => Step::Logout(first(slice).map_err(one)?),
        "sm-enable" => Step::SmEnable(first(slice).map_err(one)?),
        "sm-ack" => Step::SmAck(first(slice).map_err(one)?),
        "sm-cut-resume" => Step::SmCutResume(first(slice).map_err(one)?),
        "sm-resume-unknown" => Step::SmResumeUnknown(first(slice).map_err(one)?),
        "sm-resume-conflict" => Step::SmResumeConflict(first(slice).map_err(one)?),
        "muc-create" => Step::MucCreate(first(slice).map_err(one)?),
        "muc-join" => Step::MucJoin(first(slice).map_err(one)?),
        "muc-message" => Step::MucMessage(first(slice).map_err(one)?),
        "muc-subject" => Step::MucSubject(first(slice).map_err(one)?),
        "muc-nick-conflict" => Step::MucNickConflict(first(slice).map_err(one)?),
        "muc-limit" => Step::MucLimit(first(slice).map_err(one)?),
        "muc-members-only" => Step::MucMembersOnly(first(slice).map_err(one)?),
        "muc-leave" => Step::MucLeave(first(slice).map_err(one)?),
        "muc-destroy" => Step::MucDestroy(first(slice).map_err(one)?),
        "load" => Step::Load(first(slice).map_err(one)?),
        "offline" => Step::Offline(first(slice).map_err(one)?),
        "roster-limit" => Step::RosterLimit(first(slice).map_err(one)?),
        "fork" => Step::Fork(first(slice).map_err(one)?),
        "lock-in" => Step::LockIn(first(slice).map_err(one)?),
        "carbons-enable" => Step::CarbonsEnable(first(slice).map_err(one)?),
        "carbons-disable" => Step::CarbonsDisable(first(slice).map_err(one)?),
        "carbons" => Step::Carbons(first(slice).map_err(one)?),
        "sip-register" => Step::SipRegister(first(slice).map_err(one)?),
        "sip-unregister" => Step::SipUnregister(first(slice).map_err(one)?),
        "sip-subscribe" => Step::SipSubscribe(first(slice).map_err(one)?),
        "sip-unsubscribe" => Step::SipUnsubscribe(first(slice).map_err(one)?),
        "sip-publish" => Step::SipPublish(first(slice).map_err(one)?),
        "sip-unpublish" => Step::SipUnpublish(first(slice).map_err(one)?),
        "sip-message" => Step::SipMessage(first(slice).map_err(one)?),
        "sip-probe" => Step::SipProbe(first(slice).map_err(one)?),
        "fault" => super::suite_failover::fault_step(first(slice).map_err(one)?, at)?,
        "chat-through" => super::suite_failover::chat_step(first(slice).map_err(one)?, at)?,
        "calibrate-login" => {
            super::suite_calibrate::calibrate_step(first(slice).map_err(one)?, at)?
        }
        other => {
            return Err(format!(
                "line {at}: field `do`: unknown step kind `{other}` (one of {STEP_KINDS:?})"
            ));
        }
    };
    Ok(step)
}

/// Most users one fleet may have.
pub const MAX_FLEET_USERS: usize = 1_000_000;

/// Bound on user numbers (`first + users`), so `{n}` never overflows.
pub const MAX_USER_NUMBER: usize = 1_000_000_000;

fn validate_suite(s: &Suite) -> Result<(), String> {
    if s.fleets.is_empty() {
        return Err("at least one [[fleet]] is required".into());
    }
    for (i, f) in s.fleets.iter().enumerate() {
        let at = format!("fleet[{i}] ({})", f.name);
        if f.users == 0 {
            return Err(format!("{at}: field `users` must be at least 1"));
        }
        // A typo must not make a run allocate (or a managed target provision) billions.
        if f.users > MAX_FLEET_USERS {
            return Err(format!(
                "{at}: field `users` must be at most {MAX_FLEET_USERS}"
            ));
        }
        if f.first > MAX_USER_NUMBER - f.users {
            return Err(format!(
                "{at}: field `first`: user numbers must stay below {MAX_USER_NUMBER}"
            ));
        }
        if f.resources.is_empty() {
            return Err(format!(
                "{at}: field `resources` must name at least one resource"
            ));
        }
        if f.transport.is_some() && f.protocol != super::suite::Protocol::Sip {
            return Err(format!("{at}: field `transport` is for SIP fleets only"));
        }
        let mut r = f.resources.clone();
        r.sort();
        r.dedup();
        if r.len() != f.resources.len() {
            return Err(format!("{at}: field `resources` has duplicates"));
        }
        if s.fleets[..i].iter().any(|g| g.name == f.name) {
            return Err(format!("{at}: field `name` is used by another fleet"));
        }
        super::suite_forking::validate_fleet(f, &at)?;
    }
    if s.limits.max_scheduler_lag.0.is_zero() {
        return Err("limits: field `max_scheduler_lag` must be longer than 0".into());
    }
    for (i, step) in s.steps.iter().enumerate() {
        validate_step(s, i, step)?;
        let at = format!("step[{i}] (do = \"{}\")", step.kind());
        super::suite_muc::validate(&s.steps, i, &at)?;
        super::suite_forking::validate(s, step, &at)?;
    }
    super::suite_failover::validate(s)?;
    for id in s.checks.iter().flatten() {
        if crate::checks::find(id).is_none() {
            return Err(format!(
                "field `checks`: unknown check `{id}` (see `impress checks list`)"
            ));
        }
    }
    Ok(())
}

fn validate_step(s: &Suite, i: usize, step: &Step) -> Result<(), String> {
    let at = format!("step[{i}] (do = \"{}\")", step.kind());
    if let Some(name) = step
        .fleet()
        .filter(|n| !s.fleets.iter().any(|f| f.name == *n))
    {
        return Err(format!("{at}: field `fleet`: no fleet named `{name}`"));
    }
    match step {
        Step::Login(l) if l.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) => Err(format!(
            "{at}: field `rate` must be a positive number of sessions per second"
        )),
        Step::Message(m) if m.count == 0 => Err(format!("{at}: field `count` must be at least 1")),
        Step::SmCutResume(c) if c.count == 0 => {
            Err(format!("{at}: field `count` must be at least 1"))
        }
        Step::SmCutResume(c) if c.after.0 < std::time::Duration::from_secs(1) => Err(format!(
            "{at}: field `after` must be at least 1s (partners send during the outage)"
        )),
        Step::Offline(o) => o.invalid().map_or(Ok(()), |m| Err(format!("{at}: {m}"))),
        Step::RosterLimit(r) => r.invalid().map_or(Ok(()), |m| Err(format!("{at}: {m}"))),
        Step::Load(l) => l.validate().map_err(|m| format!("{at}: {m}")),
        _ => validate_sip_step(s, step, &at),
    }
}

/// SIP steps need SIP fleets (and name only those); XMPP steps never name a SIP fleet.
fn validate_sip_step(s: &Suite, step: &Step, at: &str) -> Result<(), String> {
    use super::suite::Protocol;
    use super::suite_sip::invalid_expires;
    let named = step
        .fleet()
        .and_then(|n| s.fleets.iter().find(|f| f.name == n));
    let sip = step.is_sip();
    match named {
        Some(f) if sip && f.protocol != Protocol::Sip => {
            return Err(format!(
                "{at}: field `fleet`: `{}` is not a SIP fleet",
                f.name
            ));
        }
        Some(f) if !sip && f.protocol == Protocol::Sip && !matches!(step, Step::Wait(_)) => {
            return Err(format!(
                "{at}: field `fleet`: `{}` is a SIP fleet; use the sip-… steps",
                f.name
            ));
        }
        None if sip && !s.fleets.iter().any(|f| f.protocol == Protocol::Sip) => {
            return Err(format!(
                "{at}: the suite has no SIP fleet (`protocol = \"sip\"`)"
            ));
        }
        _ => {}
    }
    let bad = match step {
        Step::SipRegister(r) if r.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) => {
            Some("field `rate` must be a positive number of registrations per second".into())
        }
        Step::SipRegister(r) => invalid_expires(r.expires),
        Step::SipSubscribe(r) => invalid_expires(r.expires),
        Step::SipPublish(r) => invalid_expires(r.expires),
        Step::SipMessage(m) if m.count == 0 => Some("field `count` must be at least 1".into()),
        _ => None,
    };
    bad.map_or(Ok(()), |m| Err(format!("{at}: {m}")))
}

/// The checks a suite selects, in catalogue order: by default every check of the protocols
/// its fleets speak (`xmpp/…` for XMPP fleets, `sip/…` for SIP fleets).
pub fn selected_checks(s: &Suite) -> Vec<&'static CheckDef> {
    use super::suite::Protocol;
    let speaks = |p: Protocol| s.fleets.iter().any(|f| f.protocol == p);
    let (xmpp, sip) = (speaks(Protocol::Xmpp), speaks(Protocol::Sip));
    let spoken =
        |c: &CheckDef| (xmpp && c.id.starts_with("xmpp/")) || (sip && c.id.starts_with("sip/"));
    match &s.checks {
        None => CATALOGUE.iter().copied().filter(|c| spoken(c)).collect(),
        Some(ids) => CATALOGUE
            .iter()
            .copied()
            .filter(|c| ids.iter().any(|i| i == c.id))
            .collect(),
    }
}

/// Resolves `--target`: `managed:prosody` (the default), `managed:ejabberd`,
/// `managed:kamailio`, or a file.
pub fn load_target(arg: Option<&str>) -> Result<TargetPlan, Error> {
    let arg = arg.unwrap_or("managed:prosody");
    if let Some(server) = arg.strip_prefix("managed:") {
        let (kind, layout, domain) = managed_shortcut(server).ok_or_else(|| {
            Error::Usage(format!(
                "--target {arg}: unknown managed server `{server}` (prosody, ejabberd, \
                 kamailio, ejabberd-cluster, ejabberd-pair, prosody-pair, federation, \
                 federation-standby)"
            ))
        })?;
        let mut spec = ManagedSpec::new(kind);
        spec.domain = domain.unwrap_or(spec.domain);
        let mut plan = managed_plan(arg.to_string(), spec, TlsConf::default(), None);
        plan.layout = layout;
        plan.layout_nodes = layout.default_nodes();
        return Ok(plan);
    }
    let path = Path::new(arg);
    let text = read(path)?;
    let file: TargetFile =
        toml::from_str(&text).map_err(|e| config_err(path, describe_toml_error(&text, &e)))?;
    resolve_target_file(path, file)
}

/// The `managed:NAME` shortcuts: server, layout, and a domain other than the default.
fn managed_shortcut(name: &str) -> Option<(ServerKind, Layout, Option<String>)> {
    let multi = match name {
        "ejabberd-cluster" => (ServerKind::Ejabberd, Layout::Cluster, None),
        "ejabberd-pair" => (ServerKind::Ejabberd, Layout::Pair, None),
        "prosody-pair" => (ServerKind::Prosody, Layout::Pair, None),
        // Node 0 serves a.example.test, node 1 b.example.test.
        "federation" => (
            ServerKind::Prosody,
            Layout::Federation,
            Some("a.example.test".to_owned()),
        ),
        // Nodes 0 and 2 serve a.example.test (active, standby), node 1 b.example.test.
        "federation-standby" => (
            ServerKind::Prosody,
            Layout::FederationStandby,
            Some("a.example.test".to_owned()),
        ),
        single => return Some((single.parse().ok()?, Layout::Single, None)),
    };
    Some(multi)
}

/// The `[managed] layout` and `nodes` of a target file, checked against the server.
fn managed_layout(
    path: &Path,
    m: &ManagedConf,
    kind: ServerKind,
) -> Result<(Layout, usize), Error> {
    let layout: Layout = match &m.layout {
        Some(l) => l.parse().map_err(|e: crate::target::TargetError| {
            config_err(path, format!("managed.layout: {e}"))
        })?,
        None => Layout::Single,
    };
    let nodes = m.nodes.unwrap_or(layout.default_nodes());
    layout
        .check(kind, nodes)
        .map_err(|e| config_err(path, format!("managed.layout/nodes: {e}")))?;
    Ok((layout, nodes))
}

fn managed_plan(
    label: String,
    spec: ManagedSpec,
    tls: TlsConf,
    expect: Option<PathBuf>,
) -> TargetPlan {
    TargetPlan {
        label,
        domain: spec.domain.clone(),
        endpoint: Endpoint::Managed(spec),
        tls,
        pattern: "user{n}".to_string(),
        password: None,
        expect,
        source_addresses: Vec::new(),
        nodes: Vec::new(),
        placement: Default::default(),
        layout: Layout::Single,
        layout_nodes: 1,
    }
}

fn resolve_target_file(path: &Path, f: TargetFile) -> Result<TargetPlan, Error> {
    let label = f.name.clone().unwrap_or_else(|| path.display().to_string());
    let expect = f.expect.as_ref().map(|p| relative_to(path, p));
    let mut tls = f.tls.clone();
    tls.ca_file = tls.ca_file.map(|p| relative_to(path, &p));
    if let Some(m) = &f.managed {
        let spec = managed_spec(path, m, &f.domain)?;
        let (layout, layout_nodes) = managed_layout(path, m, spec.kind)?;
        let mut plan = managed_plan(label, spec, tls, expect);
        (plan.layout, plan.layout_nodes) = (layout, layout_nodes);
        plan.source_addresses = source_addresses(path, "managed", m.source_addresses.as_deref())?;
        plan.placement = f.placement.unwrap_or_default();
        return Ok(plan);
    }
    let node = f.nodes.first().ok_or_else(|| {
        config_err(
            path,
            "at least one [[node]] (host, port) is required unless [managed] is given",
        )
    })?;
    let password = password(path, &f)?;
    Ok(TargetPlan {
        label,
        domain: f.domain.clone(),
        endpoint: Endpoint::External {
            host: node.host.clone(),
            port: node.port,
            sip_tls_port: node.sip_tls_port,
        },
        tls,
        pattern: f.accounts.pattern.clone(),
        password: Some(password),
        expect,
        source_addresses: source_addresses(path, "node", node.source_addresses.as_deref())?,
        nodes: f.nodes.clone(),
        placement: f.placement.unwrap_or_default(),
        layout: Layout::Single,
        layout_nodes: 1,
    })
}

/// Parses a `source_addresses` field of table `table`.
fn source_addresses(
    path: &Path,
    table: &str,
    spec: Option<&str>,
) -> Result<Vec<std::net::IpAddr>, Error> {
    spec.map_or(Ok(Vec::new()), |s| {
        crate::transport::parse_source_addresses(s)
            .map_err(|e| config_err(path, format!("{table}.source_addresses: {e}")))
    })
}

fn managed_spec(path: &Path, m: &ManagedConf, domain: &str) -> Result<ManagedSpec, Error> {
    let kind: ServerKind = m.server.parse().map_err(|_| {
        config_err(
            path,
            format!(
                "managed.server: unknown server `{}` (prosody, ejabberd, kamailio)",
                m.server
            ),
        )
    })?;
    let mut spec = ManagedSpec::new(kind);
    spec.domain = domain.to_string();
    spec.disable_modules = m.disable_modules.clone();
    spec.settings = m
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(spec)
}

fn relative_to(file: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn password(path: &Path, f: &TargetFile) -> Result<Secret, Error> {
    let a = &f.accounts;
    let given = [
        a.password.is_some(),
        a.password_env.is_some(),
        a.password_file.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(config_err(
                path,
                "accounts: one of `password`, `password_env` or `password_file` is required",
            ));
        }
        1 => {}
        _ => {
            return Err(config_err(
                path,
                "accounts: give only one of `password`, `password_env`, `password_file`",
            ));
        }
    }
    if let Some(p) = &a.password {
        return Ok(Secret::new(p.clone()));
    }
    if let Some(var) = &a.password_env {
        return std::env::var(var).map(Secret::new).map_err(|_| {
            config_err(
                path,
                format!("accounts.password_env: environment variable `{var}` is not set"),
            )
        });
    }
    let file = relative_to(path, a.password_file.as_deref().unwrap_or(Path::new("")));
    let text = read_first_line(&file).map_err(|e| {
        config_err(
            path,
            format!(
                "accounts.password_file: cannot read {}: {e}",
                file.display()
            ),
        )
    })?;
    Ok(Secret::new(text))
}

/// The first line of a secret file, reading at most 4 KiB: a password file pointing at
/// `/dev/zero` or a huge file must not hang or exhaust memory.
fn read_first_line(file: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(file)?
        .take(4096)
        .read_to_end(&mut buf)?;
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let text = String::from_utf8(buf).map_err(|_| invalid("not UTF-8"))?;
    let line = text.lines().next().unwrap_or("");
    if line.len() >= 4096 {
        return Err(invalid("the first line is longer than 4 KiB"));
    }
    if line.chars().any(char::is_control) {
        return Err(invalid("the password contains control characters"));
    }
    Ok(line.to_string())
}
