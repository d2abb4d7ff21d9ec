//! Login endpoints: password login (web cookie or CLI bearer session), logout, who-am-I,
//! OpenID Connect start and callback, and the CLI browser flow (`/auth/cli/start` and
//! `/auth/cli/complete`, polled by `rack-gateway login`) in [`sso`].

pub mod sso;
mod sso_identity;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum_extra::extract::cookie::CookieJar;
use rgw_core::rbac::Role;
use rgw_store::User;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{SessionView, UserView, ts};
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::session::{self, IssuedSession};
use crate::auth::{Channel, Principal, RequestMeta, RequireUser, audit_event, csrf, local, tokens};
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
pub(super) async fn finish_login(
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
