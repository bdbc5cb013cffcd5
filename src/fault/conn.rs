//! One proxied connection: connect upstream, then pump each direction through a bounded
//! queue that applies the mode (delay, partition) and, downstream, the stanza filter.
//!
//! Both directions run inside the connection's own task on borrowed halves of the two
//! sockets, so on [`Mode::Cut`] the task still holds the sockets and can reset them
//! (`SO_LINGER` 0, then close) rather than close them gracefully.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};

use super::filter::XmppFilter;
use super::mode::Mode;
use super::proxy::{Setting, Shared};
use super::stats::{Counters, Direction};
use crate::clock;

/// Bytes read and waiting to be written.
struct Chunk {
    /// When the mode allows writing it.
    due: Instant,
    bytes: Bytes,
    /// Queue room it holds, given back once written.
    permits: u32,
}

/// Counts the connection as active for as long as it lives, however its task ends.
struct Active<'a>(&'a Counters);

impl<'a> Active<'a> {
    fn new(c: &'a Counters) -> Self {
        c.active.fetch_add(1, Ordering::Relaxed);
        Self(c)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one accepted client until either side closes, an error, or a cut.
pub(super) async fn serve(client: TcpStream, sh: Arc<Shared>) {
    let _active = Active::new(&sh.counters);
    let _ = client.set_nodelay(true);
    let mut cut = sh.mode.subscribe();
    let upstream = tokio::select! {
        u = open_upstream(&sh) => u,
        () = wait_cut(&mut cut) => Err(Fate::Cut),
    };
    let mut client = client;
    let mut upstream = match upstream {
        Ok(u) => u,
        Err(fate) => {
            count(&sh, fate);
            reset(&client);
            return;
        }
    };
    let outcome = tokio::select! {
        r = relay(&mut client, &mut upstream, &sh) => r.map_err(|_| Fate::Error),
        () = wait_cut(&mut cut) => Err(Fate::Cut),
    };
    if let Err(fate) = outcome {
        count(&sh, fate);
        reset(&client);
        reset(&upstream);
    }
}

/// How a connection ended abnormally.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Cut,
    Error,
    NoUpstream,
}

fn count(sh: &Shared, fate: Fate) {
    let c = &sh.counters;
    Counters::bump(match fate {
        Fate::Cut | Fate::Error => &c.resets,
        Fate::NoUpstream => &c.upstream_failures,
    });
}

/// Makes the coming close an abortive one: the peer gets RST, not FIN.
fn reset(s: &TcpStream) {
    let _ = s.set_zero_linger();
}

/// Resolves when the mode becomes [`Mode::Cut`].
async fn wait_cut(rx: &mut watch::Receiver<Setting>) {
    if rx.wait_for(|s| s.mode == Mode::Cut).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Connects upstream once the mode forwards: during a partition the client's connection is
/// accepted but its upstream connection waits, as a SYN would be lost.
async fn open_upstream(sh: &Shared) -> Result<TcpStream, Fate> {
    let mut rx = sh.mode.subscribe();
    if rx.wait_for(|s| s.mode.forwards()).await.is_err() {
        return Err(Fate::NoUpstream);
    }
    let connect = TcpStream::connect(sh.cfg.upstream);
    match tokio::time::timeout(sh.cfg.connect_timeout, connect).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => {
            tracing::debug!(upstream = %sh.cfg.upstream, "proxy connect failed: {e}");
            Err(Fate::NoUpstream)
        }
        Err(_) => Err(Fate::NoUpstream),
    }
}

/// Pumps both directions until both have ended (EOF forwarded as a half-close).
async fn relay(client: &mut TcpStream, upstream: &mut TcpStream, sh: &Shared) -> io::Result<()> {
    let (cr, cw) = client.split();
    let (ur, uw) = upstream.split();
    let filter = sh.cfg.xmpp_filter.clone().map(XmppFilter::new);
    tokio::try_join!(
        direction(cr, uw, Direction::Up, None, sh),
        direction(ur, cw, Direction::Down, filter, sh),
    )?;
    Ok(())
}

/// One direction: a reader and a writer joined by a queue bounded in bytes.
async fn direction<R, W>(
    src: R,
    dst: W,
    dir: Direction,
    filter: Option<XmppFilter>,
    sh: &Shared,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Semaphore::new(sh.cfg.queue_bytes.max(1));
    tokio::try_join!(
        read_side(src, tx, &room, filter, sh),
        write_side(rx, dst, &room, dir, sh),
    )?;
    Ok(())
}

/// Reads while the mode allows it; stamps each chunk with its due time. Returns at EOF,
/// which drops the sender so the writer drains the queue and forwards the EOF.
async fn read_side<R: AsyncRead + Unpin>(
    mut src: R,
    tx: mpsc::UnboundedSender<Chunk>,
    room: &Semaphore,
    mut filter: Option<XmppFilter>,
    sh: &Shared,
) -> io::Result<()> {
    let mut mode = sh.mode.subscribe();
    let mut buf = vec![0u8; sh.cfg.chunk_bytes.max(1)];
    loop {
        // A partition reads nothing, so the sender's window fills and it stalls.
        if mode.wait_for(|s| s.mode != Mode::Blackhole).await.is_err() {
            return Ok(());
        }
        let n = tokio::select! {
            r = src.read(&mut buf) => r?,
            _ = mode.changed() => continue,
        };
        if n == 0 {
            return Ok(());
        }
        let at = clock::now();
        let delay = mode.borrow().mode.delay();
        let bytes = match filter.as_mut() {
            Some(f) => sh.filter(f, &buf[..n], at),
            None => Bytes::copy_from_slice(&buf[..n]),
        };
        if bytes.is_empty() {
            continue;
        }
        let permits = permits_for(bytes.len(), sh.cfg.queue_bytes);
        room.acquire_many(permits)
            .await
            .map_err(io::Error::other)?
            .forget();
        let chunk = Chunk {
            due: at + delay,
            bytes,
            permits,
        };
        if tx.send(chunk).is_err() {
            return Ok(());
        }
    }
}

/// Queue room a chunk takes: its size, capped at the whole queue so that a chunk larger
/// than the queue (a big stanza released by the filter) still passes, alone.
fn permits_for(len: usize, queue_bytes: usize) -> u32 {
    u32::try_from(len.min(queue_bytes.max(1))).unwrap_or(u32::MAX)
}

/// Writes each chunk when it is due and the mode forwards; half-closes at the end.
async fn write_side<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<Chunk>,
    mut dst: W,
    room: &Semaphore,
    dir: Direction,
    sh: &Shared,
) -> io::Result<()> {
    let mut mode = sh.mode.subscribe();
    while let Some(chunk) = rx.recv().await {
        tokio::time::sleep_until(chunk.due.into()).await;
        if mode.wait_for(|s| s.mode != Mode::Blackhole).await.is_err() {
            return Ok(());
        }
        dst.write_all(&chunk.bytes).await?;
        sh.counters.forwarded(dir, chunk.bytes.len());
        room.add_permits(chunk.permits as usize);
    }
    dst.shutdown().await
}
