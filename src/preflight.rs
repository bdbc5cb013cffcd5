//! Pre-flight: whether this machine can hold the sessions a run asks for, checked before
//! anything starts, so that a fleet too big for the generator fails at once with a message
//! saying which resource is short and how to get more, instead of hours into a run with
//! `EMFILE` or `EADDRNOTAVAIL` errors that look like the target's fault.
//!
//! Three resources are counted:
//! - **file descriptors**: one per session plus [`FD_HEADROOM`]; [`raise_nofile_limit`]
//!   lifts the soft `RLIMIT_NOFILE` to the hard limit at start-up, so only the hard limit
//!   matters (`ulimit -Hn`, `prlimit --nofile`).
//! - **ephemeral ports**: towards one server port each source address has one port per
//!   number of `net.ipv4.ip_local_port_range`; more sessions need more source addresses
//!   (the target's `source_addresses`, see [`crate::transport::SourceAddrs`]).
//! - **memory**: sessions × the per-session estimate ([`SESSION_BYTES_PLAIN`],
//!   [`SESSION_BYTES_TLS`], measured with idle sessions, `benches/RESULTS.md`) against
//!   `MemAvailable`. A managed server on the same machine needs memory of its own, which
//!   this does not count.

use crate::error::Error;
use crate::fleet::User;
use crate::scenario::TargetPlan;
use crate::scenario::target::TlsMode;
use std::fmt::Write as _;

/// Descriptors the generator needs besides its sessions: runtime (epoll, eventfd),
/// stdio, report files, the metrics listener, a managed server's pipes.
pub const FD_HEADROOM: u64 = 64;
/// Estimated generator memory per idle plaintext session (bytes).
pub const SESSION_BYTES_PLAIN: u64 = 16 * 1024;
/// Estimated generator memory per idle TLS session (bytes).
pub const SESSION_BYTES_TLS: u64 = 48 * 1024;

/// What a run asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// Concurrent sessions (users × resources).
    pub sessions: u64,
    /// Whether the sessions use TLS.
    pub tls: bool,
    /// Source addresses the connections rotate over (0: the kernel picks one).
    pub source_addresses: u64,
}

/// What the machine offers; `None` where it could not be read (that check is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supply {
    /// `RLIMIT_NOFILE` soft limit, after [`raise_nofile_limit`].
    pub fd_limit: Option<u64>,
    /// `net.ipv4.ip_local_port_range`, inclusive.
    pub port_range: Option<(u16, u16)>,
    /// `MemAvailable` from `/proc/meminfo`, bytes.
    pub mem_available: Option<u64>,
}

impl Supply {
    /// Reads this machine's limits.
    pub fn probe() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        Self {
            fd_limit: nofile_limit().ok().map(|(soft, _)| soft),
            port_range: read("/proc/sys/net/ipv4/ip_local_port_range")
                .as_deref()
                .and_then(parse_port_range),
            mem_available: read("/proc/meminfo")
                .as_deref()
                .and_then(parse_mem_available),
        }
    }
}

impl Demand {
    /// Descriptors needed.
    pub fn fds(&self) -> u64 {
        self.sessions.saturating_add(FD_HEADROOM)
    }

    /// Estimated generator memory, bytes.
    pub fn memory(&self) -> u64 {
        let each = if self.tls {
            SESSION_BYTES_TLS
        } else {
            SESSION_BYTES_PLAIN
        };
        self.sessions.saturating_mul(each)
    }

    /// Every shortage of `supply`, one line each; empty when the run fits.
    pub fn shortages(&self, supply: &Supply) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(limit) = supply.fd_limit.filter(|&l| l < self.fds()) {
            out.push(format!(
                "{} sessions need {} file descriptors ({} + {FD_HEADROOM} spare) but the limit \
                 (RLIMIT_NOFILE) is {limit}: raise it, e.g. `ulimit -n {}` or `prlimit \
                 --nofile={}:{} impress …` as root, or run fewer sessions",
                self.sessions,
                self.fds(),
                self.sessions,
                self.fds(),
                self.fds(),
                self.fds()
            ));
        }
        if let Some((lo, hi)) = supply.port_range {
            let per_source = u64::from(hi.saturating_sub(lo)) + 1;
            let sources = self.source_addresses.max(1);
            let ports = per_source.saturating_mul(sources);
            if ports < self.sessions {
                let needed = self.sessions.div_ceil(per_source);
                out.push(format!(
                    "{} sessions to one server port need {} ephemeral ports but {sources} source \
                     address(es) × {per_source} ports (net.ipv4.ip_local_port_range {lo} {hi}) \
                     give {ports}: list at least {needed} source addresses in the target file \
                     (`[[node]]` or `[managed]` `source_addresses = \"127.0.0.2-127.0.0.{}\"`) \
                     or widen the range (`sysctl net.ipv4.ip_local_port_range`)",
                    self.sessions,
                    self.sessions,
                    (needed + 1).min(254)
                ));
            }
        }
        if let Some(avail) = supply.mem_available.filter(|&a| a < self.memory()) {
            let each = self.memory() / self.sessions.max(1);
            out.push(format!(
                "{} {} sessions need about {} of generator memory ({} KiB each) but {} is \
                 available (MemAvailable): run fewer sessions or spread them over generators",
                self.sessions,
                if self.tls { "TLS" } else { "plaintext" },
                gib(self.memory()),
                each / 1024,
                gib(avail)
            ));
        }
        out
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// The pre-flight of `impress run`: a usage error (exit 2) listing every shortage.
pub fn check_run(target: &TargetPlan, users: &[User]) -> Result<(), Error> {
    let demand = Demand {
        sessions: users.iter().map(|u| u.resources.len() as u64).sum(),
        tls: target.tls.mode == TlsMode::Starttls,
        source_addresses: target.source_addresses.len() as u64,
    };
    let short = demand.shortages(&Supply::probe());
    if short.is_empty() {
        return Ok(());
    }
    let mut msg = String::from("pre-flight: this machine cannot hold the run:");
    for s in &short {
        let _ = write!(msg, "\n  - {s}");
    }
    Err(Error::Usage(msg))
}

/// `"32768\t60999\n"` → `(32768, 60999)`.
pub fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    let (lo, hi) = (it.next()?.ok()?, it.next()?.ok()?);
    (lo <= hi).then_some((lo, hi))
}

/// `MemAvailable:   23068672 kB` → bytes.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The `RLIMIT_NOFILE` (soft, hard) limits.
#[expect(
    unsafe_code,
    reason = "getrlimit(2) writes one struct through a pointer to a live local"
)]
pub fn nofile_limit() -> std::io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// Lifts the soft `RLIMIT_NOFILE` to the hard limit (a process may always do that) and
/// returns the new (soft, hard). Processes started afterwards (a managed server) inherit it.
#[expect(
    unsafe_code,
    reason = "setrlimit(2) reads one struct through a pointer to a live local"
)]
pub fn raise_nofile_limit() -> std::io::Result<(u64, u64)> {
    let (soft, hard) = nofile_limit()?;
    // An unlimited hard limit still cannot exceed the kernel's per-process cap.
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    let want = hard.min(nr_open);
    if soft >= want {
        return Ok((soft, hard));
    }
    let r = libc::rlimit {
        rlim_cur: want,
        rlim_max: hard,
    };
    // SAFETY: `r` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((want, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Supply = Supply {
        fd_limit: Some(1 << 20),
        port_range: Some((32768, 60999)),
        mem_available: Some(24 << 30),
    };

    fn demand(sessions: u64, tls: bool, source_addresses: u64) -> Demand {
        Demand {
            sessions,
            tls,
            source_addresses,
        }
    }

    #[test]
    fn a_run_that_fits_has_no_shortage() {
        assert!(demand(50_000, true, 2).shortages(&ROOMY).is_empty());
        assert!(demand(0, false, 0).shortages(&ROOMY).is_empty());
    }

    #[test]
    fn descriptors_count_sessions_plus_headroom() {
        let s = Supply {
            fd_limit: Some(256),
            ..ROOMY
        };
        assert!(demand(192, false, 0).shortages(&s).is_empty());
        let short = demand(193, false, 0).shortages(&s);
        assert_eq!(short.len(), 1);
        assert!(short[0].contains("257 file descriptors"), "{short:?}");
        assert!(short[0].contains("RLIMIT_NOFILE) is 256"), "{short:?}");
    }

    #[test]
    fn ports_multiply_by_source_addresses() {
        // 28,232 ports per source address with the default range.
        assert!(demand(28_232, false, 0).shortages(&ROOMY).is_empty());
        let short = demand(28_233, false, 1).shortages(&ROOMY);
        assert_eq!(short.len(), 1);
        assert!(
            short[0].contains("at least 2 source addresses"),
            "{short:?}"
        );
        assert!(demand(56_464, false, 2).shortages(&ROOMY).is_empty());
        let short = demand(100_000, false, 2).shortages(&ROOMY);
        assert!(
            short[0].contains("at least 4 source addresses"),
            "{short:?}"
        );
        // A one-port range.
        let s = Supply {
            port_range: Some((5000, 5000)),
            ..ROOMY
        };
        assert!(demand(1, false, 0).shortages(&s).is_empty());
        assert_eq!(demand(2, false, 0).shortages(&s).len(), 1);
    }

    #[test]
    fn memory_uses_the_per_session_estimate() {
        let s = Supply {
            mem_available: Some(1 << 30),
            ..ROOMY
        };
        // 1 GiB holds 65,536 plaintext or 21,845 TLS sessions.
        assert!(demand(65_536, false, 3).shortages(&s).is_empty());
        assert_eq!(demand(65_537, false, 3).shortages(&s).len(), 1);
        assert!(demand(21_845, true, 3).shortages(&s).is_empty());
        let short = demand(21_846, true, 3).shortages(&s);
        assert!(short[0].contains("TLS sessions"), "{short:?}");
    }

    #[test]
    fn unknown_supply_skips_the_check_and_all_shortages_are_listed() {
        let blind = Supply {
            fd_limit: None,
            port_range: None,
            mem_available: None,
        };
        assert!(demand(u64::MAX, true, 0).shortages(&blind).is_empty());
        let tight = Supply {
            fd_limit: Some(100),
            port_range: Some((60000, 60099)),
            mem_available: Some(1 << 20),
        };
        assert_eq!(demand(1000, true, 0).shortages(&tight).len(), 3);
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("9 1"), None);
        assert_eq!(parse_port_range("x"), None);
        let meminfo = "MemTotal:       24600000 kB\nMemAvailable:   23068672 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(23_068_672 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let (soft, hard) = raise_nofile_limit().unwrap();
        assert!(
            soft == hard || hard == libc::RLIM_INFINITY,
            "{soft} < {hard}"
        );
        assert_eq!(nofile_limit().unwrap(), (soft, hard));
    }
}
