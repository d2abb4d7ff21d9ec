//! User administration (admins): list, invite/create, suspend, reinstate, unlock, delete.
//! Every handler checks its permission first (`gateway:user:read` / `gateway:user:manage`) and
//! every change is stored in the same transaction as its audit event (both or neither). Suspension and deletion revoke the user's sessions; their API
//! tokens stop at once because each request re-reads the owner's status.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rgw_core::Email;
use rgw_core::rbac::{Permission, Role};
use rgw_store::{NewUser, StoreError, StoreTx, User};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::UserView;
use crate::app::AppState;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::{Principal, RequestMeta, password, throttle};
use crate::error::ApiError;

/// 400 for an unknown or token-only role, naming the valid ones.
pub fn parse_user_role(raw: &str) -> Result<Role, ApiError> {
    Role::parse_for_user(raw).map_err(|e| {
        ApiError::bad_request(
            "invalid_role",
            format!("{e}; valid user roles: viewer, ops, deployer, admin"),
        )
    })
}

/// 400 for a malformed email.
pub fn parse_email(raw: &str) -> Result<Email, ApiError> {
    Email::parse(raw.trim()).map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))
}

/// Lists users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = [UserView]), (status = 403)))]
pub async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<UserView>>, ApiError> {
    principal.require(&Permission::USER_READ)?;
    let users = state.store.list_users().await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

/// Body of `POST /users`.
#[derive(Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub email: String,
    /// `viewer`, `ops`, `deployer` or `admin`.
    pub role: String,
    #[serde(default)]
    pub name: String,
    /// Optional password for local login (omit for single sign-on users).
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// Creates (invites) a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = 400), (status = 403), (status = 409)))]
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Json(body): Json<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    manager(&state, &principal).await?;
    let email = parse_email(&body.email)?;
    let role = parse_user_role(&body.role)?;
    let password_hash = match body.password {
        Some(pw) => {
            password::validate_new(&pw).map_err(|m| ApiError::bad_request("weak_password", m))?;
            Some(password::hash(&state, pw).await?)
        }
        None => None,
    };
    let now = state.clock.now();
    let new = NewUser {
        email: email.to_string(),
        name: body.name.trim().chars().take(200).collect(),
        role: role.as_str().to_owned(),
        password_hash,
        is_service: false,
        mfa_enforced: true,
    };
    let mut tx = state.store.begin().await?;
    let user = tx.create_user(&new, now).await.map_err(|e| match e {
        StoreError::Conflict { .. } => ApiError::conflict(
            "user_exists",
            format!("a user with email {email} already exists"),
        ),
        other => other.into(),
    })?;
    let event = AuditEvent::new(
        now,
        principal.audit_actor(),
        "user.create",
        Outcome::Success,
    )
    .resource(user.public_id.to_string())
    .details(json!({ "email": user.email, "role": user.role }));
    let logged = state
        .auditor
        .append_in_tx(&mut tx, meta.apply(event))
        .await?;
    tx.commit().await?;
    logged.log();
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Who may create, suspend, reinstate, unlock or delete accounts: an admin's session with
/// fresh MFA (see `step_up`).
async fn manager(state: &AppState, principal: &Principal) -> Result<i64, ApiError> {
    super::step_up::fresh_human(
        state,
        principal,
        &Permission::USER_MANAGE,
        "api_tokens_cannot_manage_users",
        "managing user accounts",
    )
    .await
}

async fn target(
    state: &AppState,
    principal: &Principal,
    public_id: Uuid,
) -> Result<User, ApiError> {
    manager(state, principal).await?;
    let user = state
        .store
        .get_user_by_public_id(public_id)
        .await
        .ok()
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("user_not_found", format!("no user {public_id}")))?;
    Ok(user)
}

fn not_self(principal: &Principal, user: &User, what: &str) -> Result<(), ApiError> {
    if principal.as_user().is_some_and(|u| u.user_id == user.id) {
        return Err(ApiError::conflict(
            "cannot_change_self",
            format!("you cannot {what} your own account"),
        ));
    }
    Ok(())
}

/// Appends the change's audit event to `tx` and commits both: a user change is never stored
/// without its event (a failed audit write rolls the change back and answers 500).
async fn commit_audited(
    state: &AppState,
    mut tx: StoreTx,
    principal: &Principal,
    meta: &RequestMeta,
    action: &str,
    user: &User,
) -> Result<(), ApiError> {
    let event = AuditEvent::new(
        state.clock.now(),
        principal.audit_actor(),
        action,
        Outcome::Success,
    )
    .resource(user.public_id.to_string())
    .details(json!({ "email": user.email }));
    let logged = state
        .auditor
        .append_in_tx(&mut tx, meta.apply(event))
        .await?;
    tx.commit().await?;
    logged.log();
    Ok(())
}

/// Suspends a user: their sessions end and their API tokens stop working.
#[utoipa::path(post, path = "/api/v1/users/{public_id}/suspend", tag = "users", params(("public_id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 403), (status = 404)))]
pub async fn suspend_user(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(public_id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    let user = target(&state, &principal, public_id).await?;
    not_self(&principal, &user, "suspend")?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_user_suspended(user.id, Some(now), now).await?;
    tx.revoke_user_sessions(user.id, Some(principal.acting_user_id()), now)
        .await?;
    commit_audited(&state, tx, &principal, &meta, "user.suspend", &user).await?;
    Ok(Json(UserView::from(&state.store.get_user(user.id).await?)))
}

/// Reinstates a suspended user.
#[utoipa::path(post, path = "/api/v1/users/{public_id}/unsuspend", tag = "users", params(("public_id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 403), (status = 404)))]
pub async fn unsuspend_user(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(public_id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    let user = target(&state, &principal, public_id).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.set_user_suspended(user.id, None, now).await?;
    commit_audited(&state, tx, &principal, &meta, "user.unsuspend", &user).await?;
    Ok(Json(UserView::from(&state.store.get_user(user.id).await?)))
}

/// Unlocks a user (MFA lock and the temporary login lockout).
#[utoipa::path(post, path = "/api/v1/users/{public_id}/unlock", tag = "users", params(("public_id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 403), (status = 404)))]
pub async fn unlock_user(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(public_id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    let user = target(&state, &principal, public_id).await?;
    let mut tx = state.store.begin().await?;
    tx.unlock_user(user.id, state.clock.now()).await?;
    commit_audited(&state, tx, &principal, &meta, "user.unlock", &user).await?;
    throttle::clear(&state, &throttle::password_key(&user.email)).await?;
    Ok(Json(UserView::from(&state.store.get_user(user.id).await?)))
}

/// Deletes a user (soft delete: history keeps the row). Sessions and tokens stop at once.
#[utoipa::path(delete, path = "/api/v1/users/{public_id}", tag = "users", params(("public_id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(public_id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let user = target(&state, &principal, public_id).await?;
    not_self(&principal, &user, "delete")?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.soft_delete_user(user.id, now).await?;
    tx.revoke_user_sessions(user.id, Some(principal.acting_user_id()), now)
        .await?;
    commit_audited(&state, tx, &principal, &meta, "user.delete", &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
