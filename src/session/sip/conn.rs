//! The SIP connection of one user agent: a connected UDP socket (datagram framing) or a
//! TCP/TLS stream (Content-Length framing), split into a reader and a writer.

use super::{SipError, SipSettings, SipTransport};
use crate::proto::sip::{Framer, FramerConfig, frame_datagram};
use crate::transport::Stream;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::UdpSocket;
use tokio::sync::Mutex;

/// Largest UDP datagram.
const MAX_DATAGRAM: usize = 65_535;

/// The sending half.
#[derive(Debug)]
pub(super) enum Writer {
    Udp(Arc<UdpSocket>),
    Stream(Mutex<WriteHalf<Stream>>),
}

impl Writer {
    /// Writes one whole message.
    pub(super) async fn send(&self, bytes: &[u8]) -> Result<(), SipError> {
        match self {
            Self::Udp(s) => {
                s.send(bytes).await?;
            }
            Self::Stream(w) => {
                let mut w = w.lock().await;
                w.write_all(bytes).await?;
                w.flush().await?;
            }
        }
        Ok(())
    }

    /// Ends the connection (a TCP FIN; nothing for UDP).
    pub(super) async fn shutdown(&self) {
        if let Self::Stream(w) = self {
            let _ = w.lock().await.shutdown().await;
        }
    }
}

/// The receiving half.
pub(super) enum Reader {
    Udp(Arc<UdpSocket>, FramerConfig, Vec<u8>),
    Stream(ReadHalf<Stream>, Framer),
}

impl Reader {
    /// The next message; `Ok(None)` when the peer closed the connection.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, SipError> {
        match self {
            Self::Udp(s, cfg, buf) => loop {
                let n = s.recv(buf).await?;
                if let Some(m) = frame_datagram(&buf[..n], cfg)? {
                    return Ok(Some(m));
                }
            },
            Self::Stream(r, framer) => {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    if let Some(m) = framer.next_frame()? {
                        return Ok(Some(m));
                    }
                    let n = r.read(&mut buf).await?;
                    if n == 0 {
                        return Ok(None);
                    }
                    framer.feed(&buf[..n])?;
                }
            }
        }
    }
}

/// Connects with `transport`; returns both halves and the local address (the Contact).
pub(super) async fn connect(
    s: &SipSettings,
    transport: SipTransport,
) -> Result<(Reader, Writer, SocketAddr), SipError> {
    let cfg = FramerConfig {
        max_message_bytes: s.max_message_bytes,
    };
    match transport {
        SipTransport::Udp => {
            let bind: SocketAddr = match s.addr {
                SocketAddr::V4(_) => ([127, 0, 0, 1], 0).into(),
                SocketAddr::V6(_) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
            };
            let sock = UdpSocket::bind(bind).await?;
            sock.connect(s.addr).await?;
            let local = sock.local_addr()?;
            let sock = Arc::new(sock);
            let reader = Reader::Udp(sock.clone(), cfg, vec![0; MAX_DATAGRAM]);
            Ok((reader, Writer::Udp(sock), local))
        }
        SipTransport::Tcp | SipTransport::Tls => {
            let (addr, tls) = match transport {
                SipTransport::Tls => {
                    let addr = s.tls_addr.ok_or_else(|| {
                        SipError::Unsupported("the target has no SIP TLS listener".into())
                    })?;
                    let tls = s.tls.as_ref().ok_or_else(|| {
                        SipError::Unsupported("no TLS settings for the SIP target".into())
                    })?;
                    (addr, Some(tls))
                }
                _ => (s.addr, None),
            };
            let mut stream = Stream::connect(addr, s.connect_timeout).await?;
            let local = match &stream {
                Stream::Tcp(t) => t.local_addr()?,
                Stream::Tls(t) => t.get_ref().0.local_addr()?,
            };
            if let Some(tls) = tls {
                stream = stream.upgrade(tls).await?;
            }
            let (r, w) = tokio::io::split(stream);
            Ok((
                Reader::Stream(r, Framer::new(cfg)),
                Writer::Stream(Mutex::new(w)),
                local,
            ))
        }
    }
}
