//! Managed Prosody 0.12: config from `fixtures/targets/prosody/prosody.cfg.lua`, started as
//! `prosody --config <dir>/prosody.cfg.lua -F` (via `setpriv` as the `prosody` user when we
//! are root, which execs, so the spawned PID is Prosody's), accounts written directly as
//! `internal_hashed` account files (targets.md §3.2: 1000 accounts in 0.1–1 s, versus 38 s
//! through `prosodyctl`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

use super::node::{NodeOpts, S2sRoutes};
use super::process::{self, ProcessSet, SystemUser, io_err};
use super::{
    Backend, ManagedServer, ManagedSpec, ServerKind, TargetError, Workspace, loopback, render,
    write_file,
};

/// The config template, compiled in so the binary works from any directory.
const TEMPLATE: &str = include_str!("../../fixtures/targets/prosody/prosody.cfg.lua");
/// The s2s routing plugin of federated instances (written to `<dir>/plugins/`).
const S2S_PLUGIN: &str = include_str!("../../fixtures/targets/prosody/mod_s2s_static_routes.lua");
/// Prosody listens within ~0.2 s; this only bounds a hung start.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Prosody shuts down in ~1.3 s after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// PBKDF2 rounds of the generated accounts: the SCRAM-SHA-1 minimum clients accept
/// (prosodyctl uses 10000; fewer rounds make logins cheaper for the load generator).
const ITERATIONS: u32 = 4096;

/// Prosody-specific state of a running instance.
#[derive(Debug)]
pub(super) struct Prosody {
    /// Owner for files we write into the data dir, when we are root.
    run_as: Option<SystemUser>,
    /// Salt shared by all accounts of the instance, so the SCRAM keys are computed once
    /// per password (and a client can cache the salted password too).
    salt: String,
    /// `data_path` of the config.
    data_dir: PathBuf,
    /// The `prosody` binary, to start the instance again after a kill.
    program: PathBuf,
}

/// Starts Prosody for `spec` and waits until its PID owns the c2s LISTEN socket.
pub(super) async fn start(
    spec: &ManagedSpec,
    opts: &NodeOpts,
) -> Result<ManagedServer, TargetError> {
    if let Some(m) = spec.disable_modules.iter().find(|m| m.starts_with("mod_")) {
        return Err(TargetError::Spec(format!(
            "Prosody module names have no `mod_` prefix (got `{m}`; write `{}`)",
            &m[4..]
        )));
    }
    let program = process::find_program("prosody")?;
    if process::is_root() {
        process::find_program("setpriv")?;
    }
    let ws = Workspace::create_with(spec, "prosody", opts.pki.as_deref())?;
    let dir = ws.dir.path().to_owned();
    let port = prepare(spec, &ws, opts.s2s.as_ref())?;
    if let Some(shared) = &opts.shared_data {
        share_data(&dir.join("data"), shared)?;
    }
    let log_files = vec![dir.join("prosody.log"), dir.join("console.log")];
    let mut procs = ProcessSet::default();
    let addr = loopback(port);
    let pid = spawn(
        &program,
        ws.run_as.as_ref(),
        &dir,
        addr,
        &mut procs,
        &log_files,
    )
    .await?;
    Ok(ManagedServer {
        kind: ServerKind::Prosody,
        domain: spec.domain.clone(),
        addr: addr.into(),
        ca_file: ws.ca_file,
        pid,
        log_files,
        backend: Backend::Prosody(Prosody {
            run_as: ws.run_as,
            salt: format!("impress-{:016x}", rand::random::<u64>()),
            data_dir: dir.join("data"),
            program,
        }),
        procs,
        dir: ws.dir,
    })
}

/// Spawns Prosody in `dir` (its config already there) and waits until it owns the c2s
/// LISTEN socket `addr`; returns its PID. Also starts a killed instance again.
async fn spawn(
    program: &Path,
    run_as: Option<&SystemUser>,
    dir: &Path,
    addr: std::net::SocketAddrV4,
    procs: &mut ProcessSet,
    log_files: &[PathBuf],
) -> Result<u32, TargetError> {
    let mut cmd = match run_as {
        Some(user) => user.command(&program.to_string_lossy()),
        None => Command::new(program),
    };
    cmd.arg("--config")
        .arg(dir.join("prosody.cfg.lua"))
        .arg("-F");
    let child = process::spawn(cmd, "prosody", &dir.join("console.log"), dir)?;
    let pid = child.id();
    procs.push_child("prosody", child, STOP_GRACE);
    process::wait_listening(procs, "prosody", pid, addr, READY_TIMEOUT, log_files).await?;
    Ok(pid)
}

/// Fills the workspace (dirs, certificate, config, ownership); returns the c2s port.
fn prepare(
    spec: &ManagedSpec,
    ws: &Workspace,
    s2s: Option<&S2sRoutes>,
) -> Result<u16, TargetError> {
    let dir = ws.dir.path();
    for sub in [dir.join("certs"), dir.join("data"), dir.join("plugins")] {
        fs::create_dir_all(&sub).map_err(|e| io_err(format!("creating {}", sub.display()), e))?;
    }
    ws.pki.write_prosody(&dir.join("certs"), &spec.domain)?;
    write_file(&dir.join("plugins/mod_s2s_static_routes.lua"), S2S_PLUGIN)?;
    let port = process::free_ports(1)?[0];
    write_file(
        &dir.join("prosody.cfg.lua"),
        &render_config(spec, dir, port, s2s),
    )?;
    if let Some(user) = &ws.run_as {
        user.chown_tree(dir)?;
    }
    Ok(port)
}

/// The template filled in for `spec`, with `disable_modules` taken out of `modules_enabled`
/// and put into `modules_disabled` (which also stops autoloaded ones such as `offline`), and
/// for a federated node its s2s listener and routes.
fn render_config(spec: &ManagedSpec, dir: &Path, port: u16, s2s: Option<&S2sRoutes>) -> String {
    let disabled: String = spec
        .disable_modules
        .iter()
        .map(|m| format!("\"{m}\"; "))
        .collect();
    let mut settings: Vec<String> = s2s.map(|r| s2s_settings(dir, r)).unwrap_or_default();
    settings.extend(spec.settings.iter().map(|(k, v)| format!("{k} = {v}")));
    let (s2s_port, extra) = match s2s {
        Some(r) => (r.port.to_string(), "\"s2s_static_routes\";"),
        None => (String::new(), ""),
    };
    let text = render(
        TEMPLATE,
        &[
            ("DIR", &dir.to_string_lossy()),
            ("DOMAIN", &spec.domain),
            ("C2S_PORT", &port.to_string()),
            ("S2S_PORTS", &s2s_port),
            ("EXTRA_MODULES", extra),
            ("MODULES_DISABLED", disabled.trim_end()),
            ("SETTINGS", &settings.join("\n")),
        ],
    );
    remove_enabled(&text, &spec.disable_modules)
}

/// Replaces the fresh (empty) data dir `data` by a link to `shared`, another node's: the
/// standby of an active/standby pair then serves the active node's accounts, rosters and
/// offline messages (a stand-in for a shared database).
fn share_data(data: &Path, shared: &Path) -> Result<(), TargetError> {
    fs::remove_dir(data).map_err(|e| io_err(format!("removing {}", data.display()), e))?;
    std::os::unix::fs::symlink(shared, data).map_err(|e| {
        io_err(
            format!("linking {} to {}", data.display(), shared.display()),
            e,
        )
    })
}

/// The global lines that load the routing plugin and route every federated domain (and its
/// MUC subdomain) to its s2s port on loopback.
fn s2s_settings(dir: &Path, r: &S2sRoutes) -> Vec<String> {
    // A domain listed several times (an active/standby pair) gets its ports in order.
    let mut grouped: Vec<(&str, Vec<u16>)> = Vec::new();
    for (d, p) in &r.routes {
        match grouped.iter_mut().find(|(g, _)| g == d) {
            Some((_, ports)) => ports.push(*p),
            None => grouped.push((d, vec![*p])),
        }
    }
    let addr = |p: &u16| format!("{{ \"127.0.0.1\", {p} }}");
    let routes: String = grouped
        .iter()
        .flat_map(|(d, ps)| [(d.to_string(), ps), (format!("conference.{d}"), ps)])
        .map(|(d, ps)| match ps.as_slice() {
            [p] => format!("[\"{d}\"] = {}; ", addr(p)),
            many => {
                let list: Vec<String> = many.iter().map(addr).collect();
                format!("[\"{d}\"] = {{ {} }}; ", list.join(", "))
            }
        })
        .collect();
    vec![
        format!("plugin_paths = {{ \"{}/plugins\" }}", dir.display()),
        format!("s2s_static_routes = {{ {}}}", routes),
    ]
}

/// Drops the `"name";` lines of the global `modules_enabled = { … }` block.
fn remove_enabled(cfg: &str, modules: &[String]) -> String {
    let mut in_block = false;
    let mut out = String::with_capacity(cfg.len());
    for line in cfg.lines() {
        if line.starts_with("modules_enabled = {") {
            in_block = true;
        } else if in_block && line.trim_start().starts_with('}') {
            in_block = false;
        }
        let entry = line.trim_start();
        if in_block
            && modules
                .iter()
                .any(|m| entry.starts_with(&format!("\"{m}\";")))
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl Prosody {
    /// Starts the instance of `server` again in its dir with its ports (after a kill);
    /// returns the new PID once it listens. New processes go to `procs`.
    pub(super) async fn respawn(
        &self,
        server: &ManagedServer,
        procs: &mut ProcessSet,
    ) -> Result<u32, TargetError> {
        let std::net::SocketAddr::V4(addr) = server.addr else {
            return Err(TargetError::Spec(
                "a managed Prosody listens on IPv4".into(),
            ));
        };
        // A SIGKILLed Prosody leaves its pid file behind.
        let _ = fs::remove_file(server.dir().join("prosody.pid"));
        let run_as = self.run_as.as_ref();
        spawn(
            &self.program,
            run_as,
            server.dir(),
            addr,
            procs,
            &server.log_files,
        )
        .await
    }

    /// Writes `data/<domain>/accounts/<prefix><n>.dat` for n in 1..=count. Prosody reads
    /// account files on every authentication, so a running server sees them at once.
    pub(super) async fn provision(
        &self,
        server: &ManagedServer,
        prefix: &str,
        count: usize,
        password: &str,
    ) -> Result<(), TargetError> {
        let host_dir = self.data_dir.join(encode(server.domain()));
        let body = account_file(password, &self.salt);
        let run_as = self.run_as.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            write_accounts(&host_dir, &prefix, count, &body, run_as.as_ref())
        })
        .await
        .map_err(|e| TargetError::Provision(format!("the account writer task failed: {e}")))?
    }
}

/// Writes the account files (each via a temp name + rename, so a login racing with
/// provisioning never reads half a file).
fn write_accounts(
    host_dir: &Path,
    prefix: &str,
    count: usize,
    body: &str,
    run_as: Option<&SystemUser>,
) -> Result<(), TargetError> {
    let accounts = host_dir.join("accounts");
    fs::create_dir_all(&accounts)
        .map_err(|e| io_err(format!("creating {}", accounts.display()), e))?;
    let chown = |p: &Path| match run_as {
        Some(u) => std::os::unix::fs::chown(p, Some(u.uid), Some(u.gid))
            .map_err(|e| io_err(format!("giving {} to user {}", p.display(), u.name), e)),
        None => Ok(()),
    };
    chown(host_dir)?;
    chown(&accounts)?;
    for n in 1..=count {
        let user = encode(&format!("{prefix}{n}"));
        let tmp = accounts.join(format!("{user}.dat.impress-tmp"));
        fs::write(&tmp, body).map_err(|e| io_err(format!("writing {}", tmp.display()), e))?;
        chown(&tmp)?;
        let path = accounts.join(format!("{user}.dat"));
        fs::rename(&tmp, &path)
            .map_err(|e| io_err(format!("renaming to {}", path.display()), e))?;
    }
    Ok(())
}

/// Prosody's datamanager path encoding: every byte that is not ASCII alphanumeric → `%xx`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// The `internal_hashed` account file for `password` (SCRAM-SHA-1 keys, `ITERATIONS` rounds).
/// Prosody hashes the SASLprep'd password; for printable ASCII that is the password itself.
fn account_file(password: &str, salt: &str) -> String {
    let (stored_key, server_key) = scram_keys(password, salt);
    format!(
        "return {{\n\t[\"server_key\"] = \"{server_key}\";\n\t[\"salt\"] = \"{salt}\";\n\t\
         [\"iteration_count\"] = {ITERATIONS};\n\t[\"stored_key\"] = \"{stored_key}\";\n}};\n"
    )
}

/// Hex `StoredKey` and `ServerKey` of RFC 5802 for `password` and `salt`.
fn scram_keys(password: &str, salt: &str) -> (String, String) {
    let mut salted = [0u8; 20];
    pbkdf2::pbkdf2_hmac::<Sha1>(
        password.as_bytes(),
        salt.as_bytes(),
        ITERATIONS,
        &mut salted,
    );
    let mac = |msg: &[u8]| {
        let mut m = Hmac::<Sha1>::new_from_slice(&salted).expect("HMAC accepts any key length");
        m.update(msg);
        m.finalize().into_bytes()
    };
    let stored = Sha1::digest(mac(b"Client Key"));
    (hex(&stored), hex(&mac(b"Server Key")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_keys_match_the_reference_generator() {
        // Values from gen_prosody_users.py (hashlib) for "secret" / "loadtest-salt" / 4096.
        let (stored, server) = scram_keys("secret", "loadtest-salt");
        assert_eq!(stored, "e43d702e028e2bcee00120848f389a9f8358844a");
        assert_eq!(server, "bd72506bd5364c61c472256e5bb37fff1a218fee");
    }

    #[test]
    fn encodes_like_the_datamanager() {
        assert_eq!(encode("example.test"), "example%2etest");
        assert_eq!(encode("user_1"), "user%5f1");
    }

    #[test]
    fn disabling_moves_modules_from_enabled_to_disabled() {
        let mut spec = ManagedSpec::new(ServerKind::Prosody);
        spec.disable_modules = vec!["ping".into(), "offline".into()];
        spec.settings = vec![("c2s_stanza_size_limit".into(), "10000".into())];
        let cfg = render_config(&spec, Path::new("/tmp/x"), 15222, None);
        assert!(
            !cfg.contains("  \"ping\";") && !cfg.contains("  \"offline\";"),
            "{cfg}"
        );
        assert!(
            cfg.contains("modules_disabled = { \"limits\"; \"ping\"; \"offline\"; }"),
            "{cfg}"
        );
        assert!(cfg.contains("\"roster\";"));
        assert!(cfg.contains("c2s_ports = { 15222 }"));
        assert!(cfg.contains("\nc2s_stanza_size_limit = 10000\n"));
        assert!(cfg.contains("VirtualHost \"example.test\""));
        assert!(cfg.contains("modules_enabled = { \"muc_mam\" }"));
        assert!(
            super::super::tests::leftover_placeholder(&cfg).is_none(),
            "{cfg}"
        );
    }

    #[test]
    fn federated_config_listens_for_s2s_and_routes_peers() {
        let spec = ManagedSpec::new(ServerKind::Prosody);
        let routes = S2sRoutes {
            port: 15269,
            routes: vec![("a.test".into(), 15269), ("b.test".into(), 15270)],
        };
        let cfg = render_config(&spec, Path::new("/tmp/x"), 15222, Some(&routes));
        assert!(cfg.contains("s2s_ports = { 15269 }"), "{cfg}");
        assert!(cfg.contains("  \"s2s_static_routes\";\n}"), "{cfg}");
        assert!(
            cfg.contains("plugin_paths = { \"/tmp/x/plugins\" }"),
            "{cfg}"
        );
        assert!(
            cfg.contains("[\"conference.b.test\"] = { \"127.0.0.1\", 15270 };"),
            "{cfg}"
        );
        assert!(
            super::super::tests::leftover_placeholder(&cfg).is_none(),
            "{cfg}"
        );
        let pair = S2sRoutes {
            port: 15270,
            routes: vec![
                ("a.test".into(), 15269),
                ("b.test".into(), 15270),
                ("a.test".into(), 15271),
            ],
        };
        let cfg = render_config(&spec, Path::new("/tmp/x"), 15222, Some(&pair));
        assert!(
            cfg.contains("[\"a.test\"] = { { \"127.0.0.1\", 15269 }, { \"127.0.0.1\", 15271 } };"),
            "{cfg}"
        );
        assert!(
            cfg.contains("[\"b.test\"] = { \"127.0.0.1\", 15270 };"),
            "{cfg}"
        );
        let alone = render_config(&spec, Path::new("/tmp/x"), 15222, None);
        assert!(alone.contains("s2s_ports = {  }") && !alone.contains("s2s_static_routes"));
    }
}
