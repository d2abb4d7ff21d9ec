//! API tokens: create (shown once), list, revoke.
//!
//! Rules: a token is scoped by exactly one of a role or an explicit permission list validated
//! against the catalogue (`*` segments expand to known permissions). Nobody creates a token
//! with more power than they hold themselves. Users create tokens for themselves; creating one
//! for another owner, and any token-authenticated creation, needs `gateway:api-token:manage`.
//! Listing shows the caller's own tokens, or all with `gateway:api-token:read`.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rgw_core::TokenName;
use rgw_core::rbac::{KNOWN_PERMISSIONS, Permission, Role};
use rgw_store::{ApiToken, NewApiToken, StoreError, User};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApiTokenView;
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::principal::NEVER_FOR_TOKENS;
use crate::auth::{Principal, RequestMeta, tokens};
use crate::error::ApiError;

/// Longest token lifetime accepted.
pub const MAX_EXPIRY_DAYS: i64 = 3650;

/// Body of `POST /api-tokens`.
#[derive(Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    pub name: String,
    /// A role (`viewer`, `ops`, `deployer`, `admin`, `cicd`); or give `permissions`.
    pub role: Option<String>,
    /// Explicit permission strings (`<scope>:<resource>:<action>`, `*` allowed as a segment).
    pub permissions: Option<Vec<String>>,
    pub expires_in_days: Option<i64>,
    /// Owner (default: the caller, or the calling token's owner).
    pub owner_email: Option<String>,
}

/// A created token: the secret is in `token` and is never shown again.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    pub api_token: ApiTokenView,
}

/// A validated token scope.
#[derive(Debug, Clone)]
pub struct TokenScope {
    pub role: Option<Role>,
    pub permissions: Vec<Permission>,
}

impl TokenScope {
    /// Exactly one of a role or a non-empty permission list; unknown permissions are refused
    /// with the list of valid ones.
    pub fn parse(
        role: Option<&str>,
        permissions: Option<&[String]>,
    ) -> Result<TokenScope, ApiError> {
        match (role, permissions) {
            (Some(r), None) => {
                let role = Role::parse(r.trim())
                    .map_err(|e| ApiError::bad_request("invalid_role", e.to_string()))?;
                Ok(TokenScope {
                    role: Some(role),
                    permissions: role.permissions().to_vec(),
                })
            }
            (None, Some(list)) if !list.is_empty() => {
                let set: BTreeSet<Permission> = Permission::parse_set(list).map_err(|e| {
                    let valid: Vec<&str> = KNOWN_PERMISSIONS.iter().map(|p| p.as_str()).collect();
                    ApiError::bad_request(
                        "unknown_permission",
                        format!("{e}. Valid permissions: {}", valid.join(", ")),
                    )
                })?;
                Ok(TokenScope {
                    role: None,
                    permissions: set.into_iter().collect(),
                })
            }
            _ => Err(ApiError::bad_request(
                "invalid_token_scope",
                "give a token exactly one of role or a non-empty permissions list",
            )),
        }
    }

    /// The stored permission list (empty for role-scoped tokens).
    pub fn stored_permissions(&self) -> Vec<String> {
        match self.role {
            Some(_) => Vec::new(),
            None => self
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
        }
    }
}

/// 403 when the creator lacks a permission the token would hold. Permissions no token may use
/// (approving) are ignored: granting them gives nothing.
fn check_no_escalation(principal: &Principal, scope: &TokenScope) -> Result<(), ApiError> {
    if let Some(missing) = scope
        .permissions
        .iter()
        .find(|p| !NEVER_FOR_TOKENS.contains(p) && !principal.allows(p))
    {
        return Err(ApiError::forbidden(
            "token_scope_exceeds_caller",
            format!("you cannot give a token {missing}: you do not hold it yourself"),
        ));
    }
    Ok(())
}

/// Parses `expires_in_days` into a duration.
pub fn parse_expiry_days(days: Option<i64>) -> Result<Option<Duration>, ApiError> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_EXPIRY_DAYS).contains(&d) => Ok(Some(Duration::days(d))),
        Some(_) => Err(ApiError::bad_request(
            "invalid_expiry",
            format!("expires_in_days is between 1 and {MAX_EXPIRY_DAYS}"),
        )),
    }
}

/// What to create: the validated parts of a token request.
#[derive(Debug, Clone, Copy)]
pub struct TokenSpec<'a> {
    pub name: &'a TokenName,
    pub scope: &'a TokenScope,
    pub owner: &'a User,
    pub expires_in: Option<Duration>,
    /// The creating user, if a user created it.
    pub created_by: Option<i64>,
}

/// Stores a new token and its audit event in one transaction; returns the secret (once) and
/// the row. A failed audit write stores no token.
pub async fn create_and_audit(
    state: &AppState,
    actor: Actor,
    spec: TokenSpec<'_>,
    meta: &RequestMeta,
) -> Result<(secrecy::SecretString, ApiToken), ApiError> {
    let TokenSpec {
        name,
        scope,
        owner,
        expires_in,
        created_by,
    } = spec;
    let now = state.clock.now();
    let secret = tokens::generate_api_token();
    let new = NewApiToken {
        name: name.to_string(),
        token_hash: tokens::hash(&secret),
        owner_user_id: owner.id,
        created_by_user_id: created_by,
        role: scope.role.map(|r| r.as_str().to_owned()),
        permissions: scope.stored_permissions(),
        expires_at: expires_in.map(|d| now + d),
    };
    // The token and its audit event commit together: a token is never usable unaudited.
    let mut tx = state.store.begin().await?;
    let row = tx.create_api_token(&new, now).await.map_err(|e| match e {
        StoreError::Conflict { .. } => ApiError::conflict(
            "token_name_taken",
            format!("a token named {name} already exists"),
        ),
        other => other.into(),
    })?;
    let event = AuditEvent::new(now, actor, "api_token.create", Outcome::Success)
        .resource(row.public_id.to_string())
        .details(json!({
            "name": row.name, "owner": owner.email, "role": row.role,
            "permissions": row.permissions.0, "expires_at": super::ts_opt(row.expires_at),
        }));
    let logged = state
        .auditor
        .append_in_tx(&mut tx, meta.apply(event))
        .await?;
    tx.commit().await?;
    logged.log();
    Ok((secret, row))
}

/// Creates an API token; the secret is in the response only.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api-tokens", request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 400, description = "invalid_role / unknown_permission / invalid_token_scope"),
              (status = 403, description = "token_scope_exceeds_caller / permission_denied / api_tokens_cannot_create_tokens"), (status = 409)))]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Json(body): Json<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    // A token that could mint tokens would turn one leak into credentials that outlive the
    // leaked token's expiry and revocation; new credentials come from a person.
    if !principal.is_human() {
        return Err(ApiError::forbidden(
            "api_tokens_cannot_create_tokens",
            "API tokens cannot create API tokens; create it from an admin's login session (rack-gateway login) or on the server with rack-gateway-server tokens create",
        ));
    }
    let name = TokenName::parse(body.name.trim())
        .map_err(|e| ApiError::bad_request("invalid_token_name", e.to_string()))?;
    let scope = TokenScope::parse(body.role.as_deref(), body.permissions.as_deref())?;
    let expires_in = parse_expiry_days(body.expires_in_days)?;
    let self_id = principal.acting_user_id();
    let owner = match body.owner_email.as_deref() {
        Some(email) => state
            .store
            .get_user_by_email(email)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    ApiError::not_found("user_not_found", format!("no user {email}"))
                }
                other => other.into(),
            })?,
        None => state.store.get_user(self_id).await?,
    };
    if owner.id != self_id {
        principal.require(&Permission::API_TOKEN_MANAGE)?;
    }
    if !owner.is_active() {
        return Err(ApiError::conflict(
            "owner_inactive",
            format!("{} is suspended, locked or deleted", owner.email),
        ));
    }
    check_no_escalation(&principal, &scope)?;
    let created_by = principal.as_user().map(|u| u.user_id);
    let (secret, row) = create_and_audit(
        &state,
        principal.audit_actor(),
        TokenSpec {
            name: &name,
            scope: &scope,
            owner: &owner,
            expires_in,
            created_by,
        },
        &meta,
    )
    .await?;
    let api_token = ApiTokenView::new(&row, &owner.email);
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret.expose_secret().to_owned(),
            api_token,
        }),
    ))
}

/// Lists the caller's tokens (all tokens with `gateway:api-token:read`).
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api-tokens", responses((status = 200, body = [ApiTokenView])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<ApiTokenView>>, ApiError> {
    let rows = if principal.allows(&Permission::API_TOKEN_READ) {
        state.store.list_api_tokens().await?
    } else {
        state
            .store
            .list_api_tokens_by_owner(principal.acting_user_id())
            .await?
    };
    let mut emails: HashMap<i64, String> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for t in &rows {
        let email = match emails.get(&t.owner_user_id) {
            Some(e) => e.clone(),
            None => {
                let e = state
                    .store
                    .get_user(t.owner_user_id)
                    .await
                    .map(|u| u.email)
                    .unwrap_or_default();
                emails.insert(t.owner_user_id, e.clone());
                e
            }
        };
        out.push(ApiTokenView::new(t, &email));
    }
    Ok(Json(out))
}

/// Revokes a token: it stops working on the next request, on every replica.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{public_id}", tag = "api-tokens", params(("public_id" = Uuid, Path)),
    responses((status = 200, body = ApiTokenView), (status = 403), (status = 404)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(public_id): Path<Uuid>,
) -> Result<Json<ApiTokenView>, ApiError> {
    let token = state
        .store
        .get_api_token_by_public_id(public_id)
        .await
        .map_err(|_| ApiError::not_found("token_not_found", format!("no API token {public_id}")))?;
    if token.owner_user_id != principal.acting_user_id() || !principal.is_human() {
        principal.require(&Permission::API_TOKEN_MANAGE)?;
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if tx.revoke_api_token(token.id, now).await? {
        let event = AuditEvent::new(
            now,
            principal.audit_actor(),
            "api_token.revoke",
            Outcome::Success,
        )
        .resource(token.public_id.to_string())
        .details(json!({ "name": token.name }));
        let logged = state
            .auditor
            .append_in_tx(&mut tx, meta.apply(event))
            .await?;
        tx.commit().await?;
        logged.log();
    } else {
        tx.rollback().await?;
    }
    let row = state.store.get_api_token(token.id).await?;
    let owner = state.store.get_user(row.owner_user_id).await?;
    Ok(Json(ApiTokenView::new(&row, &owner.email)))
}
