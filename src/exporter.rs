//! The live metrics endpoint (`impress run --metrics-listen ADDR`): a minimal HTTP/1.1
//! server that answers `GET /metrics` with the collector's latest [`Snapshot`] in the
//! Prometheus text format. It binds only the address given, reads at most a small request
//! head, answers one request per connection, and stops when dropped (at the end of a run).

use crate::metrics::Snapshot;
use crate::metrics::live::render_prometheus;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// Largest request head read; Prometheus sends a few hundred bytes.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// A slow or silent client is dropped after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 16;

/// Content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A running endpoint; dropping it stops the server.
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Exporter {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    /// Serves `live` on `listener` until dropped.
    pub fn serve(
        listener: TcpListener,
        live: watch::Receiver<Arc<Snapshot>>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, live));
        Ok(Self { addr, task })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, live: watch::Receiver<Arc<Snapshot>>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let live = live.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, &live)).await;
            drop(permit);
        });
    }
}

async fn handle(mut stream: TcpStream, live: &watch::Receiver<Arc<Snapshot>>) {
    let response = match read_head(&mut stream).await {
        Some(head) => respond(&head, live),
        None => reply(
            431,
            "Request Header Fields Too Large",
            "",
            "request too large\n",
        ),
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the end of the request head; `None` if it is larger than the bound.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST_BYTES {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The whole HTTP response to a request head.
fn respond(head: &str, live: &watch::Receiver<Arc<Snapshot>>) -> String {
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = render_prometheus(&live.borrow());
            let body = if method == "HEAD" {
                String::new()
            } else {
                body
            };
            reply(200, "OK", "", &body)
        }
        ("GET" | "HEAD", _) => reply(404, "Not Found", "", "metrics are at /metrics\n"),
        _ => reply(
            405,
            "Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "only GET /metrics is served\n",
        ),
    }
}

fn reply(code: u16, reason: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> watch::Receiver<Arc<Snapshot>> {
        let mut s = Snapshot::default();
        s.gauges.insert("sessions_connected", 3);
        watch::channel(Arc::new(s)).1
    }

    #[test]
    fn routes_and_methods() {
        let ok = respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &live());
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(ok.contains("impress_sessions_connected 3\n"));
        let len: usize = ok
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse().ok())
            .expect("content length");
        assert_eq!(len, ok.split("\r\n\r\n").nth(1).map_or(0, str::len));
        assert!(respond("GET /nope HTTP/1.1\r\n\r\n", &live()).starts_with("HTTP/1.1 404"));
        let post = respond("POST /metrics HTTP/1.1\r\n\r\n", &live());
        assert!(post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET, HEAD"));
        assert!(respond("", &live()).starts_with("HTTP/1.1 405"));
    }

    async fn fetch(addr: SocketAddr, req: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        // The server may answer and close before a large request is fully written.
        let _ = s.write_all(req).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn serves_over_tcp_and_bounds_the_request() {
        let listener = Exporter::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let ex = Exporter::serve(listener, live()).expect("serve");
        let ok = fetch(ex.addr(), b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(ok.contains("impress_sessions_connected 3"), "{ok}");
        // One byte over the bound, so the server has read everything when it answers (unread
        // data would make its close a reset).
        let big = fetch(ex.addr(), &vec![b'a'; MAX_REQUEST_BYTES + 1]).await;
        assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    }
}
