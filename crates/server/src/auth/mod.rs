//! INTERIM (proxy branch only): API-token authentication so the proxy can be built and tested
//! before the identity branch lands; replaced wholesale by identity's `auth` module at merge.

use axum::http::{HeaderMap, header};
use base64::Engine;
use rgw_core::rbac::{Permission, Role};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::Actor;
use crate::error::ApiError;

/// An API token caller.
#[derive(Debug, Clone)]
pub struct TokenPrincipal {
    pub token_id: i64,
    pub public_id: Uuid,
    pub name: String,
    pub owner_user_id: i64,
    pub owner_email: String,
    pub role: Option<Role>,
    pub permissions: Vec<Permission>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    Token(TokenPrincipal),
}

impl Principal {
    pub fn allows(&self, p: &Permission) -> bool {
        match self {
            Principal::Token(t) => t.role.is_some_and(|r| r.allows(p)) || t.permissions.contains(p),
        }
    }
    pub fn actor_label(&self) -> String {
        match self {
            Principal::Token(t) => t.name.clone(),
        }
    }
    pub fn audit_actor(&self) -> Actor {
        match self {
            Principal::Token(t) => Actor::Token {
                token_public_id: t.public_id,
                name: t.name.clone(),
                owner_email: t.owner_email.clone(),
            },
        }
    }
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Token(t) => t.role,
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(t) = v.strip_prefix("Bearer ") {
        return Some(t.trim().to_string());
    }
    let b = v.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_string())
}

/// Authenticates an API token from Bearer or Basic credentials.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized(
            "authentication_required",
            "send an API token as Basic password or Bearer",
        )
    })?;
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    let found = state
        .store
        .find_active_api_token(&hash, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_credentials", "invalid API token"))?;
    let role = found
        .token
        .role
        .as_deref()
        .and_then(|r| Role::parse(r).ok());
    let permissions = found
        .token
        .permissions
        .0
        .iter()
        .filter_map(|p| Permission::parse(p).ok())
        .collect();
    Ok(Principal::Token(TokenPrincipal {
        token_id: found.token.id,
        public_id: found.token.public_id,
        name: found.token.name.clone(),
        owner_user_id: found.token.owner_user_id,
        owner_email: found.owner_email.clone(),
        role,
        permissions,
    }))
}
