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
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
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
    let mut upstream_headers = upstream_request_headers(
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

    // The handler matched this route already; matching again keeps this module's interface
    // to `handle` unchanged (the route decides how strictly the answer is filtered).
    let method = req.method().as_str().to_owned();
    let matched = rgw_core::rbac::match_route(&method, false, path);
    let pattern = matched.as_ref().map(|m| m.rule.pattern).unwrap_or_default();
    let app = matched
        .as_ref()
        .and_then(|m| m.app())
        .map(|a| a.to_string());
    let filter = filter::for_route(&method, pattern);
    if filter != Filter::Raw {
        // Ask for an answer we can read; `decode` still copes with gzip if the rack sends it.
        upstream_headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    if pattern == EXPORT_PATTERN
        && let Some(m) = &matched
    {
        refuse_credentialed_export(&rack, m).await?;
    }

    let (parts, body) = req.into_parts();
    let body = if parts.method == Method::POST && pattern == RELEASES_PATTERN {
        // The body is buffered and may be rewritten: let hyper set the new length.
        upstream_headers.remove(header::CONTENT_LENGTH);
        let app = app
            .as_deref()
            .ok_or_else(|| Failure::new(StatusCode::BAD_REQUEST, "no app in the path"))?;
        super::release_create::guard(&rack, principal, app, &parts, body).await?
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

    let bodiless = parts.method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if filter == Filter::Raw || !status.is_success() || bodiless {
        return Ok((
            Response::from_parts(head, Body::new(IdleBody::new(body, idle))),
            status,
        ));
    }
    // JSON answers are small; buffer them (bounded) to filter secrets.
    let bytes = http_body_util::Limited::new(IdleBody::new(body, idle), filter::MAX_FILTERED_BODY)
        .collect()
        .await
        .map_err(|e| {
            let message = if e.is::<http_body_util::LengthLimitError>() {
                format!(
                    "the rack's answer is larger than {} MiB; the gateway refuses to pass on a body it cannot filter for secrets",
                    filter::MAX_FILTERED_BODY >> 20
                )
            } else {
                format!("reading the rack's answer failed: {e}")
            };
            Failure::new(StatusCode::BAD_GATEWAY, message)
        })?
        .to_bytes();
    let header_text = |name: header::HeaderName| {
        head.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let refused = |e: filter::FilterError| Failure::new(StatusCode::BAD_GATEWAY, e.to_string());
    let decoded = filter::decode(&bytes, header_text(header::CONTENT_ENCODING).as_deref())
        .map_err(refused)?;
    let inspected = if filter == Filter::Inspect && !filter::may_need_rewrite(&decoded) {
        filter::Inspected::Text
    } else {
        filter::inspect(
            &decoded,
            header_text(header::CONTENT_TYPE).as_deref(),
            filter,
        )
        .map_err(refused)?
    };
    let out = match inspected {
        filter::Inspected::Text => decoded,
        filter::Inspected::Json(mut value) => {
            let view = env_view(principal);
            let names = if view.needs_secret_names() {
                secret_names(state, filter::apps_to_mask(&value, app.as_deref())).await?
            } else {
                filter::SecretNames::new()
            };
            if filter::apply(&mut value, view, app.as_deref(), &names).map_err(refused)? {
                filter::render(&value)
            } else {
                decoded
            }
        }
    };
    let out = filter::scrub(out, rack_password(state));
    head.headers.remove(header::CONTENT_ENCODING);
    head.headers.remove(header::CONTENT_LENGTH);
    if let Ok(len) = HeaderValue::from_str(&out.len().to_string()) {
        head.headers.insert(header::CONTENT_LENGTH, len);
    }
    Ok((Response::from_parts(head, Body::from(out)), status))
}

/// `POST /apps/{app}/releases`.
const RELEASES_PATTERN: &str = "/apps/{app:app}/releases";
/// `GET /apps/{app}/builds/{id}.tgz`.
const EXPORT_PATTERN: &str = "/apps/{app:app}/builds/{id:build}.tgz";

/// A build export is a gzip tarball whose `build.json` is the raw build, `repository`
/// included; the gateway does not rewrite tarballs, so it refuses to export a build whose
/// repository carries credentials (external builds on k8s embed the rack password there).
async fn refuse_credentialed_export(
    rack: &RackClient,
    matched: &rgw_core::RouteMatch,
) -> Result<(), Failure> {
    let (Some(app), Some(build)) = (matched.app(), matched.build_id()) else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "no app or build id in the path",
        ));
    };
    let value = rack_json(rack, &format!("/apps/{app}/builds/{build}"), "the build").await?;
    let repo = value
        .get("repository")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if filter::has_credentials(repo) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            format!(
                "build {build} is an external build whose repository URL carries the rack's credentials; the gateway does not export it"
            ),
        ));
    }
    Ok(())
}

/// A JSON document read from the rack with the gateway's own credentials.
pub(super) async fn rack_json(
    rack: &RackClient,
    path: &str,
    what: &str,
) -> Result<serde_json::Value, Failure> {
    let fail = |m: String| Failure::new(StatusCode::BAD_GATEWAY, m);
    let uri = rack.uri(path).map_err(|e| fail(format!("{e:#}")))?;
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, rack.authorization().clone())
        .header(header::ACCEPT, "application/json")
        .header(header::ACCEPT_ENCODING, "identity")
        .body(Body::empty())
        .map_err(|e| fail(e.to_string()))?;
    let resp = rack.send(req).await.map_err(|e| unreachable(rack, &e))?;
    let status = resp.status();
    if !status.is_success() {
        // A 4xx (no such release or build) is the caller's to fix: pass the status on.
        let answer = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_GATEWAY
        };
        return Err(Failure::new(
            answer,
            format!("reading {what} from the rack failed with {status}"),
        ));
    }
    let encoding = resp
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = http_body_util::Limited::new(resp.into_body(), filter::MAX_FILTERED_BODY)
        .collect()
        .await
        .map_err(|e| fail(format!("reading {what} failed: {e}")))?
        .to_bytes();
    let decoded = filter::decode(&bytes, encoding.as_deref()).map_err(|e| fail(e.to_string()))?;
    serde_json::from_slice(&decoded)
        .map_err(|e| fail(format!("{what} from the rack is not JSON: {e}")))
}

pub(super) fn env_view(principal: &Principal) -> EnvView {
    EnvView {
        can_read: principal.allows(&rgw_core::rbac::Permission::ENV_READ),
        is_admin: super::is_admin(principal),
    }
}

/// Each app's `secret_env_vars`. A setting that cannot be read refuses the answer rather
/// than masking less than the operator asked for.
async fn secret_names(
    state: &AppState,
    apps: std::collections::BTreeSet<Option<String>>,
) -> Result<filter::SecretNames, Failure> {
    let mut names = filter::SecretNames::new();
    for app in apps {
        let list = match &app {
            // No app known: the name patterns still apply; per-app names cannot.
            None => Vec::new(),
            Some(a) => crate::settings::list_setting(state, "secret_env_vars", Some(a))
                .await
                .map_err(|e| {
                    tracing::warn!(app = %a, error = %e, "reading secret_env_vars");
                    Failure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the gateway could not read the secret_env_vars setting of app {a}; it refuses to show release envs rather than mask less"
                        ),
                    )
                })?,
        };
        names.insert(app, list);
    }
    Ok(names)
}

fn rack_password(state: &AppState) -> &str {
    state
        .config
        .rack
        .as_ref()
        .map(|r| r.password.expose_secret())
        .unwrap_or_default()
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
