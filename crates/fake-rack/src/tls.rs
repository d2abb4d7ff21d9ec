//! HTTPS with a self-signed certificate generated at startup, like the rack's own on :5443.
//!
//! rustls uses the aws-lc-rs provider explicitly, so no process-wide provider is needed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rack's self-signed certificate, for tests that pin or trust it.
#[derive(Debug, Clone)]
pub struct TlsCertificate {
    /// PEM-encoded certificate.
    pub pem: String,
    /// DER-encoded certificate.
    pub der: Vec<u8>,
    /// Lower-case hex SHA-256 of the DER certificate.
    pub sha256_fingerprint: String,
}

/// Generates a certificate for `localhost`, `127.0.0.1`, `::1` and the bound IP.
pub(crate) fn self_signed(addr: SocketAddr) -> io::Result<(TlsCertificate, TlsAcceptor)> {
    let mut names = vec![
        "localhost".to_owned(),
        "convox".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ip = addr.ip().to_string();
    if !addr.ip().is_unspecified() && !names.contains(&ip) {
        names.push(ip);
    }
    let key = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let der = key.cert.der().to_vec();
    let certificate = TlsCertificate {
        pem: key.cert.pem(),
        sha256_fingerprint: hex::encode(Sha256::digest(&der)),
        der,
    };
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![key.cert.der().clone()], private)
        .map_err(io::Error::other)?;
    // The server speaks HTTP/1.1 only (websocket upgrades need it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((certificate, TlsAcceptor::from(Arc::new(config))))
}

/// An `axum::serve` listener that hands out finished TLS connections. Handshakes run in their
/// own tasks so a slow client cannot hold up the others.
pub(crate) struct TlsListener {
    addr: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub fn new(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            tokio::pin!(shutdown);
            loop {
                let (tcp, peer) = tokio::select! {
                    () = &mut shutdown => return,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Self { addr, rx }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(pair) => pair,
            // The accept loop stopped (shutdown): never hand out another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
