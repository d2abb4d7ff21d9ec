//! Login endpoints: password login (web cookie or CLI bearer session), logout, who-am-I,
//! OpenID Connect start and callback, and the CLI browser flow (`/auth/cli/start` and
//! `/auth/cli/complete`, polled by `rack-gateway login`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use rgw_core::rbac::Role;
use rgw_store::{NewUser, StoreError, User};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{SessionView, UserView, ts};
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::session::{self, IssuedSession};
use crate::auth::{
    Channel, Principal, RequestMeta, RequireUser, audit_event, csrf, local, oidc, tokens,
};
use crate::error::ApiError;

/// Body of `POST /auth/login`.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String)]
    pub password: SecretString,
    /// `web` (cookie, default) or `cli` (bearer session token in the response).
    #[serde(default = "default_channel")]
    pub channel: String,
}

fn default_channel() -> String {
    "web".into()
}

/// A successful login.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: UserView,
    /// CLI logins only: the bearer session token (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    pub expires_at: String,
    /// Web logins only: send it as `X-CSRF-Token` on unsafe requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Revokes the session in the request's cookie, if any (session rotation at login).
async fn revoke_cookie_session(state: &AppState, jar: &CookieJar) -> Result<(), ApiError> {
    let Some(c) = jar.get(session::cookie_name(&state.config)) else {
        return Ok(());
    };
    let secret = SecretString::from(c.value().to_owned());
    if let Some(found) = state.store.lookup_session(&tokens::hash(&secret)).await? {
        let s = found.session;
        state
            .store
            .revoke_session(s.id, Some(s.user_id), state.clock.now())
            .await?;
    }
    Ok(())
}

/// Issues a session for `user` and shapes the login response (cookie for the web).
async fn finish_login(
    state: &AppState,
    jar: CookieJar,
    user: &User,
    channel: Channel,
    meta: &RequestMeta,
    method: &str,
) -> Result<(CookieJar, LoginResponse), ApiError> {
    revoke_cookie_session(state, &jar).await?;
    let IssuedSession { token, session } =
        session::issue(state, user.id, channel, meta, None).await?;
    let event = AuditEvent::new(
        state.clock.now(),
        Actor::User {
            user_id: user.id,
            email: user.email.clone(),
        },
        format!("login.{method}"),
        Outcome::Success,
    )
    .resource(session.public_id.to_string())
    .details(json!({ "channel": channel.as_str() }));
    audit_event(state, meta.apply(event)).await;
    let expires_at = ts(session.idle_expires_at.min(session.absolute_expires_at));
    let user = UserView::from(user);
    Ok(match channel {
        Channel::Web => (
            jar.add(session::cookie(&state.config, &token)),
            LoginResponse {
                user,
                session_token: None,
                expires_at,
                csrf_token: Some(csrf::token_for(&state.keys, session.public_id)),
            },
        ),
        Channel::Cli => (
            jar,
            LoginResponse {
                user,
                session_token: Some(token.expose_secret().to_owned()),
                expires_at,
                csrf_token: None,
            },
        ),
    })
}

/// Logs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "invalid_credentials"),
              (status = 403, description = "account_suspended / account_locked"), (status = 429, description = "login_locked")))]
pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    Json(body): Json<LoginRequest>,
) -> Result<(CookieJar, Json<LoginResponse>), ApiError> {
    let channel = Channel::parse(&body.channel)
        .ok_or_else(|| ApiError::bad_request("invalid_channel", "channel is web or cli"))?;
    let user = local::password_login(&state, &body.email, &body.password, &meta).await?;
    let (jar, resp) = finish_login(&state, jar, &user, channel, &meta, "password").await?;
    Ok((jar, Json(resp)))
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    RequireUser(user): RequireUser,
) -> Result<(StatusCode, CookieJar), ApiError> {
    let now = state.clock.now();
    state
        .store
        .revoke_session(user.session_id, Some(user.user_id), now)
        .await?;
    let event = AuditEvent::new(
        now,
        Actor::User {
            user_id: user.user_id,
            email: user.email.clone(),
        },
        "logout",
        Outcome::Success,
    )
    .resource(user.session_public_id.to_string());
    audit_event(&state, meta.apply(event)).await;
    Ok((
        StatusCode::NO_CONTENT,
        jar.add(session::removal_cookie(&state.config)),
    ))
}

/// Who the caller is.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// `user` or `token`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The token's name (tokens only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: Option<Role>,
    pub permissions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionView>,
    /// Web sessions: the CSRF token for `X-CSRF-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    pub mfa_enrolled: bool,
    /// Tokens: the token's public id and owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_public_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
}

/// Describes the authenticated caller.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth", responses((status = 200, body = WhoAmI), (status = 401)))]
pub async fn whoami(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<WhoAmI>, ApiError> {
    let permissions = principal
        .permissions()
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    Ok(Json(match &principal {
        Principal::User(u) => {
            let s = state
                .store
                .get_session_by_public_id(u.session_public_id)
                .await?;
            WhoAmI {
                kind: "user".into(),
                email: Some(u.email.clone()),
                name: None,
                role: Some(u.role),
                permissions,
                session: Some(SessionView::new(&s, Some(s.id))),
                csrf_token: (u.channel == Channel::Web)
                    .then(|| csrf::token_for(&state.keys, u.session_public_id)),
                mfa_enrolled: u.mfa_enrolled,
                token_public_id: None,
                owner_email: None,
            }
        }
        Principal::Token(t) => WhoAmI {
            kind: "token".into(),
            email: None,
            name: Some(t.name.clone()),
            role: t.role,
            permissions,
            session: None,
            csrf_token: None,
            mfa_enrolled: false,
            token_public_id: Some(t.public_id),
            owner_email: Some(t.owner_email.clone()),
        },
    }))
}

/// Query of `GET /auth/oidc/start`.
#[derive(Deserialize, IntoParams)]
pub struct OidcStartQuery {
    /// Local path to return to after a web login.
    pub return_to: Option<String>,
    /// A CLI flow from `POST /auth/cli/start` (its `login_url` sets this).
    pub flow_id: Option<Uuid>,
}

fn flow_invalid(message: &str) -> ApiError {
    ApiError::bad_request("login_flow_invalid", message.to_owned())
}

/// Starts single sign-on: redirects (302) to the identity provider.
#[utoipa::path(get, path = "/api/v1/auth/oidc/start", tag = "auth", params(OidcStartQuery),
    responses((status = 302, description = "to the identity provider"), (status = 404, description = "oidc_not_configured")))]
pub async fn oidc_start(
    State(state): State<AppState>,
    Query(q): Query<OidcStartQuery>,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    oidc::provider(&state).await?;
    let flow = match q.flow_id {
        Some(id) => {
            let flow =
                state.store.get_login_flow(id).await.map_err(|_| {
                    flow_invalid("unknown login flow; run rack-gateway login again")
                })?;
            if flow.kind != "cli"
                || flow.status != "started"
                || flow.expires_at <= state.clock.now()
            {
                return Err(flow_invalid(
                    "this login link was used or has expired; run rack-gateway login again",
                ));
            }
            flow
        }
        None => {
            oidc::create_flow(
                &state,
                "web",
                oidc::safe_return_to(q.return_to.as_deref()),
                None,
            )
            .await?
        }
    };
    let url = oidc::authorize_url(&state, &flow).await?;
    let cookie = Cookie::build((oidc::STATE_COOKIE, flow.state.clone()))
        .http_only(true)
        .secure(session::cookie_secure(&state.config))
        .same_site(SameSite::Lax)
        .path("/api/v1/auth/oidc")
        .max_age(time::Duration::minutes(10))
        .build();
    Ok((
        jar.add(cookie),
        (StatusCode::FOUND, [(header::LOCATION, url.to_string())]),
    )
        .into_response())
}

/// Query of the OIDC callback.
#[derive(Deserialize, IntoParams)]
pub struct OidcCallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// Finds the user for a verified identity, creating it when auto-creation is configured.
async fn resolve_user(
    state: &AppState,
    id: &oidc::VerifiedIdentity,
    meta: &RequestMeta,
) -> Result<User, ApiError> {
    match state.store.get_user_by_email(id.email.as_str()).await {
        Ok(u) => return Ok(u),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(role) = state
        .config
        .oidc
        .as_ref()
        .and_then(|c| c.auto_create_role.clone())
    else {
        return Err(ApiError::forbidden(
            "user_not_invited",
            format!(
                "{} has no account on this gateway; ask an admin to add you",
                id.email
            ),
        ));
    };
    let now = state.clock.now();
    let user = state
        .store
        .create_user(
            &NewUser {
                email: id.email.to_string(),
                name: id.name.clone(),
                role: role.clone(),
                password_hash: None,
                is_service: false,
                mfa_enforced: true,
            },
            now,
        )
        .await?;
    let event = AuditEvent::new(now, Actor::System, "user.create", Outcome::Success)
        .resource(user.public_id.to_string())
        .details(json!({ "email": user.email, "role": role, "source": "oidc_auto_create" }));
    audit_event(state, meta.apply(event)).await;
    Ok(user)
}

/// The identity provider returns here; completes a web login (cookie + redirect) or a CLI flow.
#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", tag = "auth", params(OidcCallbackQuery),
    responses((status = 302, description = "web login done"), (status = 200, description = "CLI login done"), (status = 401), (status = 403)))]
pub async fn oidc_callback(
    State(state): State<AppState>,
    Query(q): Query<OidcCallbackQuery>,
    meta: RequestMeta,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let st = q.state.as_deref().unwrap_or_default();
    let flow = state
        .store
        .get_login_flow_by_state(st)
        .await
        .map_err(|_| flow_invalid("unknown login state; start the login again"))?;
    let bound = jar
        .get(oidc::STATE_COOKIE)
        .is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(st.as_bytes())));
    if !bound {
        return Err(flow_invalid(
            "this login was started in another browser; start it again here",
        ));
    }
    if flow.status != "started" || flow.expires_at <= state.clock.now() {
        return Err(flow_invalid(
            "this login was already used or has expired; start it again",
        ));
    }
    let fail = |reason: String, claimed: Option<String>| {
        meta.apply(
            AuditEvent::new(
                state.clock.now(),
                Actor::Anonymous { claimed },
                "login.oidc",
                Outcome::Failed,
            )
            .resource(flow.public_id.to_string())
            .details(json!({ "reason": reason, "flow": flow.kind })),
        )
    };
    let outcome = async {
        if let Some(err) = &q.error {
            return Err(ApiError::unauthorized(
                "oidc_denied",
                format!(
                    "the identity provider refused the login: {}",
                    err.chars().take(100).collect::<String>()
                ),
            ));
        }
        let code = q
            .code
            .as_deref()
            .ok_or_else(|| flow_invalid("the identity provider sent no code"))?;
        let identity = oidc::exchange(&state, &flow, code).await?;
        let user = resolve_user(&state, &identity, &meta)
            .await
            .map_err(|e| (e, identity.email.to_string()));
        let user = match user {
            Ok(u) => u,
            Err((e, _)) => return Err(e),
        };
        if let Some(refusal) = local::account_refusal(&user) {
            return Err(refusal);
        }
        Ok(user)
    }
    .await;
    let user = match outcome {
        Ok(u) => u,
        Err(e) => {
            state.store.fail_login_flow(flow.id).await?;
            audit_event(&state, fail(e.code().to_owned(), None)).await;
            return Err(e);
        }
    };
    if !state
        .store
        .complete_login_flow(flow.id, user.id, state.clock.now())
        .await?
    {
        return Err(flow_invalid(
            "this login was already used or has expired; start it again",
        ));
    }
    let jar = jar.remove(Cookie::build(oidc::STATE_COOKIE).path("/api/v1/auth/oidc"));
    if flow.kind == "cli" {
        let event = AuditEvent::new(
            state.clock.now(),
            Actor::User {
                user_id: user.id,
                email: user.email.clone(),
            },
            "login.oidc.cli_flow",
            Outcome::Success,
        )
        .resource(flow.public_id.to_string());
        audit_event(&state, meta.apply(event)).await;
        let page = "<!doctype html><title>rack-gateway</title><p>You are signed in. Return to your terminal to finish.</p>";
        return Ok((jar, Html(page)).into_response());
    }
    let (jar, _) = finish_login(&state, jar, &user, Channel::Web, &meta, "oidc").await?;
    let to = flow.redirect_to.clone().unwrap_or_else(|| "/".into());
    Ok((jar, (StatusCode::FOUND, [(header::LOCATION, to)])).into_response())
}

/// Body of `POST /auth/cli/start`.
#[derive(Deserialize, ToSchema)]
pub struct CliStartRequest {
    /// base64url(SHA-256(code_verifier)), 43 characters; the CLI keeps the verifier.
    pub code_challenge: String,
}

/// A started CLI login.
#[derive(Serialize, ToSchema)]
pub struct CliStartResponse {
    pub flow_id: Uuid,
    /// Open this in a browser.
    pub login_url: String,
    pub expires_at: String,
}

/// Starts a CLI browser login.
#[utoipa::path(post, path = "/api/v1/auth/cli/start", tag = "auth", request_body = CliStartRequest,
    responses((status = 200, body = CliStartResponse), (status = 404, description = "oidc_not_configured")))]
pub async fn cli_start(
    State(state): State<AppState>,
    Json(body): Json<CliStartRequest>,
) -> Result<Json<CliStartResponse>, ApiError> {
    oidc::provider(&state).await?;
    if !oidc::valid_pkce_string(&body.code_challenge) {
        return Err(ApiError::bad_request(
            "invalid_code_challenge",
            "code_challenge is base64url(SHA-256(verifier)), 43 characters",
        ));
    }
    let flow = oidc::create_flow(&state, "cli", None, Some(body.code_challenge)).await?;
    let mut url = state
        .config
        .public_url
        .join("/api/v1/auth/oidc/start")
        .map_err(|e| anyhow::anyhow!("RGW_PUBLIC_URL: {e}"))?;
    url.query_pairs_mut()
        .append_pair("flow_id", &flow.public_id.to_string());
    Ok(Json(CliStartResponse {
        flow_id: flow.public_id,
        login_url: url.to_string(),
        expires_at: ts(flow.expires_at),
    }))
}

/// Body of `POST /auth/cli/complete`.
#[derive(Deserialize, ToSchema)]
pub struct CliCompleteRequest {
    pub flow_id: Uuid,
    #[schema(value_type = String)]
    pub code_verifier: SecretString,
}

/// Collects the session of a finished CLI browser login: 202 `{"status":"pending"}` until the
/// browser side is done, then 200 with the session token, exactly once.
#[utoipa::path(post, path = "/api/v1/auth/cli/complete", tag = "auth", request_body = CliCompleteRequest,
    responses((status = 200, body = LoginResponse), (status = 202, description = "pending"), (status = 400), (status = 401), (status = 409)))]
pub async fn cli_complete(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<CliCompleteRequest>,
) -> Result<Response, ApiError> {
    let flow = state
        .store
        .get_login_flow(body.flow_id)
        .await
        .map_err(|_| flow_invalid("unknown login flow"))?;
    let expected = flow
        .cli_code_challenge
        .as_deref()
        .filter(|_| flow.kind == "cli")
        .ok_or_else(|| flow_invalid("not a CLI login flow"))?;
    let presented = oidc::s256(body.code_verifier.expose_secret());
    if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::unauthorized(
            "code_verifier_invalid",
            "the code_verifier does not match the flow's code_challenge",
        ));
    }
    let now = state.clock.now();
    match flow.status.as_str() {
        "started" if flow.expires_at > now => {
            return Ok((StatusCode::ACCEPTED, Json(json!({ "status": "pending" }))).into_response());
        }
        "failed" => {
            return Err(ApiError::unauthorized(
                "login_failed",
                "the browser login failed; run rack-gateway login again",
            ));
        }
        "consumed" => {
            return Err(ApiError::conflict(
                "login_flow_consumed",
                "this login was already collected",
            ));
        }
        "completed" => {}
        _ => {
            return Err(ApiError::unauthorized(
                "login_flow_expired",
                "the login expired; run rack-gateway login again",
            ));
        }
    }
    if !state.store.consume_login_flow(flow.id, now).await? {
        return Err(ApiError::conflict(
            "login_flow_consumed",
            "this login was already collected or has expired",
        ));
    }
    let user_id = flow
        .user_id
        .ok_or_else(|| anyhow::anyhow!("completed login flow {} has no user", flow.public_id))?;
    let user = state.store.get_user(user_id).await?;
    if let Some(refusal) = local::account_refusal(&user) {
        return Err(refusal);
    }
    let (_, resp) =
        finish_login(&state, CookieJar::new(), &user, Channel::Cli, &meta, "oidc").await?;
    if let Some(tok) = resp.session_token.as_deref() {
        let secret = SecretString::from(tok.to_owned());
        if let Some(found) = state.store.lookup_session(&tokens::hash(&secret)).await? {
            state
                .store
                .set_login_flow_session(flow.id, found.session.id)
                .await?;
        }
    }
    Ok((StatusCode::OK, Json(resp)).into_response())
}
