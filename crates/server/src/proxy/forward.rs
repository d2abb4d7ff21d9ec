//! Forwarding one authorized call to the rack: plain HTTP streamed both ways, websocket
//! upgrades spliced, and the few secret-bearing routes rewritten.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;

use super::filter::{self, EnvView, Filter};
use super::headers::{downstream_response_headers, upstream_request_headers};
use super::idle::IdleBody;
use super::websocket;
use crate::app::AppState;
use crate::auth::Principal;
use crate::rack::RackClient;

/// A call that failed before the rack answered, with the status and message for the caller.
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// Largest env-write form we buffer to restore masked values.
const MAX_FORM: usize = 1024 * 1024;

/// Whether deploy approvals are enforced for `app` (setting `deploy_approvals_enabled`).
pub async fn approvals_enabled(state: &AppState, app: Option<&str>) -> bool {
    crate::settings::bool_setting(state, "deploy_approvals_enabled", app)
        .await
        .unwrap_or(true)
}

/// Forwards the request; returns the response and its status for the audit trail.
pub async fn forward(
    state: &AppState,
    principal: &Principal,
    req: Request<Body>,
    path: &str,
    is_upgrade: bool,
    _json: bool,
) -> Result<(Response<Body>, StatusCode), Failure> {
    let rack = state.rack.clone().ok_or_else(|| {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway has no rack configured; set RGW_RACK_URL",
        )
    })?;
    let idle = Duration::from_secs(state.config.rack_idle_timeout_secs);
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let uri = rack
        .uri(&format!("{path}{query}"))
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    let upstream_headers = upstream_request_headers(
        req.headers(),
        rack.authorization(),
        &principal.actor_label(),
        req.headers().get("x-request-id"),
        is_upgrade,
    );

    if is_upgrade {
        let relayed = websocket::relay(&rack, req, uri, upstream_headers, idle)
            .await
            .map_err(|e| unreachable(&rack, &e))?;
        return Ok((relayed.response, relayed.status));
    }

    let filter = filter::for_path(path);
    let app = app_of(path);
    let (parts, body) = req.into_parts();
    let mut upstream_headers = upstream_headers;
    let body = if parts.method == Method::POST && filter == Filter::Releases {
        // The body is buffered and may be rewritten: let hyper set the new length.
        upstream_headers.remove(header::CONTENT_LENGTH);
        restore_masked_env(state, &rack, principal, app.as_deref(), body).await?
    } else {
        Body::new(IdleBody::new(body, idle))
    };
    let mut upstream = Request::new(body);
    *upstream.method_mut() = parts.method.clone();
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = upstream_headers;

    let resp = tokio::time::timeout(idle, rack.send(upstream))
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the rack did not answer within {} s", idle.as_secs()),
            )
        })?
        .map_err(|e| unreachable(&rack, &e))?;
    let status = resp.status();
    let (mut head, body) = resp.into_parts();
    downstream_response_headers(&mut head.headers, false);

    if filter == Filter::None || !status.is_success() {
        return Ok((
            Response::from_parts(head, Body::new(IdleBody::new(body, idle))),
            status,
        ));
    }
    // Release and build objects are small JSON; buffer them (bounded) to filter secrets.
    let bytes = http_body_util::Limited::new(IdleBody::new(body, idle), filter::MAX_FILTERED_BODY)
        .collect()
        .await
        .map_err(|e| {
            Failure::new(
                StatusCode::BAD_GATEWAY,
                format!("reading the rack's answer failed: {e}"),
            )
        })?
        .to_bytes();
    let view = env_view(state, principal, app.as_deref()).await;
    let password = rack_password(state);
    let out = filter::rewrite_json(&bytes, filter, &view, &password)
        .unwrap_or_else(|| filter::scrub(&bytes, &password));
    head.headers.remove(header::CONTENT_LENGTH);
    if let Ok(len) = HeaderValue::from_str(&out.len().to_string()) {
        head.headers.insert(header::CONTENT_LENGTH, len);
    }
    Ok((Response::from_parts(head, Body::from(out)), status))
}

/// `POST /apps/{app}/releases` with `env=`: a caller who read a masked env and writes it back
/// must not overwrite secrets with the placeholder. Callers who may not read the env may not
/// write one either (they would wipe values they never saw).
async fn restore_masked_env(
    state: &AppState,
    rack: &RackClient,
    principal: &Principal,
    app: Option<&str>,
    body: Body,
) -> Result<Body, Failure> {
    let form = http_body_util::Limited::new(body, MAX_FORM)
        .collect()
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "release create bodies are limited to 1 MiB",
            )
        })?
        .to_bytes();
    if filter::form_field(&form, "env").is_none() {
        return Ok(Body::from(form));
    }
    let view = env_view(state, principal, app).await;
    if !view.can_read {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "writing a release env requires convox:env:read, so that values you cannot see are not wiped",
        ));
    }
    if !String::from_utf8_lossy(&form).contains("%2A%2A%2A%2A%2A%2A%2A%2A")
        && !String::from_utf8_lossy(&form).contains("********")
    {
        return Ok(Body::from(form));
    }
    let app = app.ok_or_else(|| Failure::new(StatusCode::BAD_REQUEST, "no app in the path"))?;
    let stored = stored_env(rack, app, filter::form_field(&form, "parent-release")).await?;
    match filter::unmask_form(&form, &stored) {
        Ok(Some(rewritten)) => Ok(Body::from(rewritten)),
        Ok(None) => Ok(Body::from(form)),
        Err(e) => Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
    }
}

/// The env of the parent release (or the newest release) straight from the rack.
async fn stored_env(
    rack: &RackClient,
    app: &str,
    parent: Option<String>,
) -> Result<String, Failure> {
    let path = match parent {
        Some(id) => format!("/apps/{app}/releases/{id}"),
        None => format!("/apps/{app}/releases?limit=1"),
    };
    let fail = |m: String| Failure::new(StatusCode::BAD_GATEWAY, m);
    let uri = rack.uri(&path).map_err(|e| fail(format!("{e:#}")))?;
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, rack.authorization().clone())
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .map_err(|e| fail(e.to_string()))?;
    let resp = rack.send(req).await.map_err(|e| unreachable(rack, &e))?;
    if !resp.status().is_success() {
        return Err(fail(format!(
            "reading the current env from the rack failed with {}",
            resp.status()
        )));
    }
    let bytes = http_body_util::Limited::new(resp.into_body(), filter::MAX_FILTERED_BODY)
        .collect()
        .await
        .map_err(|e| fail(format!("reading the current env failed: {e}")))?
        .to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| fail(format!("the rack's release is not JSON: {e}")))?;
    let release = match &value {
        serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
        other => other.clone(),
    };
    Ok(release
        .get("env")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string())
}

async fn env_view(state: &AppState, principal: &Principal, app: Option<&str>) -> EnvView {
    let can_read = rgw_core::rbac::Permission::parse("convox:env:read")
        .map(|p| principal.allows(&p))
        .unwrap_or(false);
    let extra_secret_names = match app {
        Some(app) => crate::settings::list_setting(state, "secret_env_vars", Some(app))
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    EnvView {
        can_read,
        is_admin: super::is_admin(principal),
        extra_secret_names,
    }
}

fn rack_password(state: &AppState) -> String {
    state
        .config
        .rack
        .as_ref()
        .map(|r| r.password.expose_secret().to_string())
        .unwrap_or_default()
}

fn app_of(path: &str) -> Option<String> {
    let mut segs = path.trim_start_matches('/').split('/');
    match (segs.next(), segs.next()) {
        (Some("apps"), Some(app)) if !app.is_empty() => Some(app.to_string()),
        _ => None,
    }
}

fn unreachable(rack: &RackClient, e: &hyper_util::client::legacy::Error) -> Failure {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut chain = Vec::new();
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    tracing::warn!(rack = %rack.base(), error = %chain.join(": "), "rack unreachable");
    Failure::new(
        StatusCode::BAD_GATEWAY,
        format!(
            "the rack at {} is unreachable: {}",
            rack.base(),
            chain.join(": ")
        ),
    )
}
