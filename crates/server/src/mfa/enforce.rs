//! MFA enforcement for user sessions. With `mfa_require_all_users` (default true) or the
//! user's own `mfa_enforced` flag, a session whose user has no MFA enrolled may only reach the
//! exempt endpoints (whoami, logout, MFA enrolment) and gets 403 `mfa_enrollment_required`
//! elsewhere; a session of an enrolled user that has not verified MFA gets 401 `mfa_required`.
//! API tokens are not subject to this gate (they carry no second factor and can never satisfy
//! approval-bound MFA, see [`super::bound`]).
//!
//! The decision is the pure [`gate`]; [`check`] loads its inputs for a [`UserPrincipal`]; and
//! [`layer`] is the middleware that applies it to every non-exempt route (it authenticates
//! once and leaves the [`Principal`] in the request extensions, where the extractor reuses it).
//! Every refusal of the layer is audited (`mfa.required`, outcome `denied`).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rgw_core::text::clip;

use crate::app::AppState;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::RequestMeta;
use crate::auth::principal::{Principal, UserPrincipal};
use crate::error::ApiError;

/// Paths a session without (verified) MFA may still reach: health, the API document, login,
/// logout and who-am-I, the MFA endpoints themselves (enrolment and verification), and of the
/// web UI only sign-in, sign-out, the MFA challenge and enrolment pages and static assets.
/// Everything else, including every other web page and unknown paths, is gated.
pub fn is_exempt(path: &str) -> bool {
    const PREFIXES: &[&str] = &["/api/v1/auth/", "/api/v1/mfa/", "/static/"];
    const EXACT: &[&str] = &[
        "/healthz",
        "/readyz",
        "/api/v1/openapi.json",
        "/login",
        "/logout",
        "/mfa",
        "/mfa/enroll",
        "/mfa/enroll/confirm",
        "/favicon.ico",
    ];
    EXACT.contains(&path) || PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Middleware: refuses user sessions that MFA policy holds at enrolment or verification on
/// every non-exempt path. Requests without valid credentials pass through unchanged, so the
/// handler answers them with its usual 401 (or, for pages, the sign-in redirect).
///
/// Web pages (outside `/api/`) are answered with a redirect to the MFA challenge or enrolment
/// page instead of JSON. Their forms carry the CSRF token in the body, which the page handler
/// checks, so here a page request is authenticated by its cookie alone and the principal is
/// only handed on for safe methods (an unsafe one must authenticate again with its token).
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if is_exempt(path) {
        return next.run(req).await;
    }
    let page = !path.starts_with("/api/");
    let method = if page {
        axum::http::Method::GET
    } else {
        req.method().clone()
    };
    let principal = crate::auth::authenticate_for_method(&state, &method, req.headers()).await;
    if let Ok(principal) = principal {
        if let Principal::User(user) = &principal
            && let Err(e) = check(&state, user).await
        {
            let event = refusal_event(&state, &req, user, &e);
            state.auditor.record(event).await;
            if page {
                let to = if e.code() == "mfa_enrollment_required" {
                    "/mfa/enroll"
                } else {
                    "/mfa"
                };
                return axum::response::Redirect::to(to).into_response();
            }
            // Rack proxy callers are the convox CLI: answer in the rack's error convention.
            if req.uri().path().starts_with(crate::proxy::PREFIX) {
                let json = crate::proxy::wants_json(req.headers());
                return crate::proxy::rack_error(e.status(), &e.to_string(), json);
            }
            return e.into_response();
        }
        if !page || req.method().is_safe() {
            req.extensions_mut().insert(principal);
        }
    }
    next.run(req).await
}

/// The audit event of a refusal of this layer (`mfa.required`, outcome `denied`).
fn refusal_event(
    state: &AppState,
    req: &Request,
    user: &UserPrincipal,
    e: &ApiError,
) -> AuditEvent {
    let path = clip(req.uri().path(), 512).to_owned();
    let actor = Principal::User(user.clone()).audit_actor();
    let event = AuditEvent::new(state.clock.now(), actor, "mfa.required", Outcome::Denied)
        .resource(format!("{} {path}", req.method()));
    RequestMeta::from_request(req.headers(), req.extensions())
        .apply(event)
        .http(e.status().as_u16(), 0)
        .details(serde_json::json!({
            "method": req.method().as_str(),
            "route": path,
            "code": e.code(),
            "reason": e.to_string(),
        }))
}

/// What a session may do with respect to MFA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// MFA is satisfied (or not required).
    Open,
    /// The user must enrol a factor first.
    EnrollmentRequired,
    /// The user has a factor but this session has not verified it.
    VerificationRequired,
}

/// The pure decision.
pub fn gate(required: bool, enrolled: bool, session_verified: bool) -> Gate {
    match (required, enrolled, session_verified) {
        (_, true, true) => Gate::Open,
        (_, true, false) => Gate::VerificationRequired,
        (true, false, _) => Gate::EnrollmentRequired,
        (false, false, _) => Gate::Open,
    }
}

/// Whether every user must have MFA (`mfa_require_all_users`: environment, then the stored
/// setting, then the default, true). An unreadable value counts as true (fail closed).
pub async fn require_all_users(state: &AppState) -> bool {
    match crate::settings::bool_setting(state, "mfa_require_all_users", None).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "reading mfa_require_all_users; requiring MFA");
            true
        }
    }
}

/// Whether the user has a confirmed TOTP or at least one security key.
pub async fn enrolled(state: &AppState, user_id: i64) -> Result<bool, ApiError> {
    let totp = state
        .store
        .get_totp_credential(user_id)
        .await?
        .is_some_and(|c| c.confirmed_at.is_some());
    if totp {
        return Ok(true);
    }
    Ok(!state
        .store
        .list_webauthn_credentials(user_id)
        .await?
        .is_empty())
}

/// Refuses a session that MFA policy does not yet allow past the enrolment endpoints.
pub async fn check(state: &AppState, user: &UserPrincipal) -> Result<(), ApiError> {
    let required = if require_all_users(state).await {
        true
    } else {
        state.store.get_user(user.user_id).await?.mfa_enforced
    };
    match gate(required, user.mfa_enrolled, user.mfa_verified_at.is_some()) {
        Gate::Open => Ok(()),
        Gate::EnrollmentRequired => Err(ApiError::forbidden(
            "mfa_enrollment_required",
            "enrol an authenticator app or security key first (rack-gateway mfa enroll totp, or the web UI)",
        )),
        Gate::VerificationRequired => Err(ApiError::unauthorized(
            "mfa_required",
            "verify MFA for this session first (POST /api/v1/mfa/verify)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sign_in_mfa_pages_and_assets_are_exempt_outside_the_api() {
        for open in [
            "/login",
            "/logout",
            "/mfa",
            "/mfa/enroll",
            "/static/abc/app.css",
            "/api/v1/auth/login",
            "/api/v1/mfa/verify",
            "/healthz",
        ] {
            assert!(is_exempt(open), "{open}");
        }
        for gated in [
            "/",
            "/deploy-approvals",
            "/deploy-approvals/x",
            "/admin/users",
            "/mfa/backup-codes",
            "/loginx",
            "/nope",
            "/api/v1/deploy-approval-requests",
            "/api/v1/rack-proxy/apps",
        ] {
            assert!(!is_exempt(gated), "{gated}");
        }
    }

    #[test]
    fn the_gate_demands_enrolment_then_verification() {
        assert_eq!(gate(true, false, false), Gate::EnrollmentRequired);
        assert_eq!(gate(true, true, false), Gate::VerificationRequired);
        assert_eq!(gate(true, true, true), Gate::Open);
        assert_eq!(gate(false, false, false), Gate::Open);
        assert_eq!(gate(false, true, false), Gate::VerificationRequired);
    }
}
