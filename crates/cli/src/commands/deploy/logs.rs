//! Live build logs: the rack's `/apps/{app}/builds/{id}/logs` websocket through the gateway,
//! copied to the output as it arrives. Frames carry bytes, not lines; the stream ends with
//! an empty binary frame or a close (Convox stream conventions). TLS uses the platform's
//! trust store, as the HTTP client does, so a gateway reqwest trusts is trusted here too.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::rack::Rack;
use crate::error::CliError;

/// How a log stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The rack's end-of-stream frame or a close.
    Eof,
    /// Broken, refused, or silent past the deadline; the message says why.
    Lost(String),
}

/// Copies the log of build `id` to `out`, skipping the first `skip` bytes (already shown by
/// an earlier stream), until the stream ends or `limit` passes. Returns the bytes seen in
/// total (including the skipped ones) and how it ended.
pub async fn follow(
    rack: &Rack,
    app: &str,
    id: &str,
    skip: u64,
    limit: Duration,
    out: &mut (dyn Write + Send),
) -> (u64, Ended) {
    let path = format!("/apps/{app}/builds/{id}/logs");
    match tokio::time::timeout(limit, copy(rack, &path, skip, out)).await {
        Ok(Ok((seen, ended))) => (seen, ended),
        Ok(Err(e)) => (skip, Ended::Lost(crate::error::classify(&e).message)),
        Err(_) => (
            skip,
            Ended::Lost("no end of the log before the timeout".into()),
        ),
    }
}

async fn copy(
    rack: &Rack,
    path: &str,
    skip: u64,
    out: &mut (dyn Write + Send),
) -> Result<(u64, Ended)> {
    let url = rack.base.replacen("http", "ws", 1) + path;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| CliError::new("log_stream_failed", format!("{url}: {e}")))?;
    let auth = HeaderValue::from_str(&format!("Bearer {}", rack.token().expose_secret()))
        .map_err(|_| CliError::new("log_stream_failed", "the token is not a valid header"))?;
    request.headers_mut().insert("authorization", auth);
    if let Ok(ua) = HeaderValue::from_str(&crate::client::user_agent()) {
        request.headers_mut().insert("user-agent", ua);
    }
    let host = request.uri().host().unwrap_or_default().to_owned();
    let port = request
        .uri()
        .port_u16()
        .unwrap_or(if url.starts_with("wss") { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| CliError::new("log_stream_failed", format!("connecting to {host}: {e}")))?;
    if url.starts_with("wss") {
        let tls = tls_connect(&host, tcp).await?;
        read(request, tls, skip, out).await
    } else {
        read(request, tcp, skip, out).await
    }
}

async fn tls_connect(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let failed = |e: String| CliError::new("log_stream_failed", format!("TLS to {host}: {e}"));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| failed(e.to_string()))?
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| failed(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(tls)
}

async fn read<S: AsyncRead + AsyncWrite + Unpin>(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    stream: S,
    skip: u64,
    out: &mut (dyn Write + Send),
) -> Result<(u64, Ended)> {
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| CliError::new("log_stream_failed", format!("opening the log: {e}")))?;
    let mut seen: u64 = 0;
    let mut emit = |bytes: &[u8], seen: &mut u64| {
        let start = usize::try_from(skip.saturating_sub(*seen))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        *seen += bytes.len() as u64;
        let _ = out.write_all(&bytes[start..]);
        let _ = out.flush();
    };
    while let Some(msg) = socket.next().await {
        match msg {
            Ok(Message::Text(t)) => emit(t.as_bytes(), &mut seen),
            Ok(Message::Binary(b)) if b.is_empty() => return Ok((seen, Ended::Eof)),
            Ok(Message::Binary(b)) => emit(&b, &mut seen),
            Ok(Message::Close(_)) => return Ok((seen, Ended::Eof)),
            Ok(_) => {}
            Err(e) => return Ok((seen.max(skip), Ended::Lost(e.to_string()))),
        }
    }
    Ok((seen.max(skip), Ended::Eof))
}
