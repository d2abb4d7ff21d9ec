//! The rack proxy: `/api/v1/rack-proxy/{path}` forwards the Convox rack API so that
//! `RACK_URL=https://convox:<token>@gateway/api/v1/rack-proxy` makes the stock `convox` CLI work
//! through the gateway. Every request is authenticated, matched against the route table
//! (unknown routes are refused), authorized, forwarded with the rack's credentials, streamed in
//! both directions and audited once.

mod browser;
mod filter;
mod form;
mod forward;
mod gate;
mod headers;
mod idle;
mod release_create;
mod respond;
mod websocket;

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header::USER_AGENT;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::any;
use rgw_core::approval::{check_run_headers, privileged_run_headers};
use rgw_core::rbac::{
    CallerKind, Decision, DeployAction, GateSettings, decide, match_route, needs_settings,
    step_up_is_fresh,
};

use crate::app::{AppState, REQUEST_ID};
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::extract::header_text;
use crate::auth::{Principal, authenticate_for_method};

pub use filter::{EnvView, Filter};
pub(crate) use idle::IdleBody;
pub use respond::{rack_error, wants_json};

/// Where the rack API is mounted on the gateway.
pub const PREFIX: &str = "/api/v1/rack-proxy";

/// The proxy's routes (not in the OpenAPI document: they are the Convox API, documented by
/// Convox; the OpenAPI document describes the mount point only).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PREFIX, any(handle))
        .route(&format!("{PREFIX}/"), any(handle))
        .route(&format!("{PREFIX}/{{*path}}"), any(handle))
}

/// What the audit event of one proxied call says.
struct Trail {
    started: Instant,
    actor: Actor,
    ip: String,
    user_agent: Option<String>,
    request_id: Option<String>,
    method: String,
    path: String,
    app: Option<String>,
    permission: Option<String>,
    route: Option<String>,
    /// The deploy approval the call was bound to, if gated.
    approval: Option<uuid::Uuid>,
    /// Gate and run-header details for the event.
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Trail {
    fn event(
        &self,
        state: &AppState,
        outcome: Outcome,
        status: StatusCode,
        reason: Option<&str>,
    ) -> AuditEvent {
        let mut details = serde_json::json!({
            "method": self.method,
            "route": self.route,
            "permission": self.permission,
        });
        if let Some(r) = reason {
            details["reason"] = serde_json::Value::String(r.to_string());
        }
        for (k, v) in &self.extra {
            details[k.as_str()] = v.clone();
        }
        let mut ev = AuditEvent::new(
            state.clock.now(),
            self.actor.clone(),
            "rack.request",
            outcome,
        )
        .resource(format!("{} {}", self.method, self.path))
        .request(
            Some(self.ip.clone()),
            self.user_agent.clone(),
            self.request_id.clone(),
        )
        .http(status.as_u16(), self.started.elapsed().as_millis() as i64)
        .details(details);
        ev.app = self.app.clone();
        ev.deploy_approval_request_id = self.approval;
        ev
    }
}

async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request<Body>,
) -> Response {
    let json = wants_json(req.headers());
    let path = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
        .to_string();
    let user_agent = req.headers().get(USER_AGENT).and_then(header_text);
    let request_id = req.headers().get(&REQUEST_ID).and_then(header_text);
    let mut trail = Trail {
        started: Instant::now(),
        actor: Actor::Anonymous { claimed: None },
        ip: peer.ip().to_string(),
        user_agent,
        request_id,
        method: req.method().as_str().to_string(),
        path: path.clone(),
        app: None,
        permission: None,
        route: None,
        approval: None,
        extra: serde_json::Map::new(),
    };

    // The MFA middleware has usually authenticated the caller already; reuse who it found,
    // but apply the proxy's own browser checks (Origin, CSRF) whatever it decided.
    let is_upgrade = websocket::is_upgrade(req.headers());
    // Taken, not cloned: nothing after this reads it from the request.
    let known = req.extensions_mut().remove::<Principal>();
    let authenticated = match known {
        Some(p) => Ok(p),
        None => authenticate_for_method(&state, req.method(), req.headers()).await,
    };
    let principal = match authenticated {
        Ok(p) => p,
        Err(e) => {
            let status = e.status();
            let msg = e.to_string();
            state
                .auditor
                .record(trail.event(&state, Outcome::Denied, status, Some(&msg)))
                .await;
            return rack_error(status, &msg, json);
        }
    };
    trail.actor = principal.audit_actor();
    if let Err(e) = browser::check(&state, &principal, req.method(), req.headers(), is_upgrade) {
        let (status, msg) = (e.status(), e.to_string());
        state
            .auditor
            .record(trail.event(&state, Outcome::Denied, status, Some(&msg)))
            .await;
        return rack_error(status, &msg, json);
    }

    if let Some(msg) = headers::connection_refusal(req.headers()) {
        return deny(&state, &trail, StatusCode::BAD_REQUEST, &msg, json).await;
    }

    let Some(matched) = match_route(req.method().as_str(), is_upgrade, &path) else {
        // The path comes back in the answer and the audit event: a bounded excerpt of it.
        let msg = format!(
            "{} {} is not a rack API route the gateway forwards",
            req.method(),
            rgw_core::text::clip(&path, 512)
        );
        state
            .auditor
            .record(trail.event(&state, Outcome::Denied, StatusCode::NOT_FOUND, Some(&msg)))
            .await;
        return rack_error(StatusCode::NOT_FOUND, &msg, json);
    };
    trail.app = matched.app().map(|a| a.to_string());
    trail.route = Some(matched.rule.display_pattern());
    trail.permission = matched.rule.access.permission().map(|p| p.to_string());

    let action = matched.rule.deploy_action;
    let now = state.clock.now();
    let run_headers = if matches!(action, DeployAction::ProcessRun | DeployAction::ProcessExec) {
        privileged_run_headers(req.headers().keys().map(|k| k.as_str()))
    } else {
        Vec::new()
    };
    // Settings cost a lookup (cached): read them only when the decision can use them.
    let probe = match &principal {
        Principal::User(_) => CallerKind::Human { mfa_fresh: false },
        Principal::Token(_) => CallerKind::Token,
    };
    let settings = if needs_settings(matched.rule, probe) || !run_headers.is_empty() {
        match crate::settings::gate_settings(&state, trail.app.as_deref()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "reading the gate's settings failed");
                let msg = "the gateway cannot read its deploy settings; refusing the call rather than guessing, retry shortly";
                return deny(&state, &trail, StatusCode::SERVICE_UNAVAILABLE, msg, json).await;
            }
        }
    } else {
        GateSettings::default()
    };
    let caller = match &principal {
        Principal::User(u) => CallerKind::Human {
            mfa_fresh: step_up_is_fresh(u.mfa_verified_at, now, settings.step_up_window_minutes),
        },
        Principal::Token(_) => CallerKind::Token,
    };
    if let Some((status, msg)) = run_header_refusal(&principal, caller, &run_headers, &settings) {
        return deny(&state, &trail, status, &msg, json).await;
    }
    if !run_headers.is_empty() {
        trail
            .extra
            .insert("run_headers".into(), serde_json::json!(run_headers));
    }
    let gated = match decide(matched.rule, caller, |p| principal.allows(p), &settings) {
        Decision::Allow => None,
        Decision::Deny(denial) => {
            let status = StatusCode::from_u16(denial.status()).unwrap_or(StatusCode::FORBIDDEN);
            trail.extra.insert("code".into(), denial.code().into());
            return deny(&state, &trail, status, &denial.to_string(), json).await;
        }
        Decision::RequiresApproval(action) => Some(action),
    };

    let outcome = match gated {
        None => forward::forward(&state, &principal, req, &path, is_upgrade, json).await,
        Some(action) => {
            let mut gate_trail = gate::GateTrail::default();
            let call = gate::Call {
                matched: &matched,
                action,
                req,
                path: &path,
                is_upgrade,
                json,
            };
            let result = gate::run(&state, &principal, call, &mut gate_trail).await;
            trail.approval = gate_trail.approval;
            if let Some(step) = gate_trail.step {
                trail.extra.insert("step".into(), step.into());
            }
            match result {
                Ok(ok) => Ok(ok),
                Err(gate::GateError::Failed(f)) => Err(f),
                Err(gate::GateError::Denied(d)) => {
                    let status = StatusCode::from_u16(d.status()).unwrap_or(StatusCode::FORBIDDEN);
                    trail.extra.insert("code".into(), d.code().into());
                    return deny(&state, &trail, status, &d.to_string(), json).await;
                }
            }
        }
    };
    let (response, status, reason) = match outcome {
        Ok((resp, status)) => (resp, status, None),
        Err(failure) => {
            let status = failure.status;
            let resp = rack_error(status, &failure.message, json);
            (resp, status, Some(failure.message))
        }
    };
    let outcome = match status.as_u16() {
        0..=399 => Outcome::Success,
        400..=499 => Outcome::Failed,
        _ => Outcome::Error,
    };
    state
        .auditor
        .record(trail.event(&state, outcome, status, reason.as_deref()))
        .await;
    response
}

/// Audits a refusal and answers it in the rack's error convention.
async fn deny(
    state: &AppState,
    trail: &Trail,
    status: StatusCode,
    msg: &str,
    json: bool,
) -> Response {
    state
        .auditor
        .record(trail.event(state, Outcome::Denied, status, Some(msg)))
        .await;
    rack_error(status, msg, json)
}

/// Run headers that change what runs (`Image`, `Privileged`, `Volumes`, `Environment`,
/// `Release`): refused to every non-admin human, and to API tokens except `Release` (the gate
/// checks it names the approved release); admins need fresh MFA to use them.
fn run_header_refusal(
    principal: &Principal,
    caller: CallerKind,
    headers: &[&'static str],
    settings: &GateSettings,
) -> Option<(StatusCode, String)> {
    let first = *headers.first()?;
    match (principal, caller) {
        (Principal::Token(_), _) => check_run_headers(headers.iter().copied())
            .err()
            .map(|d| (StatusCode::FORBIDDEN, d.to_string())),
        (Principal::User(_), _) if !is_admin(principal) => Some((
            StatusCode::FORBIDDEN,
            format!(
                "the {first} run header is only allowed for admins; run the process without it"
            ),
        )),
        (Principal::User(_), CallerKind::Human { mfa_fresh: false }) => Some((
            StatusCode::UNAUTHORIZED,
            format!(
                "the {first} run header needs MFA verified within the last {} minutes; verify again and retry",
                settings.step_up_window_minutes
            ),
        )),
        _ => None,
    }
}

/// Whether a principal sees unmasked secrets.
fn is_admin(principal: &Principal) -> bool {
    principal.role() == Some(rgw_core::rbac::Role::Admin)
}
