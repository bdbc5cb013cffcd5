//! The managed Kamailio's config: the template's feature switches (`#!define WITH_*`), the
//! modules it loads under each, and how a target file's `disable_modules` and `settings` map
//! onto them. A setting is one of:
//!
//! - a switch, `WITH_AUTH = "0"` (all capitals): turns a `#!define` of the template on or off;
//! - a module parameter, `"registrar.max_expires" = "60"`: one more `modparam(…)` after the
//!   template's own, so it wins (integers are written bare, anything else as a string);
//! - a core parameter, `tcp_connection_lifetime = "60"`: a `key=value` line, verbatim.
//!
//! `disable_modules = ["presence"]` switches off the switch a module is loaded under.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::{ManagedSpec, TargetError, render};

/// The config template, compiled in so the binary works from any directory.
const TEMPLATE: &str = include_str!("../../../fixtures/targets/kamailio/kamailio.cfg");

/// The template's switches and whether each is on by default. The violation switches are
/// off: each makes Kamailio break one requirement on purpose (see the template).
const SWITCHES: &[(&str, bool)] = &[
    ("WITH_AUTH", true),
    ("WITH_PRESENCE", true),
    ("WITH_TLS", true),
    ("WITH_OPTIONS_NO_TOTAG", false),
    ("WITH_NOTIFY_NO_SUBSTATE", false),
    ("WITH_UNKNOWN_EVENT_OK", false),
];

/// A module the template loads, with the switch it is loaded under (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Module {
    /// Kamailio's name for it (`registrar`; the file is `registrar.so`).
    pub name: String,
    /// The `#!ifdef` switch around its `loadmodule` line.
    pub switch: Option<String>,
}

/// Every `loadmodule` of the template with the innermost `#!ifdef` around it.
fn template_modules() -> Vec<Module> {
    let mut open: Vec<Option<String>> = Vec::new();
    let mut out = Vec::new();
    for line in TEMPLATE.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("#!ifdef ") {
            open.push(Some(name.trim().to_owned()));
        } else if line.starts_with("#!ifndef ") {
            open.push(None);
        } else if line.starts_with("#!endif") {
            open.pop();
        } else if let Some(rest) = line.strip_prefix("loadmodule \"") {
            let name = rest.split(".so").next().unwrap_or(rest).to_owned();
            let switch = open.iter().rev().flatten().next().cloned();
            out.push(Module { name, switch });
        }
    }
    out
}

/// The Debian package that ships module `name` (for "not installed" messages).
pub(super) fn package_of(module: &str) -> &'static str {
    match module {
        "presence" | "presence_xml" => "kamailio-presence-modules",
        "db_sqlite" => "kamailio-sqlite-modules",
        "tls" => "kamailio-tls-modules",
        _ => "kamailio",
    }
}

/// What one instance's config is rendered from: switches, extra module and core parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Options {
    switches: BTreeMap<&'static str, bool>,
    /// Whether the target file set `WITH_TLS` itself (then a missing tls module is an error;
    /// otherwise TLS is simply left out).
    tls_explicit: bool,
    /// `(module, parameter, rendered value)`.
    modparams: Vec<(String, String, String)>,
    /// `(key, value)` core parameters.
    core: Vec<(String, String)>,
}

fn spec_err(message: String) -> TargetError {
    TargetError::Spec(message)
}

/// `"1"`/`"0"` and friends.
fn parse_switch(key: &str, value: &str) -> Result<bool, TargetError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err(spec_err(format!(
            "Kamailio switch `{key}` = `{value}`: use \"1\" (on) or \"0\" (off)"
        ))),
    }
}

/// A `modparam` value: integers bare, anything else as a double-quoted string.
fn modparam_value(key: &str, value: &str) -> Result<String, TargetError> {
    let v = value.trim();
    let digits = v.strip_prefix('-').unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(v.to_owned());
    }
    if v.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return Err(spec_err(format!(
            "Kamailio setting `{key}`: the value may not hold quotes, backslashes or control characters"
        )));
    }
    Ok(format!("\"{v}\""))
}

impl Options {
    /// The options `spec` asks for, checked against the template.
    pub(super) fn from_spec(spec: &ManagedSpec) -> Result<Self, TargetError> {
        let mut opts = Self {
            switches: SWITCHES.iter().copied().collect(),
            tls_explicit: false,
            modparams: Vec::new(),
            core: Vec::new(),
        };
        for module in &spec.disable_modules {
            opts.disable_module(module)?;
        }
        for (key, value) in &spec.settings {
            opts.apply_setting(key, value)?;
        }
        opts.check_modparams()?;
        Ok(opts)
    }

    /// Turns off the switch `module` is loaded under.
    fn disable_module(&mut self, module: &str) -> Result<(), TargetError> {
        let modules = template_modules();
        let switch = modules
            .iter()
            .find(|m| m.name == module)
            .and_then(|m| m.switch.clone());
        let Some(switch) = switch else {
            let switchable: Vec<&str> = modules
                .iter()
                .filter(|m| m.switch.is_some())
                .map(|m| m.name.as_str())
                .collect();
            return Err(spec_err(format!(
                "Kamailio module `{module}` cannot be disabled (switchable: {})",
                switchable.join(", ")
            )));
        };
        if let Some((name, on)) = self.switches.iter_mut().find(|(n, _)| **n == switch) {
            *on = false;
            self.tls_explicit |= *name == "WITH_TLS";
        }
        Ok(())
    }

    /// Applies one `settings` entry (see the module docs for the three kinds).
    fn apply_setting(&mut self, key: &str, value: &str) -> Result<(), TargetError> {
        if value.chars().any(char::is_control) {
            return Err(spec_err(format!(
                "Kamailio setting `{key}`: the value may not hold control characters"
            )));
        }
        if let Some((module, param)) = key.split_once('.') {
            if module.is_empty() || param.is_empty() || param.contains('.') {
                return Err(spec_err(format!(
                    "Kamailio setting `{key}`: module parameters look like `registrar.max_expires`"
                )));
            }
            let rendered = modparam_value(key, value)?;
            self.modparams
                .push((module.to_owned(), param.to_owned(), rendered));
        } else if key.bytes().any(|b| b.is_ascii_uppercase()) {
            let on = parse_switch(key, value)?;
            let Some((name, slot)) = self.switches.iter_mut().find(|(n, _)| **n == key) else {
                let known: Vec<&str> = SWITCHES.iter().map(|(n, _)| *n).collect();
                return Err(spec_err(format!(
                    "unknown Kamailio switch `{key}` (known: {})",
                    known.join(", ")
                )));
            };
            *slot = on;
            self.tls_explicit |= *name == "WITH_TLS";
        } else {
            self.core.push((key.to_owned(), value.trim().to_owned()));
        }
        Ok(())
    }

    /// Every extra `modparam` must name a module this config loads (Kamailio refuses to start
    /// otherwise, with a less helpful message).
    fn check_modparams(&self) -> Result<(), TargetError> {
        let loaded = self.loaded_modules();
        for (module, param, _) in &self.modparams {
            if !loaded.iter().any(|m| m == module) {
                return Err(spec_err(format!(
                    "Kamailio setting `{module}.{param}`: module `{module}` is not loaded by this \
                     config (loaded: {})",
                    loaded.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether `switch` is on.
    pub(super) fn is_on(&self, switch: &str) -> bool {
        self.switches.get(switch).copied().unwrap_or(false)
    }

    /// Whether the TLS listener is on.
    pub(super) fn tls(&self) -> bool {
        self.is_on("WITH_TLS")
    }

    /// Leaves TLS out because its module is missing; an error if the target file asked for it.
    pub(super) fn drop_tls(&mut self) -> Result<(), TargetError> {
        if self.tls_explicit {
            return Err(TargetError::NotInstalled {
                program: format!(
                    "Kamailio module tls.so (Debian package {})",
                    package_of("tls")
                ),
            });
        }
        self.switches.insert("WITH_TLS", false);
        self.check_modparams()
    }

    /// The modules the rendered config loads.
    pub(super) fn loaded_modules(&self) -> Vec<String> {
        template_modules()
            .into_iter()
            .filter(|m| m.switch.as_deref().is_none_or(|s| self.is_on(s)))
            .map(|m| m.name)
            .collect()
    }

    /// The config text for an instance in `dir` serving `domain`.
    pub(super) fn render(&self, domain: &str, dir: &Path, sip_port: u16, tls_port: u16) -> String {
        let defines: Vec<String> = self
            .switches
            .iter()
            .filter(|(_, on)| **on)
            .map(|(name, _)| format!("#!define {name}"))
            .collect();
        let core: Vec<String> = self.core.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let modparams: Vec<String> = self
            .modparams
            .iter()
            .map(|(m, p, v)| format!("modparam(\"{m}\", \"{p}\", {v})"))
            .collect();
        render(
            TEMPLATE,
            &[
                ("DEFINES", &defines.join("\n")),
                ("CORE_SETTINGS", &core.join("\n")),
                ("MODPARAMS", &modparams.join("\n")),
                ("DIR", &dir.to_string_lossy()),
                ("DOMAIN", domain),
                ("SIP_PORT", &sip_port.to_string()),
                ("TLS_PORT", &tls_port.to_string()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::ServerKind;
    use super::*;

    fn spec(settings: &[(&str, &str)], disable: &[&str]) -> ManagedSpec {
        let mut s = ManagedSpec::new(ServerKind::Kamailio);
        s.settings = settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        s.disable_modules = disable.iter().map(|m| (*m).to_owned()).collect();
        s
    }

    fn cfg(opts: &Options) -> String {
        opts.render("example.test", Path::new("/tmp/k"), 15060, 15061)
    }

    #[test]
    fn default_config_has_every_feature_and_no_placeholder() {
        let opts = Options::from_spec(&spec(&[], &[])).unwrap();
        let text = cfg(&opts);
        for line in [
            "#!define WITH_AUTH\n",
            "#!define WITH_PRESENCE\n",
            "#!define WITH_TLS\n",
            "listen=udp:127.0.0.1:15060\n",
            "listen=tcp:127.0.0.1:15060\n",
            "listen=tls:127.0.0.1:15061\n",
            "alias=\"example.test\"\n",
            "#!define DBURL \"sqlite:////tmp/k/kamailio.sqlite\"\n",
            "modparam(\"tls\", \"certificate\", \"/tmp/k/certs/example.test.crt\")\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("#!define WITH_OPTIONS_NO_TOTAG"));
        assert!(
            super::super::super::tests::leftover_placeholder(&text).is_none(),
            "{text}"
        );
        let loaded = opts.loaded_modules();
        for m in [
            "registrar",
            "usrloc",
            "auth_db",
            "presence",
            "presence_xml",
            "tls",
        ] {
            assert!(loaded.iter().any(|l| l == m), "{m} not loaded: {loaded:?}");
        }
    }

    #[test]
    fn switches_modparams_and_core_settings_render() {
        let opts = Options::from_spec(&spec(
            &[
                ("WITH_AUTH", "0"),
                ("WITH_OPTIONS_NO_TOTAG", "yes"),
                ("registrar.max_expires", "60"),
                ("registrar.realm_prefix", "sip."),
                ("tcp_connection_lifetime", "30"),
            ],
            &["presence"],
        ))
        .unwrap();
        let text = cfg(&opts);
        assert!(!text.contains("#!define WITH_AUTH\n"));
        assert!(!text.contains("#!define WITH_PRESENCE\n"));
        assert!(text.contains("#!define WITH_OPTIONS_NO_TOTAG\n"));
        assert!(text.contains("modparam(\"registrar\", \"max_expires\", 60)\n"));
        assert!(text.contains("modparam(\"registrar\", \"realm_prefix\", \"sip.\")\n"));
        assert!(text.contains("\ntcp_connection_lifetime=30\n"));
        // The override comes after the template's own value, so it wins.
        let ours = text.find("\"max_expires\", 60)").unwrap();
        assert!(text.find("\"max_expires\", 3600)").unwrap() < ours);
        assert!(!opts.loaded_modules().iter().any(|m| m == "auth_db"));
    }

    #[test]
    fn rejects_what_kamailio_would_choke_on() {
        // (settings, disable_modules)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let bad: &[Case<'_>] = &[
            (&[("WITH_NOPE", "1")], &[]),
            (&[("WITH_AUTH", "maybe")], &[]),
            (&[("nosuchmodule.x", "1")], &[]),
            (&[("WITH_AUTH", "0"), ("auth_db.calculate_ha1", "1")], &[]),
            (&[("registrar.realm_prefix", "a\"b")], &[]),
            (&[("debug", "3\nloadmodule \"x.so\"")], &[]),
            (&[], &["registrar"]),
            (&[], &["nosuch"]),
        ];
        for (settings, disable) in bad {
            let r = Options::from_spec(&spec(settings, disable));
            assert!(
                matches!(r, Err(TargetError::Spec(_))),
                "{settings:?} {disable:?}: {r:?}"
            );
        }
    }

    #[test]
    fn tls_is_dropped_quietly_unless_asked_for() {
        let mut opts = Options::from_spec(&spec(&[], &[])).unwrap();
        opts.drop_tls().unwrap();
        assert!(!opts.tls() && !cfg(&opts).contains("#!define WITH_TLS"));
        let mut asked = Options::from_spec(&spec(&[("WITH_TLS", "1")], &[])).unwrap();
        assert!(matches!(
            asked.drop_tls(),
            Err(TargetError::NotInstalled { .. })
        ));
        let mut tuned = Options::from_spec(&spec(&[("tls.connection_timeout", "5")], &[])).unwrap();
        assert!(tuned.drop_tls().is_err());
    }

    #[test]
    fn modules_know_their_switch() {
        let modules = template_modules();
        let switch = |name: &str| {
            modules
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.switch.clone())
        };
        assert_eq!(switch("tm"), Some(None));
        assert_eq!(switch("auth_db"), Some(Some("WITH_AUTH".into())));
        assert_eq!(switch("presence_xml"), Some(Some("WITH_PRESENCE".into())));
        assert_eq!(switch("tls"), Some(Some("WITH_TLS".into())));
    }
}
