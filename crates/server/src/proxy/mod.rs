//! The rack proxy: `/api/v1/rack-proxy/{path}` forwards the Convox rack API so that
//! `RACK_URL=https://convox:<token>@gateway/api/v1/rack-proxy` makes the stock `convox` CLI work
//! through the gateway. Every request is authenticated, matched against the route table
//! (unknown routes are refused), authorized, forwarded with the rack's credentials, streamed in
//! both directions and audited once.

mod browser;
mod filter;
mod forward;
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
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::any;
use rgw_core::rbac::{Decision, decide, match_route};

use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
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
        ev
    }
}

async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response {
    let json = wants_json(req.headers());
    let path = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
        .to_string();
    let user_agent = header_text(req.headers(), "user-agent");
    let request_id = header_text(req.headers(), "x-request-id");
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
    };

    // The MFA middleware has usually authenticated the caller already; reuse who it found,
    // but apply the proxy's own browser checks (Origin, CSRF) whatever it decided.
    let is_upgrade = websocket::is_upgrade(req.headers());
    let known = req.extensions().get::<Principal>().cloned();
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

    let Some(matched) = match_route(req.method().as_str(), is_upgrade, &path) else {
        let msg = format!(
            "{} {} is not a rack API route the gateway forwards",
            req.method(),
            path
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

    // `decide` reads `approvals_enabled` only for approval-gated callers on approval steps: skip
    // the settings lookup (a database round trip) on every other proxied call.
    let approvals_enabled = if principal.allows(&rgw_core::rbac::Permission::DEPLOY_WITH_APPROVAL)
        && matched.rule.deploy_action.is_approval_step()
    {
        crate::proxy::forward::approvals_enabled(&state, trail.app.as_deref()).await
    } else {
        true
    };
    match decide(matched.rule, |p| principal.allows(p), approvals_enabled) {
        Decision::Allow => {}
        Decision::Deny(denial) => {
            let msg = denial.to_string();
            state
                .auditor
                .record(trail.event(&state, Outcome::Denied, StatusCode::FORBIDDEN, Some(&msg)))
                .await;
            return rack_error(StatusCode::FORBIDDEN, &msg, json);
        }
        Decision::RequiresApproval(_) => {
            // The approval workflow (requests, approvals, the deploy chain) lands separately;
            // until a live approval can exist, every approval-gated step is refused.
            let msg = match (&trail.app, matched.rule.deploy_action) {
                (Some(app), _) => format!(
                    "deploy approval required on app {app}: no live deploy approval targets token {}",
                    principal.actor_label()
                ),
                (None, _) => "deploy approval required".to_string(),
            };
            state
                .auditor
                .record(trail.event(&state, Outcome::Denied, StatusCode::FORBIDDEN, Some(&msg)))
                .await;
            return rack_error(StatusCode::FORBIDDEN, &msg, json);
        }
    }

    let outcome = forward::forward(&state, &principal, req, &path, is_upgrade, json).await;
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

fn header_text(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Whether a principal sees unmasked secrets.
fn is_admin(principal: &Principal) -> bool {
    principal.role() == Some(rgw_core::rbac::Role::Admin)
}
