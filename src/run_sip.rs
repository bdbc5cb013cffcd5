//! The SIP side of a run: which target serves the suite's SIP fleets, starting and
//! provisioning it beside the XMPP one, and the settings every SIP user agent connects
//! with. A suite with only SIP fleets takes its target from `--target` (default
//! `managed:kamailio`); a mixed suite takes the XMPP target from `--target` and the SIP
//! one from `--sip-target` (default `managed:kamailio`).

use crate::error::Error;
use crate::proto::sip::Timers;
use crate::scenario::suite::{Protocol, Suite};
use crate::scenario::{Endpoint, Secret, TargetPlan, load_target};
use crate::session::sip::SipSettings;
use crate::target::{ManagedServer, ServerKind};
use crate::transport::{TlsSettings, client_config};

/// The SIP target of a run.
#[derive(Debug, Clone)]
pub struct SipPlan {
    /// The target.
    pub target: TargetPlan,
    /// Whether it is the run's `--target` itself (a SIP-only suite).
    pub shared: bool,
}

fn protocols(suite: &Suite) -> (bool, bool) {
    let has = |p| suite.fleets.iter().any(|f| f.protocol == p);
    (has(Protocol::Xmpp), has(Protocol::Sip))
}

/// Which argument names the run's main target, given `--target` and `--sip-target`.
pub fn main_target_arg<'a>(
    suite: &Suite,
    target: Option<&'a str>,
    sip_target: Option<&'a str>,
) -> Result<Option<&'a str>, Error> {
    let (xmpp, sip) = protocols(suite);
    match (xmpp, sip) {
        (false, true) if target.is_some() && sip_target.is_some() => Err(Error::Usage(
            "the suite has only SIP fleets: give its target with --target, not both".into(),
        )),
        (false, true) => Ok(target.or(sip_target).or(Some("managed:kamailio"))),
        (_, false) if sip_target.is_some() => Err(Error::Usage(
            "--sip-target given, but the suite has no SIP fleet".into(),
        )),
        _ => Ok(target),
    }
}

fn is_managed_kamailio(t: &TargetPlan) -> bool {
    matches!(&t.endpoint, Endpoint::Managed(s) if s.kind == ServerKind::Kamailio)
}

/// The SIP target, if the suite has SIP fleets.
pub fn plan(
    suite: &Suite,
    main: &TargetPlan,
    sip_target: Option<&str>,
) -> Result<Option<SipPlan>, Error> {
    let (xmpp, sip) = protocols(suite);
    if !sip {
        if is_managed_kamailio(main) {
            return Err(Error::Usage(format!(
                "--target {} is a SIP server, but the suite has no SIP fleet",
                main.label
            )));
        }
        return Ok(None);
    }
    if !xmpp {
        return Ok(Some(SipPlan {
            target: main.clone(),
            shared: true,
        }));
    }
    if is_managed_kamailio(main) {
        return Err(Error::Usage(format!(
            "--target {} is a SIP server, but the suite has XMPP fleets: give the XMPP target with --target and the SIP one with --sip-target",
            main.label
        )));
    }
    let target = load_target(Some(sip_target.unwrap_or("managed:kamailio")))?;
    Ok(Some(SipPlan {
        target,
        shared: false,
    }))
}

/// Starts a separate managed SIP target and provisions the SIP fleets' accounts with
/// `password` (`Ok(None)` for an external or shared one).
pub async fn start(
    plan: &SipPlan,
    suite: &Suite,
    password: &Secret,
) -> Result<Option<ManagedServer>, String> {
    let Endpoint::Managed(spec) = &plan.target.endpoint else {
        return Ok(None);
    };
    if plan.shared {
        return Ok(None);
    }
    let server = ManagedServer::start(spec).await.map_err(|e| {
        format!(
            "target unavailable: managed {} did not start: {e}",
            spec.kind.name()
        )
    })?;
    for (prefix, count) in crate::run::accounts(suite, &plan.target.pattern, true)? {
        server
            .provision(&prefix, count, password.expose())
            .await
            .map_err(|e| format!("target unavailable: provisioning failed: {e}"))?;
    }
    Ok(Some(server))
}

/// How SIP user agents connect to `plan`'s target (`server` when managed).
pub async fn settings(
    suite: &Suite,
    plan: &SipPlan,
    server: Option<&ManagedServer>,
) -> Result<SipSettings, String> {
    let t = &plan.target;
    let (addr, tls_addr) = match (server.and_then(ManagedServer::sip), &t.endpoint) {
        (Some(ep), _) => (ep.udp, ep.tls),
        (
            None,
            Endpoint::External {
                host,
                port,
                sip_tls_port,
            },
        ) => {
            let tls = match sip_tls_port {
                Some(p) => Some(crate::run::resolve(host, *p).await?),
                None => None,
            };
            (crate::run::resolve(host, *port).await?, tls)
        }
        (None, Endpoint::Managed(_)) => return Err("managed SIP server missing".into()),
    };
    let ca = server
        .map(|s| s.ca_file().to_path_buf())
        .or_else(|| t.tls.ca_file.clone());
    let config = client_config(ca.as_deref(), t.tls.insecure).map_err(|e| e.to_string())?;
    let name = t.tls.server_name.as_deref().unwrap_or(&t.domain);
    let tls = TlsSettings::new(config, name).map_err(|e| e.to_string())?;
    Ok(SipSettings {
        addr,
        tls_addr,
        domain: t.domain.clone(),
        tls: Some(tls),
        timers: Timers::default(),
        connect_timeout: suite.timeouts.connect.0,
        response_timeout: suite.timeouts.response.0,
        max_message_bytes: suite.limits.max_stanza_bytes,
        transcript_frames: suite.limits.transcript_frames.max(2),
        inbox_cap: suite.limits.inbox_stanzas.max(1),
    })
}
