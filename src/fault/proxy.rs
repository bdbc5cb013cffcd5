//! The proxy's listener, its control handle and the state its connections share.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::conn;
use super::filter::XmppFilter;
use super::mode::{DropRule, Mode, ModeChange};
use super::stats::{self, Counters, DropLog, ProxyStats};
use crate::clock;
use crate::proto::xmpp::FramerConfig;

/// Why the proxy cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The listening socket could not be opened.
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A drop rule was set on a proxy started without the stanza filter.
    #[error("the proxy was started without the XMPP stanza filter")]
    NoFilter,
}

/// How a [`Proxy`] is built. Memory per connection is bounded by
/// `2 × (chunk_bytes + queue_bytes)`, plus, with the filter, about twice the framer's
/// `max_stanza_bytes` for the incomplete stanza it holds.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where connections are forwarded.
    pub upstream: SocketAddr,
    /// Where the proxy listens; `127.0.0.1:0` (a free loopback port) by default.
    pub listen: SocketAddr,
    /// Limit for connecting upstream; the client is reset when it passes.
    pub connect_timeout: Duration,
    /// Read buffer per direction (largest chunk read at once).
    pub chunk_bytes: usize,
    /// Bytes read but not yet written, per direction: a delayed or partitioned direction
    /// stops reading when this is full, which back-pressures the sender.
    pub queue_bytes: usize,
    /// Frame the upstream → client direction as a plaintext XMPP stream, so that
    /// [`DropRule`]s can apply; `None` forwards it blindly.
    pub xmpp_filter: Option<FramerConfig>,
    /// The drop rule in force from the start (needs `xmpp_filter`).
    pub drop_rule: Option<DropRule>,
    /// Dropped messages kept in [`ProxyStats::dropped`]; the count is exact regardless.
    pub max_recorded_drops: usize,
}

impl ProxyConfig {
    /// A pass-through proxy to `upstream` on a free loopback port.
    pub fn new(upstream: SocketAddr) -> Self {
        Self {
            upstream,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            connect_timeout: Duration::from_secs(10),
            chunk_bytes: 16 * 1024,
            queue_bytes: 256 * 1024,
            xmpp_filter: None,
            drop_rule: None,
            max_recorded_drops: 100_000,
        }
    }

    /// Enables the stanza filter (default framer limits) with an initial rule.
    pub fn with_xmpp_filter(mut self, rule: Option<DropRule>) -> Self {
        self.xmpp_filter = Some(FramerConfig::default());
        self.drop_rule = rule;
        self
    }
}

/// The mode and a generation number, so a setter can wait until the listener applied it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setting {
    pub version: u64,
    pub mode: Mode,
}

/// What the listener and every connection share.
#[derive(Debug)]
pub(super) struct Shared {
    pub cfg: ProxyConfig,
    pub addr: SocketAddr,
    pub mode: watch::Sender<Setting>,
    pub counters: Counters,
    drops: Mutex<DropLog>,
    timeline: Mutex<Vec<ModeChange>>,
}

impl Shared {
    /// Runs one chunk through a connection's filter, judging messages by the drop rule.
    pub fn filter(&self, f: &mut XmppFilter, input: &[u8], at: Instant) -> Bytes {
        let mut out = BytesMut::with_capacity(input.len());
        let was_bypassed = f.bypassed().is_some();
        f.feed(input, &mut out, &mut |el, raw| {
            let mut log = self.drops.lock().unwrap_or_else(|p| p.into_inner());
            log.judge(el, raw, at)
        });
        if let (false, Some(why)) = (was_bypassed, f.bypassed()) {
            Counters::bump(&self.counters.filter_bypassed);
            tracing::warn!(proxy = %self.addr, ?why, "stanza filter stopped; forwarding unchanged");
        }
        out.freeze()
    }
}

/// A TCP proxy on loopback in front of one upstream address; see the module docs.
///
/// A cheap handle: clones control the same proxy. It stops when [`stop`](Self::stop) is
/// called or the last clone is dropped; its connections end with it.
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sh: Arc<Shared>,
    /// The last mode generation the listener applied.
    applied: watch::Receiver<u64>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

impl Proxy {
    /// Listens on `cfg.listen` and starts forwarding, in [`Mode::Pass`]. Needs a tokio
    /// runtime.
    pub async fn start(cfg: ProxyConfig) -> Result<Self, FaultError> {
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| FaultError::Listen {
                    addr: cfg.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| FaultError::Listen {
            addr: cfg.listen,
            source,
        })?;
        let start = ModeChange {
            at: clock::now(),
            mode: Mode::Pass,
        };
        let drops = DropLog::new(cfg.drop_rule.clone(), cfg.max_recorded_drops);
        let (mode, _) = watch::channel(Setting {
            version: 0,
            mode: Mode::Pass,
        });
        let sh = Arc::new(Shared {
            cfg,
            addr,
            mode,
            counters: Counters::default(),
            drops: Mutex::new(drops),
            timeline: Mutex::new(vec![start]),
        });
        let (applied_tx, applied) = watch::channel(0);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(sh.clone(), listener, applied_tx, stop_rx));
        let inner = Inner {
            sh,
            applied,
            stop,
            task: Mutex::new(Some(task)),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.inner.sh.addr
    }

    /// Where connections are forwarded.
    pub fn upstream(&self) -> SocketAddr {
        self.inner.sh.cfg.upstream
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        self.inner.sh.mode.borrow().mode
    }

    /// Switches mode and returns the stamped change. Returns once the listener has applied
    /// it (closed for [`Mode::Cut`], listening again after); open connections react at
    /// once but asynchronously (a reset reaches the peers shortly after). Should the port
    /// be taken while cut, the listener keeps retrying it (logged) after this returns.
    pub async fn set_mode(&self, mode: Mode) -> ModeChange {
        let sh = &self.inner.sh;
        let (change, version) = {
            let mut timeline = sh.timeline.lock().unwrap_or_else(|p| p.into_inner());
            let version = sh.mode.borrow().version + 1;
            let change = ModeChange {
                at: clock::now(),
                mode,
            };
            sh.mode.send_replace(Setting { version, mode });
            timeline.push(change);
            (change, version)
        };
        let mut applied = self.inner.applied.clone();
        // An error means the listener is gone (stopped): nothing left to wait for.
        let _ = applied.wait_for(|g| *g >= version).await;
        change
    }

    /// [`Mode::Pass`].
    pub async fn pass(&self) -> ModeChange {
        self.set_mode(Mode::Pass).await
    }

    /// [`Mode::Delay`].
    pub async fn delay(&self, d: Duration) -> ModeChange {
        self.set_mode(Mode::Delay(d)).await
    }

    /// [`Mode::Cut`].
    pub async fn cut(&self) -> ModeChange {
        self.set_mode(Mode::Cut).await
    }

    /// [`Mode::Blackhole`].
    pub async fn blackhole(&self) -> ModeChange {
        self.set_mode(Mode::Blackhole).await
    }

    /// Replaces the drop rule (`None` drops nothing); restarts [`DropRule::EveryNth`]
    /// counting. Fails unless the proxy was started with the stanza filter.
    pub fn set_drop_rule(&self, rule: Option<DropRule>) -> Result<(), FaultError> {
        let sh = &self.inner.sh;
        if sh.cfg.xmpp_filter.is_none() {
            return Err(FaultError::NoFilter);
        }
        sh.drops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_rule(rule);
        Ok(())
    }

    /// A snapshot of the counters, the dropped messages and the mode timeline.
    pub fn stats(&self) -> ProxyStats {
        let sh = &self.inner.sh;
        stats::snapshot(self.mode(), &sh.counters, &sh.drops, &sh.timeline)
    }

    /// Stops listening, closes every connection and waits until all the proxy's tasks are
    /// gone. Further calls, and mode changes after it, do nothing.
    pub async fn stop(&self) {
        self.inner.stop.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Accepts connections and applies each mode to the listener; owns every connection task,
/// so ending (or aborting) it ends them all.
async fn accept_loop(
    sh: Arc<Shared>,
    listener: TcpListener,
    applied: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut mode = sh.mode.subscribe();
    let mut listener = Some(listener);
    let mut conns = JoinSet::new();
    loop {
        let setting = *mode.borrow_and_update();
        if setting.mode == Mode::Cut {
            // Closing the socket is what makes new connections refused, not just reset.
            listener = None;
        } else if listener.is_none() {
            listener = relisten(&sh).await;
        }
        applied.send_replace(setting.version);
        let waiting_to_relisten = listener.is_none() && setting.mode != Mode::Cut;
        let accept_failed = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            changed = mode.changed() => if changed.is_err() { break } else { false },
            accepted = accept(listener.as_ref()) => match accepted {
                Ok(client) => {
                    Counters::bump(&sh.counters.accepted);
                    conns.spawn(conn::serve(client, sh.clone()));
                    false
                }
                Err(e) => {
                    tracing::warn!(proxy = %sh.addr, "accept failed: {e}");
                    true
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => false,
            () = tokio::time::sleep(Duration::from_millis(100)), if waiting_to_relisten => false,
        };
        if accept_failed {
            // Out of descriptors and the like: do not spin on it.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    conns.shutdown().await;
}

/// Accepts on `l`, or waits forever while there is no listener (during a cut).
async fn accept(l: Option<&TcpListener>) -> std::io::Result<TcpStream> {
    match l {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

/// Listens again on the proxy's own address after a cut; `None` (retried) if the port was
/// taken meanwhile.
async fn relisten(sh: &Shared) -> Option<TcpListener> {
    match TcpListener::bind(sh.addr).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(proxy = %sh.addr, "cannot listen again after a cut: {e}");
            None
        }
    }
}
