//! Websocket pass-through (logs, exec). The gateway authorizes the upgrade, dials the rack with
//! the rack's credentials and an `Origin` the rack accepts, then splices the two connections
//! byte for byte: Convox framing (text frames of raw bytes, the empty binary EOF frame, the
//! exit-code marker, pings) passes untouched because we never parse frames.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;

use super::idle::{Activity, TrackedIo};
use crate::rack::RackClient;

/// Whether the request asks for a websocket upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

/// The outcome of a relayed upgrade, for the audit trail.
pub struct Relayed {
    pub response: Response<Body>,
    pub status: StatusCode,
}

/// Dials the rack and, when it agrees to upgrade, splices the connections in a background task.
pub async fn relay(
    rack: &RackClient,
    mut req: Request<Body>,
    uri: Uri,
    mut upstream_headers: HeaderMap,
    idle: Duration,
) -> Result<Relayed, hyper_util::client::legacy::Error> {
    if req.headers().contains_key(header::ORIGIN) {
        // The rack's gorilla/websocket origin check wants Origin's host to equal Host.
        let origin = format!("{}://{}", rack.base().scheme(), rack.authority());
        if let Ok(v) = HeaderValue::from_str(&origin) {
            upstream_headers.insert(header::ORIGIN, v);
        }
    }
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut upstream = Request::new(Body::empty());
    *upstream.method_mut() = Method::GET;
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = upstream_headers;
    let mut resp = rack.send(upstream).await?;
    let status = resp.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, body) = resp.into_parts();
        super::headers::downstream_response_headers(&mut parts.headers, false);
        return Ok(Relayed {
            response: Response::from_parts(parts, Body::new(body)),
            status,
        });
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let mut headers = resp.headers().clone();
    super::headers::downstream_response_headers(&mut headers, true);
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "websocket upgrade failed after the handshake");
                return;
            }
        };
        let activity = Activity::new();
        let mut client = TrackedIo::new(TokioIo::new(client), activity.clone());
        let mut upstream = TrackedIo::new(TokioIo::new(upstream), activity.clone());
        tokio::select! {
            r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "websocket relay ended with an error");
                }
            }
            _ = activity.idle_timeout(idle) => {
                tracing::info!(idle_secs = idle.as_secs(), "websocket relay cut after idle timeout");
            }
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = headers;
    Ok(Relayed { response, status })
}
