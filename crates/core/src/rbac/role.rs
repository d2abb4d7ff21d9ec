//! Roles and the permissions each one grants.
//!
//! The human roles nest: viewer ⊂ ops ⊂ deployer ⊂ admin. `cicd` stands apart and is only
//! for API tokens: it can read, request approvals and deploy *through approvals*
//! (`convox:deploy:deploy_with_approval`), never directly.

use std::fmt;
use std::str::FromStr;

use super::permission::{KNOWN_PERMISSIONS, Permission as P};

/// A role held by a user or an API token. Text forms: `viewer|ops|deployer|admin|cicd`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only access to apps, builds, processes, logs and the rack.
    Viewer,
    /// Viewer plus restarts, one-off processes, exec, env and release reading.
    Ops,
    /// Ops plus deploying (with MFA step-up) and requesting approvals.
    Deployer,
    /// Everything, including approving deploys and administering the gateway.
    Admin,
    /// CI tokens: reads, approval requests, deploys through approvals only.
    Cicd,
}

/// An unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}: use one of viewer, ops, deployer, admin, cicd (cicd is for API tokens only)"
)]
pub struct RoleError(pub String);

/// The role cannot be given to a human user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {0} is for API tokens only; give users viewer, ops, deployer or admin")]
pub struct NotAssignableToUsers(pub Role);

const VIEWER: &[P] = &[
    P::APP_LIST,
    P::APP_READ,
    P::BUILD_LIST,
    P::BUILD_READ,
    P::PROCESS_LIST,
    P::PROCESS_READ,
    P::LOG_READ,
    P::SERVICE_LIST,
    P::INSTANCE_LIST,
    P::INSTANCE_READ,
    P::RACK_READ,
    P::CERTIFICATE_READ,
];

const OPS: &[P] = &[
    // viewer
    P::APP_LIST,
    P::APP_READ,
    P::BUILD_LIST,
    P::BUILD_READ,
    P::PROCESS_LIST,
    P::PROCESS_READ,
    P::LOG_READ,
    P::SERVICE_LIST,
    P::INSTANCE_LIST,
    P::INSTANCE_READ,
    P::RACK_READ,
    P::CERTIFICATE_READ,
    // ops
    P::APP_RESTART,
    P::SERVICE_RESTART,
    P::PROCESS_START,
    P::PROCESS_EXEC,
    P::PROCESS_STOP,
    P::ENV_READ,
    P::RELEASE_LIST,
    // A release carries the full env, so reading one is as sensitive as `env:read`.
    P::RELEASE_READ,
    P::OBJECT_READ,
    // Resource details include connection URLs with credentials, like env.
    P::RESOURCE_READ,
    P::REGISTRY_READ,
];

const DEPLOYER: &[P] = &[
    // viewer
    P::APP_LIST,
    P::APP_READ,
    P::BUILD_LIST,
    P::BUILD_READ,
    P::PROCESS_LIST,
    P::PROCESS_READ,
    P::LOG_READ,
    P::SERVICE_LIST,
    P::INSTANCE_LIST,
    P::INSTANCE_READ,
    P::RACK_READ,
    P::CERTIFICATE_READ,
    // ops
    P::APP_RESTART,
    P::SERVICE_RESTART,
    P::PROCESS_START,
    P::PROCESS_EXEC,
    P::PROCESS_STOP,
    P::ENV_READ,
    P::RELEASE_LIST,
    P::RELEASE_READ,
    P::OBJECT_READ,
    P::RESOURCE_READ,
    P::REGISTRY_READ,
    // deployer
    P::BUILD_CREATE,
    P::BUILD_IMPORT,
    P::BUILD_EXPORT,
    // `convox build --external` / `builds import-image` rewrite the manifest this way.
    P::BUILD_UPDATE,
    P::OBJECT_CREATE,
    P::RELEASE_CREATE,
    P::RELEASE_PROMOTE,
    P::ENV_SET,
    P::APP_UPDATE,
    P::SERVICE_SCALE,
    P::DEPLOY_APPROVAL_REQUEST_CREATE,
    P::DEPLOY_APPROVAL_REQUEST_READ,
];

const CICD: &[P] = &[
    P::APP_LIST,
    P::APP_READ,
    P::PROCESS_LIST,
    P::PROCESS_READ,
    P::INSTANCE_LIST,
    P::INSTANCE_READ,
    P::RACK_READ,
    P::DEPLOY_APPROVAL_REQUEST_CREATE,
    P::DEPLOY_APPROVAL_REQUEST_READ,
    P::DEPLOY_WITH_APPROVAL,
];

impl Role {
    /// Every role, in order of increasing human privilege, then `cicd`.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Ops,
        Role::Deployer,
        Role::Admin,
        Role::Cicd,
    ];

    /// The text form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Ops => "ops",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
            Role::Cicd => "cicd",
        }
    }

    /// Parses `viewer|ops|deployer|admin|cicd` (exact, lower case).
    pub fn parse(s: &str) -> Result<Self, RoleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleError(s.chars().take(40).collect()))
    }

    /// Whether a human user may hold this role (`cicd` is for API tokens only).
    pub const fn assignable_to_users(self) -> bool {
        !matches!(self, Role::Cicd)
    }

    /// Parses a role for a user, refusing `cicd`.
    pub fn parse_for_user(s: &str) -> Result<Self, UserRoleError> {
        let role = Self::parse(s)?;
        if role.assignable_to_users() {
            Ok(role)
        } else {
            Err(NotAssignableToUsers(role).into())
        }
    }

    /// The permissions this role grants. Admin holds the whole catalogue, including
    /// `convox:deploy:deploy_with_approval`: an API token with the admin role is therefore
    /// approval-gated for deploy actions like a `cicd` token.
    pub const fn permissions(self) -> &'static [P] {
        match self {
            Role::Viewer => VIEWER,
            Role::Ops => OPS,
            Role::Deployer => DEPLOYER,
            Role::Admin => KNOWN_PERMISSIONS,
            Role::Cicd => CICD,
        }
    }

    /// Whether this role grants `permission`.
    pub fn allows(self, permission: &P) -> bool {
        self.permissions().contains(permission)
    }
}

/// Why a role could not be given to a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserRoleError {
    /// Not a role at all.
    #[error(transparent)]
    Unknown(#[from] RoleError),
    /// A token-only role.
    #[error(transparent)]
    TokenOnly(#[from] NotAssignableToUsers),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Role {
    type Error = RoleError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Role::Viewer, "viewer")]
    #[case(Role::Ops, "ops")]
    #[case(Role::Deployer, "deployer")]
    #[case(Role::Admin, "admin")]
    #[case(Role::Cicd, "cicd")]
    fn roles_have_exact_text_forms(#[case] role: Role, #[case] text: &str) {
        assert_eq!(role.to_string(), text);
        assert_eq!(Role::parse(text).unwrap(), role);
        assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<Role>(&format!("\"{text}\"")).unwrap(),
            role
        );
    }

    #[test]
    fn role_names_are_case_sensitive_and_closed() {
        assert!(Role::parse("Admin").is_err());
        assert!(Role::parse("root").is_err());
        assert!(serde_json::from_str::<Role>("\"Admin\"").is_err());
    }

    #[test]
    fn cicd_is_for_tokens_only() {
        assert!(!Role::Cicd.assignable_to_users());
        assert!(matches!(
            Role::parse_for_user("cicd"),
            Err(UserRoleError::TokenOnly(_))
        ));
        assert_eq!(Role::parse_for_user("deployer").unwrap(), Role::Deployer);
    }

    #[test]
    fn human_roles_nest() {
        let chain = [Role::Viewer, Role::Ops, Role::Deployer, Role::Admin];
        for pair in chain.windows(2) {
            for p in pair[0].permissions() {
                assert!(
                    pair[1].allows(p),
                    "{} lacks {p} held by {}",
                    pair[1],
                    pair[0]
                );
            }
            assert!(pair[1].permissions().len() > pair[0].permissions().len());
        }
    }

    #[test]
    fn only_admin_approves_and_cicd_deploys_only_with_approval() {
        for role in Role::ALL {
            assert_eq!(
                role.allows(&P::DEPLOY_APPROVAL_REQUEST_APPROVE),
                role == Role::Admin
            );
            assert_eq!(
                role.allows(&P::DEPLOY_APPROVAL_REQUEST_REJECT),
                role == Role::Admin
            );
        }
        for p in [
            P::BUILD_CREATE,
            P::OBJECT_CREATE,
            P::RELEASE_PROMOTE,
            P::RELEASE_CREATE,
            P::LOG_READ,
        ] {
            assert!(!Role::Cicd.allows(&p), "cicd must not hold {p}");
        }
        assert!(Role::Cicd.allows(&P::DEPLOY_WITH_APPROVAL));
        assert!(!Role::Deployer.allows(&P::DEPLOY_WITH_APPROVAL));
    }

    #[test]
    fn role_lists_have_no_duplicates() {
        for role in Role::ALL {
            let mut v = role.permissions().to_vec();
            v.sort();
            v.dedup();
            assert_eq!(
                v.len(),
                role.permissions().len(),
                "{role} lists a permission twice"
            );
        }
    }
}
