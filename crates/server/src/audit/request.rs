//! What the audit trail knows about the HTTP request being served.
//!
//! - Request ids are the gateway's own: [`strip_client_request_id`] (outermost middleware)
//!   removes an incoming `X-Request-Id` before `SetRequestIdLayer` mints one, and keeps the
//!   client's value, sanitised, as [`ClientRequestId`]. Every event recorded while serving the
//!   request gets the gateway's id and `details.client_request_id` (see [`annotate`]), so a
//!   caller cannot make its call look like part of someone else's.
//! - Every denial is audited once: [`layer`] runs each request inside a task-local
//!   [`RequestAudit`]; the `Principal` extractor notes the actor there, the auditor notes every
//!   non-success event recorded, and when the JSON API answers 401/403 ([`crate::error::Denied`]
//!   on the response) without any handler having recorded a denial or failure, the layer records
//!   one `access.denied` event (actor when known, route, code).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use rgw_core::audit::AuditRecord;
use rgw_core::text::clip;
use serde_json::{Value, json};

use super::{Actor, AuditEvent, Outcome};
use crate::app::{AppState, REQUEST_ID};
use crate::auth::extract::header_text;
use crate::error::Denied;

/// Longest client request id kept.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The `X-Request-Id` a client sent, sanitised (printable ASCII, at most 128 characters).
/// Informational only: never used as the gateway's request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequestId(pub String);

impl ClientRequestId {
    /// Sanitises a header value; `None` when nothing printable is left.
    pub fn sanitize(raw: &[u8]) -> Option<ClientRequestId> {
        let kept: String = raw
            .iter()
            .filter(|b| b.is_ascii_graphic())
            .take(MAX_CLIENT_REQUEST_ID)
            .map(|b| char::from(*b))
            .collect();
        (!kept.is_empty()).then_some(ClientRequestId(kept))
    }
}

/// Middleware (outermost): takes the client's `X-Request-Id` off the request so that the
/// gateway always mints its own, and keeps the client's value as [`ClientRequestId`].
pub async fn strip_client_request_id(mut req: Request, next: Next) -> Response {
    // `remove` drops every value of the header and returns the first.
    if let Some(id) = req
        .headers_mut()
        .remove(&REQUEST_ID)
        .and_then(|v| ClientRequestId::sanitize(v.as_bytes()))
    {
        req.extensions_mut().insert(id);
    }
    next.run(req).await
}

/// The audit context of one request.
#[derive(Debug)]
pub struct RequestAudit {
    request_id: Option<String>,
    client_request_id: Option<String>,
    method: Method,
    /// The request path, at most 512 bytes (for denial events and log lines).
    path: String,
    actor: Mutex<Option<Actor>>,
    /// Set when any denied, failed or error event was recorded for this request.
    refusal_recorded: AtomicBool,
}

tokio::task_local! {
    static CURRENT: Arc<RequestAudit>;
}

/// Notes who is calling (from the `Principal` extractor), for denials audited later.
pub fn note_actor(actor: Actor) {
    let _ = CURRENT.try_with(|ctx| {
        *ctx.actor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(actor);
    });
}

/// The request being served by the current task, for log lines (see `telemetry`): its
/// gateway request id, method and path. `None` outside a request.
pub fn log_context<T>(f: impl FnOnce(Option<&str>, &Method, &str) -> T) -> Option<T> {
    CURRENT
        .try_with(|ctx| f(ctx.request_id.as_deref(), &ctx.method, &ctx.path))
        .ok()
}

/// Adds the request's ids to a record about to be stored, and notes refusals. Called by the
/// auditor for every event; a no-op outside a request.
pub(crate) fn annotate(record: &mut AuditRecord) {
    let _ = CURRENT.try_with(|ctx| {
        if record.request_id.is_none() {
            record.request_id = ctx.request_id.clone();
        }
        if let Some(client) = &ctx.client_request_id {
            if !record.details.is_object() {
                record.details = json!({});
            }
            if let Value::Object(map) = &mut record.details {
                map.entry("client_request_id")
                    .or_insert_with(|| Value::String(client.clone()));
            }
        }
        if record.outcome != Outcome::Success.as_str() {
            ctx.refusal_recorded.store(true, Ordering::Relaxed);
        }
    });
}

/// Middleware: runs the request in its audit context, audits unrecorded API denials, and logs
/// server errors (5xx) with the request's id, method, path and latency.
///
/// It replaces a per-request `tracing` span: with the text or JSON formatter a span costs a
/// registry slot and its formatted fields on every request (~3.5% of the gateway's CPU on the
/// proxy hot path), while the same context is read from this task-local only when a line is
/// actually logged (`telemetry`). What only a denial needs (peer, user agent, route) is read
/// from the request after the fact, as cheap handles rather than copied strings.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req.headers().get(&REQUEST_ID).and_then(header_text);
    let user_agent = req.headers().get(http::header::USER_AGENT).cloned();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0);
    let ctx = Arc::new(RequestAudit {
        request_id,
        client_request_id: req
            .extensions()
            .get::<ClientRequestId>()
            .map(|c| c.0.clone()),
        method: req.method().clone(),
        path: clip(req.uri().path(), 512).to_owned(),
        actor: Mutex::new(None),
        refusal_recorded: AtomicBool::new(false),
    });

    let resp = CURRENT.scope(ctx.clone(), next.run(req)).await;

    let status = resp.status();
    if status.is_server_error() {
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let request_id = ctx.request_id.as_deref().unwrap_or_default();
        // One line per server error with its latency; the code that failed has logged why
        // (`ApiError::Internal`, an unreachable rack, an unreadable setting).
        tracing::warn!(method = %ctx.method, path = %ctx.path, request_id, status = status.as_u16(), latency_ms, "request answered with a server error");
    }
    let Some(denied) = resp.extensions().get::<Denied>().cloned() else {
        return resp;
    };
    if !(status.as_u16() == 401 || status.as_u16() == 403)
        || ctx.refusal_recorded.load(Ordering::Relaxed)
    {
        return resp;
    }
    let actor = ctx
        .actor
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or(Actor::Anonymous { claimed: None });
    let event = AuditEvent::new(state.clock.now(), actor, "access.denied", Outcome::Denied)
        .resource(format!("{} {}", ctx.method, ctx.path))
        .request(
            peer.map(|p| p.ip().to_string()),
            user_agent.as_ref().and_then(header_text),
            ctx.request_id.clone(),
        )
        .http(
            status.as_u16(),
            i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        )
        .details(json!({
            "method": ctx.method.as_str(),
            "route": route.as_ref().map_or(ctx.path.as_str(), MatchedPath::as_str),
            "code": denied.code,
            "reason": denied.message,
        }));
    CURRENT.scope(ctx, state.auditor.record(event)).await;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn log_lines_see_the_request_only_while_it_is_served() {
        let ctx = Arc::new(RequestAudit {
            request_id: Some("0190-id".into()),
            client_request_id: None,
            method: Method::POST,
            path: "/api/v1/rack-proxy/apps".into(),
            actor: Mutex::new(None),
            refusal_recorded: AtomicBool::new(false),
        });
        let seen =
            |id: Option<&str>, m: &Method, p: &str| format!("{} {m} {p}", id.unwrap_or_default());
        let inside = CURRENT.scope(ctx, async { log_context(seen) }).await;
        assert_eq!(
            inside.as_deref(),
            Some("0190-id POST /api/v1/rack-proxy/apps")
        );
        assert_eq!(log_context(seen), None);
    }

    #[test]
    fn client_request_ids_are_printable_and_bounded() {
        assert_eq!(
            ClientRequestId::sanitize(b"abc 123\x07def"),
            Some(ClientRequestId("abc123def".into()))
        );
        assert_eq!(ClientRequestId::sanitize(b" \t"), None);
        assert_eq!(
            ClientRequestId::sanitize(&[b'x'; 500]).unwrap().0.len(),
            MAX_CLIENT_REQUEST_ID
        );
    }
}
