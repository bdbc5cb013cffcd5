//! Byte streams to a target: TCP, and TLS over it (rustls, certificates verified unless the
//! target explicitly says `insecure`), optionally from rotating source addresses
//! ([`SourceAddrs`]) to go past one address's ephemeral ports. No protocol knowledge lives
//! here.

mod source;
mod tls;

pub use source::{MAX_SOURCE_ADDRESSES, SourceAddrs, parse_source_addresses};
pub use tls::{TlsSettings, client_config};

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A transport failure (the network's or the peer's fault, never the suite's).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// TCP connect failed.
    #[error("connect to {addr} failed: {source}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// TCP connect did not finish in time.
    #[error("connect to {addr} timed out after {timeout:?}")]
    ConnectTimeout {
        /// Where.
        addr: SocketAddr,
        /// How long we waited.
        timeout: Duration,
    },
    /// The TLS handshake failed (including certificate verification).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
    /// The TLS configuration is unusable (bad CA file, ...).
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A client stream: plain TCP or TLS. An enum rather than a trait object, so the hot path
/// has no dynamic dispatch.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Opens a TCP connection with a timeout.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self, TransportError> {
        Self::connect_from(addr, None, timeout).await
    }

    /// Opens a TCP connection with a timeout, from `source` when given (else the kernel
    /// chooses). A source that cannot be bound is a connect failure naming the address.
    pub async fn connect_from(
        addr: SocketAddr,
        source: Option<std::net::IpAddr>,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let connect = async {
            match source {
                Some(ip) => source::connect_from(ip, addr).await,
                None => TcpStream::connect(addr).await,
            }
        };
        match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(Self::Tcp(s))
            }
            Ok(Err(source)) => Err(TransportError::Connect { addr, source }),
            Err(_) => Err(TransportError::ConnectTimeout { addr, timeout }),
        }
    }

    /// Upgrades a TCP stream to TLS (STARTTLS). A stream already under TLS is returned as is.
    pub async fn upgrade(self, tls: &TlsSettings) -> Result<Self, TransportError> {
        match self {
            Self::Tcp(tcp) => {
                let s = tls
                    .connector()
                    .connect(tls.server_name(), tcp)
                    .await
                    .map_err(TransportError::Handshake)?;
                Ok(Self::Tls(Box::new(s)))
            }
            tls_stream @ Self::Tls(_) => Ok(tls_stream),
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
