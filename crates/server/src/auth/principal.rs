//! The authenticated caller ([`Principal`]) and the permission check that yields an
//! [`Authorized`] value: privileged code takes an `Authorized` so it cannot run unchecked.
//!
//! Token scope policy:
//! - A token's scope is its role's permissions or its explicit permission list, fixed and
//!   validated at creation (the creator must hold every permission given).
//! - A token owned by a human user is additionally capped at use time by the owner's *current*
//!   role, so demoting a user shrinks their tokens at once. Tokens owned by a service user (the
//!   CI owner, who never logs in) are not capped: their scope was bounded by their creator.
//! - Tokens can never approve or reject deploy approvals, whatever their scope.

use rgw_core::rbac::{Permission, Role};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::Actor;
use crate::error::ApiError;

/// How a session was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Browser session (cookie).
    Web,
    /// CLI session (bearer token).
    Cli,
}

impl Channel {
    /// Stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Cli => "cli",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "web" => Some(Channel::Web),
            "cli" => Some(Channel::Cli),
            _ => None,
        }
    }
}

/// A human with a live session.
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    pub user_id: i64,
    pub public_id: Uuid,
    pub email: String,
    pub role: Role,
    pub session_id: i64,
    pub session_public_id: Uuid,
    pub channel: Channel,
    pub mfa_verified_at: Option<OffsetDateTime>,
    pub mfa_enrolled: bool,
    /// The session's hard expiry.
    pub session_expires_at: OffsetDateTime,
    /// True when the credential came from the session cookie (CSRF applies).
    pub via_cookie: bool,
}

/// An API token.
#[derive(Debug, Clone)]
pub struct TokenPrincipal {
    pub token_id: i64,
    pub public_id: Uuid,
    pub name: String,
    pub owner_user_id: i64,
    pub owner_email: String,
    /// The token's role, when it was created with one.
    pub role: Option<Role>,
    /// The effective permissions (scope, capped by a human owner's role; see module docs).
    pub permissions: Vec<Permission>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    User(UserPrincipal),
    Token(TokenPrincipal),
}

/// Permissions no API token may use, whatever its scope.
pub const NEVER_FOR_TOKENS: &[Permission] = &[
    Permission::DEPLOY_APPROVAL_REQUEST_APPROVE,
    Permission::DEPLOY_APPROVAL_REQUEST_REJECT,
];

/// Proof that a principal passed a permission check. Only [`Principal::require`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct Authorized<'a> {
    principal: &'a Principal,
    permission: Permission,
}

impl<'a> Authorized<'a> {
    /// The principal that was checked.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }

    /// The permission it holds.
    pub fn permission(&self) -> Permission {
        self.permission
    }
}

impl TokenPrincipal {
    /// The effective permissions of a token: its scope, capped by `owner_role` unless the owner
    /// is a service user.
    pub fn effective_permissions(
        scope: &[Permission],
        owner_role: Option<Role>,
        owner_is_service: bool,
    ) -> Vec<Permission> {
        scope
            .iter()
            .copied()
            .filter(|p| !NEVER_FOR_TOKENS.contains(p))
            .filter(|p| owner_is_service || owner_role.is_some_and(|r| r.allows(p)))
            .collect()
    }
}

impl Principal {
    /// Whether the caller holds `permission`.
    pub fn allows(&self, permission: &Permission) -> bool {
        match self {
            Principal::User(u) => u.role.allows(permission),
            Principal::Token(t) => {
                !NEVER_FOR_TOKENS.contains(permission) && t.permissions.contains(permission)
            }
        }
    }

    /// Checks `permission`; 403 `permission_denied` naming it otherwise.
    pub fn require(&self, permission: &Permission) -> Result<Authorized<'_>, ApiError> {
        if self.allows(permission) {
            Ok(Authorized {
                principal: self,
                permission: *permission,
            })
        } else {
            Err(ApiError::forbidden(
                "permission_denied",
                format!(
                    "{} lacks the permission {permission}; ask an admin for a role that grants it",
                    self.actor_label()
                ),
            ))
        }
    }

    /// The caller's permissions, for display.
    pub fn permissions(&self) -> Vec<Permission> {
        match self {
            Principal::User(u) => u.role.permissions().to_vec(),
            Principal::Token(t) => t.permissions.clone(),
        }
    }

    /// The user email or the token name.
    pub fn actor_label(&self) -> String {
        match self {
            Principal::User(u) => u.email.clone(),
            Principal::Token(t) => t.name.clone(),
        }
    }

    /// The audit actor.
    pub fn audit_actor(&self) -> Actor {
        match self {
            Principal::User(u) => Actor::User {
                user_id: u.user_id,
                email: u.email.clone(),
            },
            Principal::Token(t) => Actor::Token {
                token_public_id: t.public_id,
                name: t.name.clone(),
                owner_email: t.owner_email.clone(),
            },
        }
    }

    /// A human with a session (not an API token).
    pub fn is_human(&self) -> bool {
        matches!(self, Principal::User(_))
    }

    /// The user the caller acts for: the session's user or the token's owner.
    pub fn acting_user_id(&self) -> i64 {
        match self {
            Principal::User(u) => u.user_id,
            Principal::Token(t) => t.owner_user_id,
        }
    }

    /// The human user, if any.
    pub fn as_user(&self) -> Option<&UserPrincipal> {
        match self {
            Principal::User(u) => Some(u),
            Principal::Token(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(perms: Vec<Permission>) -> Principal {
        Principal::Token(TokenPrincipal {
            token_id: 1,
            public_id: Uuid::nil(),
            name: "ci".into(),
            owner_user_id: 1,
            owner_email: "ci@example.com".into(),
            role: None,
            permissions: perms,
            expires_at: None,
        })
    }

    #[test]
    fn tokens_never_approve_even_with_the_admin_scope() {
        let p = token(Role::Admin.permissions().to_vec());
        assert!(!p.allows(&Permission::DEPLOY_APPROVAL_REQUEST_APPROVE));
        assert!(
            p.require(&Permission::DEPLOY_APPROVAL_REQUEST_APPROVE)
                .is_err()
        );
        assert!(p.allows(&Permission::USER_MANAGE));
    }

    #[test]
    fn a_human_owner_caps_the_token_and_a_service_owner_does_not() {
        let scope = Role::Cicd.permissions();
        let capped = TokenPrincipal::effective_permissions(scope, Some(Role::Viewer), false);
        assert!(!capped.contains(&Permission::DEPLOY_WITH_APPROVAL));
        assert!(capped.contains(&Permission::APP_LIST));
        let service = TokenPrincipal::effective_permissions(scope, Some(Role::Viewer), true);
        assert!(service.contains(&Permission::DEPLOY_WITH_APPROVAL));
    }

    #[test]
    fn the_denial_names_the_permission() {
        let p = token(vec![Permission::APP_LIST]);
        let err = p.require(&Permission::USER_MANAGE).unwrap_err();
        assert_eq!(err.code(), "permission_denied");
        assert!(err.to_string().contains("gateway:user:manage"));
    }
}
