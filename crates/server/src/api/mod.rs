//! The JSON API under `/api/v1` owned by identity: login and logout, who-am-I, OpenID Connect
//! and the CLI browser login, sessions, API tokens and user administration. Wire types shared
//! by these handlers live here; every time is RFC 3339 text.

pub mod audit;
pub mod auth;
pub mod mfa;
pub mod sessions;
pub mod settings;
pub mod step_up;
pub mod tokens;
pub mod users;

use rgw_store::{ApiToken, Session, User};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;

/// The identity routes, for `app::api_routes`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::whoami))
        .routes(routes!(auth::sso::oidc_start))
        .routes(routes!(auth::sso::oidc_callback))
        .routes(routes!(auth::sso::cli_start))
        .routes(routes!(auth::sso::cli_confirm))
        .routes(routes!(auth::sso::cli_complete))
        .routes(routes!(sessions::list_sessions))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::delete_user))
        .routes(routes!(users::suspend_user))
        .routes(routes!(users::unsuspend_user))
        .routes(routes!(users::unlock_user))
        .routes(routes!(audit::list_audit_events))
        .routes(routes!(audit::export_audit_events))
}

pub(crate) fn ts(t: OffsetDateTime) -> String {
    rgw_core::wire::rfc3339(t)
}

pub(crate) fn ts_opt(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(ts)
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub public_id: Uuid,
    pub email: String,
    pub name: String,
    /// `viewer`, `ops`, `deployer` or `admin`.
    pub role: String,
    /// A service user owns CI tokens and cannot log in.
    pub is_service: bool,
    pub suspended_at: Option<String>,
    pub locked_at: Option<String>,
    pub lock_reason: Option<String>,
    /// Whether the user has a password (local login).
    pub has_password: bool,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            public_id: u.public_id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.clone(),
            is_service: u.is_service,
            suspended_at: ts_opt(u.suspended_at),
            locked_at: ts_opt(u.locked_at),
            lock_reason: u.lock_reason.clone(),
            has_password: u.password_hash.is_some(),
            created_at: ts(u.created_at),
        }
    }
}

/// A session as the API shows it (never its token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub public_id: Uuid,
    /// `web` or `cli`.
    pub channel: String,
    pub created_at: String,
    pub last_seen_at: String,
    /// When it ends without further activity (idle or absolute, whichever is first).
    pub expires_at: String,
    pub absolute_expires_at: String,
    pub mfa_verified_at: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub revoked_at: Option<String>,
    /// The session making this request.
    pub current: bool,
}

impl SessionView {
    pub(crate) fn new(s: &Session, current_id: Option<i64>) -> Self {
        SessionView {
            public_id: s.public_id,
            channel: s.channel.clone(),
            created_at: ts(s.created_at),
            last_seen_at: ts(s.last_seen_at),
            expires_at: ts(s.idle_expires_at.min(s.absolute_expires_at)),
            absolute_expires_at: ts(s.absolute_expires_at),
            mfa_verified_at: ts_opt(s.mfa_verified_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            revoked_at: ts_opt(s.revoked_at),
            current: current_id == Some(s.id),
        }
    }
}

/// An API token as the API shows it (never the secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub public_id: Uuid,
    pub name: String,
    pub owner_email: String,
    /// The role the token was created with, if any.
    pub role: Option<String>,
    /// The explicit permission list (empty when scoped by role).
    pub permissions: Vec<String>,
    pub expires_at: Option<String>,
    /// Updated at most once a minute per gateway process.
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub created_at: String,
}

impl ApiTokenView {
    pub(crate) fn new(t: &ApiToken, owner_email: &str) -> Self {
        ApiTokenView {
            public_id: t.public_id,
            name: t.name.clone(),
            owner_email: owner_email.to_owned(),
            role: t.role.clone(),
            permissions: t.permissions.0.clone(),
            expires_at: ts_opt(t.expires_at),
            last_used_at: ts_opt(t.last_used_at),
            revoked_at: ts_opt(t.revoked_at),
            created_at: ts(t.created_at),
        }
    }
}
