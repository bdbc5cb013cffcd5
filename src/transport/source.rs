//! Source addresses for outgoing connections.
//!
//! A TCP connection is named by (source address, source port, destination address,
//! destination port). Towards one server port, one source address can therefore hold at
//! most as many connections as the ephemeral port range has ports (28,232 with Linux's
//! default `32768 60999`). Binding each connection to the next of several source
//! addresses multiplies that: on Linux the whole of 127.0.0.0/8 is local, so
//! `127.0.0.2-127.0.0.9` needs no configuration. The bind asks the kernel to pick the
//! port at `connect` time (`IP_BIND_ADDRESS_NO_PORT`), so the port range is shared per
//! destination instead of being reserved per source address at `bind`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::{TcpSocket, TcpStream};

/// Most source addresses one run may list: more than the port arithmetic can ever use
/// (64k sockets each), and a typo like `127.0.0.2-127.255.0.0` fails instead of
/// allocating millions of addresses.
pub const MAX_SOURCE_ADDRESSES: usize = 65_536;

/// The source addresses connections rotate over; empty means "let the kernel choose".
/// Cheap to clone: clones share the rotation.
#[derive(Debug, Clone, Default)]
pub struct SourceAddrs {
    pool: Option<Arc<Pool>>,
}

#[derive(Debug)]
struct Pool {
    addrs: Vec<IpAddr>,
    next: AtomicUsize,
}

impl SourceAddrs {
    /// Rotates over `addrs` in order; an empty list lets the kernel choose.
    pub fn new(addrs: Vec<IpAddr>) -> Self {
        let pool = (!addrs.is_empty()).then(|| {
            Arc::new(Pool {
                addrs,
                next: AtomicUsize::new(0),
            })
        });
        Self { pool }
    }

    /// How many addresses there are (0: the kernel chooses).
    pub fn len(&self) -> usize {
        self.pool.as_ref().map_or(0, |p| p.addrs.len())
    }

    /// Whether the kernel chooses the source address.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The address for the next connection, round robin.
    pub fn next(&self) -> Option<IpAddr> {
        let p = self.pool.as_ref()?;
        let i = p.next.fetch_add(1, Ordering::Relaxed) % p.addrs.len();
        Some(p.addrs[i])
    }

    /// Every address must be of the destination's family (an IPv4 source cannot reach an
    /// IPv6 server and vice versa).
    pub fn check_family(&self, dest: SocketAddr) -> Result<(), String> {
        let Some(p) = &self.pool else { return Ok(()) };
        match p.addrs.iter().find(|a| a.is_ipv4() != dest.is_ipv4()) {
            Some(a) => Err(format!(
                "source address {a} cannot connect to {dest}: not the same IP version"
            )),
            None => Ok(()),
        }
    }
}

/// Parses `"127.0.0.2-127.0.0.200"`, `"127.0.0.2, 127.0.0.5"` or a mix: comma-separated
/// addresses and inclusive ranges of one IP version.
pub fn parse_source_addresses(spec: &str) -> Result<Vec<IpAddr>, String> {
    let mut out: Vec<IpAddr> = Vec::new();
    for item in spec.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("`{spec}`: empty item (write `A`, `A-B`, `A-B, C`)"));
        }
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (ip(a)?, ip(b)?),
            None => (ip(item)?, ip(item)?),
        };
        let (lo, hi, v4) = match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), true)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), false),
            _ => return Err(format!("`{item}`: both ends must be of one IP version")),
        };
        if hi < lo {
            return Err(format!("`{item}`: the range ends before it starts"));
        }
        let room = (MAX_SOURCE_ADDRESSES - out.len()) as u128;
        if hi - lo >= room {
            return Err(format!(
                "`{spec}`: more than {MAX_SOURCE_ADDRESSES} source addresses"
            ));
        }
        out.extend((lo..=hi).map(|n| match v4 {
            true => IpAddr::from(std::net::Ipv4Addr::from(n as u32)),
            false => IpAddr::from(std::net::Ipv6Addr::from(n)),
        }));
    }
    Ok(out)
}

/// One address that a socket can be bound to as a source.
fn ip(s: &str) -> Result<IpAddr, String> {
    let a: IpAddr = s
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not an IP address", s.trim()))?;
    if a.is_unspecified() || a.is_multicast() {
        return Err(format!("`{a}` cannot be a source address"));
    }
    Ok(a)
}

/// Connects to `dest` from `source` (port chosen at connect time).
pub(super) async fn connect_from(source: IpAddr, dest: SocketAddr) -> io::Result<TcpStream> {
    let socket = if dest.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Without it, bind(port 0) reserves a port for every destination: the range would be
    // per source address, not per (source, destination). Best effort: old kernels lack it.
    let _ = bind_address_no_port(&socket);
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| io::Error::new(e.kind(), format!("binding source address {source}: {e}")))?;
    socket.connect(dest).await
}

/// Sets `IP_BIND_ADDRESS_NO_PORT` (Linux ≥ 4.2).
#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "setsockopt(2) reads one int from a pointer to a live local"
)]
fn bind_address_no_port(socket: &TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: the fd is open for the socket's lifetime; the pointer and length describe
    // `on`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_: &TcpSocket) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ranges_and_lists() {
        let a = parse_source_addresses("127.0.0.2-127.0.0.4, 127.0.1.9").unwrap();
        assert_eq!(
            a,
            [
                v4("127.0.0.2"),
                v4("127.0.0.3"),
                v4("127.0.0.4"),
                v4("127.0.1.9")
            ]
        );
        // A range crossing an octet boundary counts through it.
        let a = parse_source_addresses("127.0.0.255-127.0.1.1").unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(parse_source_addresses("::1").unwrap(), [v4("::1")]);
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "",
            "127.0.0.2,",
            "127.0.0.9-127.0.0.2",
            "127.0.0.1-::1",
            "localhost",
            "0.0.0.0",
            "224.0.0.1",
            "127.0.0.0-127.1.0.0",
        ] {
            assert!(parse_source_addresses(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_source_addresses("127.0.0.0-127.0.255.255").is_ok());
    }

    #[test]
    fn rotates_round_robin_and_checks_family() {
        let s = SourceAddrs::new(vec![v4("127.0.0.2"), v4("127.0.0.3")]);
        let seen: Vec<_> = (0..4).map(|_| s.next().unwrap()).collect();
        assert_eq!(
            seen,
            [
                v4("127.0.0.2"),
                v4("127.0.0.3"),
                v4("127.0.0.2"),
                v4("127.0.0.3")
            ]
        );
        assert!(s.check_family("127.0.0.1:5222".parse().unwrap()).is_ok());
        assert!(s.check_family("[::1]:5222".parse().unwrap()).is_err());
        assert!(SourceAddrs::default().next().is_none());
        assert!(SourceAddrs::new(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn connects_from_the_given_loopback_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dest = listener.local_addr().unwrap();
        for source in ["127.0.0.2", "127.0.0.3"] {
            let _client = connect_from(v4(source), dest).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip(), v4(source));
        }
    }
}
