//! Admin pages for people and credentials: users (role, status, suspend, reinstate, unlock,
//! sessions and their revocation) and API tokens (create with a role, shown once; revoke).
//! Each action calls the API's own handler, which checks the permission, writes the change and
//! its audit event together; the pages only hide what the caller may not use.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use rgw_core::rbac::Permission;
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::context::{Chrome, WebError, WebForm, WebUser, see_other};
use super::pages::render;
use crate::api::sessions::{SessionsQuery, list_sessions, revoke_session};
use crate::api::tokens::{CreateTokenRequest, create_token, list_tokens, revoke_token};
use crate::api::users::{
    CreateUserRequest, create_user, list_users, suspend_user, unlock_user, unsuspend_user,
};
use crate::api::{ApiTokenView, SessionView, UserView};
use crate::app::AppState;
use crate::auth::RequestMeta;
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserView>,
    can_manage: bool,
    error: Option<String>,
    notice: Option<String>,
}

async fn users_page(
    state: &AppState,
    u: &WebUser,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let Json(users) = list_users(State(state.clone()), u.principal.clone()).await?;
    Ok(render(
        status,
        &UsersPage {
            chrome: Chrome::for_user(state, &u.user, "users"),
            users,
            can_manage: u.principal.allows(&Permission::USER_MANAGE),
            error,
            notice,
        },
    ))
}

/// `GET /admin/users`.
pub async fn users(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    users_page(&state, &u, StatusCode::OK, None, None).await
}

/// The new-user form.
#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Answers a form action: the list again with the outcome.
async fn after(
    state: &AppState,
    u: &WebUser,
    result: Result<String, ApiError>,
) -> Result<Response, WebError> {
    match result {
        Ok(notice) => users_page(state, u, StatusCode::OK, None, Some(notice)).await,
        Err(e) if let Some(to) = super::context::step_up_redirect(&e, "/admin/users") => Ok(to),
        Err(e) if e.status().is_client_error() => {
            users_page(state, u, e.status(), Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/users`: creates a user.
pub async fn create(
    State(state): State<AppState>,
    meta: RequestMeta,
    WebForm { user, form }: WebForm<NewUserForm>,
) -> Result<Response, WebError> {
    let body = CreateUserRequest {
        email: form.email,
        role: form.role,
        name: form.name,
        password: Some(form.password)
            .filter(|p| !p.is_empty())
            .map(SecretString::from),
    };
    let r = create_user(
        State(state.clone()),
        user.principal.clone(),
        meta,
        Json(body),
    )
    .await
    .map(|(_, Json(v))| format!("Created {} ({}).", v.email, v.role));
    after(&state, &user, r).await
}

/// `POST /admin/users/{id}/{action}`: suspend, reinstate or unlock.
pub async fn act(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path((id, action)): Path<(Uuid, String)>,
    WebForm { user, .. }: WebForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let (s, p) = (State(state.clone()), user.principal.clone());
    let r = match action.as_str() {
        "suspend" => suspend_user(s, p, meta, Path(id))
            .await
            .map(|v| ("Suspended", v)),
        "unsuspend" => unsuspend_user(s, p, meta, Path(id))
            .await
            .map(|v| ("Reinstated", v)),
        "unlock" => unlock_user(s, p, meta, Path(id))
            .await
            .map(|v| ("Unlocked", v)),
        _ => Err(ApiError::not_found("unknown_action", "no such user action")),
    };
    after(
        &state,
        &user,
        r.map(|(what, Json(v))| format!("{what} {}.", v.email)),
    )
    .await
}

#[derive(Template)]
#[template(path = "admin_sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    email: String,
    id: Uuid,
    sessions: Vec<SessionView>,
    can_revoke: bool,
}

/// `GET /admin/users/{id}/sessions`: a user's live sessions.
pub async fn sessions(
    State(state): State<AppState>,
    u: WebUser,
    Path(id): Path<Uuid>,
) -> Result<Response, WebError> {
    u.principal.require(&Permission::SESSION_READ)?;
    let target = state
        .store
        .get_user_by_public_id(id)
        .await
        .map_err(|_| ApiError::not_found("user_not_found", format!("no user {id}")))?;
    let q = SessionsQuery {
        user: Some(target.email.clone()),
    };
    let Json(sessions) = list_sessions(State(state.clone()), u.principal.clone(), Query(q)).await?;
    Ok(render(
        StatusCode::OK,
        &SessionsPage {
            chrome: Chrome::for_user(&state, &u.user, "users"),
            email: target.email,
            id,
            sessions,
            can_revoke: u.principal.allows(&Permission::SESSION_REVOKE),
        },
    ))
}

/// `POST /admin/users/{id}/sessions/{session}/revoke`.
pub async fn end_session(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path((id, session)): Path<(Uuid, Uuid)>,
    WebForm { user, .. }: WebForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    revoke_session(State(state), user.principal.clone(), meta, Path(session)).await?;
    Ok(see_other(&format!("/admin/users/{id}/sessions")))
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<ApiTokenView>,
    can_manage: bool,
    roles: &'static [&'static str],
    error: Option<String>,
    /// A token just created: its secret, shown this once.
    created: Option<(String, String)>,
}

async fn tokens_page(
    state: &AppState,
    u: &WebUser,
    status: StatusCode,
    error: Option<String>,
    created: Option<(String, String)>,
) -> Result<Response, WebError> {
    let Json(tokens) = list_tokens(State(state.clone()), u.principal.clone()).await?;
    Ok(render(
        status,
        &TokensPage {
            chrome: Chrome::for_user(state, &u.user, "tokens"),
            tokens,
            can_manage: u.principal.allows(&Permission::API_TOKEN_MANAGE),
            roles: &["cicd", "viewer", "ops", "deployer", "admin"],
            error,
            created,
        },
    ))
}

/// `GET /admin/tokens`.
pub async fn tokens(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    tokens_page(&state, &u, StatusCode::OK, None, None).await
}

/// The new-token form.
#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    owner_email: String,
    #[serde(default)]
    expires_in_days: String,
}

/// `POST /admin/tokens`: creates a token and shows its secret once (the page is `no-store`).
pub async fn create_api_token(
    State(state): State<AppState>,
    meta: RequestMeta,
    WebForm { user, form }: WebForm<NewTokenForm>,
) -> Result<Response, WebError> {
    let days = match form.expires_in_days.trim() {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let msg = "Expiry must be a whole number of days (or empty for none).";
                return tokens_page(
                    &state,
                    &user,
                    StatusCode::BAD_REQUEST,
                    Some(msg.into()),
                    None,
                )
                .await;
            }
        },
    };
    let body = CreateTokenRequest {
        name: form.name,
        role: Some(form.role).filter(|r| !r.is_empty()),
        permissions: None,
        expires_in_days: days,
        owner_email: Some(form.owner_email.trim().to_owned()).filter(|e| !e.is_empty()),
    };
    match create_token(
        State(state.clone()),
        user.principal.clone(),
        meta,
        Json(body),
    )
    .await
    {
        Ok((_, Json(c))) => {
            let created = Some((c.api_token.name.clone(), c.token));
            tokens_page(&state, &user, StatusCode::CREATED, None, created).await
        }
        Err(e) if e.status().is_client_error() => {
            tokens_page(&state, &user, e.status(), Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_api_token(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    WebForm { user, .. }: WebForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    match revoke_token(State(state.clone()), user.principal.clone(), meta, Path(id)).await {
        Ok(_) => Ok(see_other("/admin/tokens")),
        Err(e) if e.status().is_client_error() => {
            tokens_page(&state, &user, e.status(), Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}
