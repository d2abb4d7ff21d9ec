//! The per-route authorization decision for a caller (PRODUCT.md §4, §7).
//!
//! Pure: the caller's permissions come in as a predicate, and "is there a live approval" is
//! left to the server, which gets [`Decision::RequiresApproval`] and must then run the
//! [`crate::approval::DeployChain`] check.

use super::permission::Permission;
use super::routes::{Access, DeployAction, ForbiddenForApprovalTokens, RouteRule};

/// What the proxy should do with a matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the caller's permissions alone.
    Allow,
    /// Allowed only if a live approval targeting this caller covers the step.
    RequiresApproval(DeployAction),
    /// Refused.
    Deny(Denial),
}

/// Why a route was refused; the message is meant for the `convox` CLI user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The caller lacks the route's permission.
    #[error(
        "permission denied: {method} {pattern} requires {permission}; ask a gateway admin for a role that grants it"
    )]
    MissingPermission {
        /// The permission required.
        permission: Permission,
        /// The route's method name.
        method: &'static str,
        /// The route pattern, without parameter kinds.
        pattern: String,
    },
    /// Approval-gated callers may never do this.
    #[error("{} is not allowed for tokens that deploy with approval; deploy with `convox deploy` under an approved deploy approval request", kind.describe())]
    ForbiddenForApprovalTokens {
        /// What kind of call it was.
        kind: ForbiddenForApprovalTokens,
    },
}

/// Decides a matched route for a caller.
///
/// `holds` says whether the caller holds a permission (role or token scope). A caller holding
/// `convox:deploy:deploy_with_approval` is *approval-gated*: it is refused every
/// [`DeployAction::Forbidden`] route whatever else it holds, and every approval step needs a
/// live approval ([`Decision::RequiresApproval`]) unless `approvals_enabled` is false, in which
/// case the step is allowed directly (PRODUCT.md §4). Other callers get plain RBAC; the
/// server adds MFA step-up and `human_deploys_allowed` for [`DeployAction::is_human_deploy`].
pub fn decide(
    rule: &RouteRule,
    holds: impl Fn(&Permission) -> bool,
    approvals_enabled: bool,
) -> Decision {
    let gated = holds(&Permission::DEPLOY_WITH_APPROVAL);
    if gated {
        match rule.deploy_action {
            DeployAction::Forbidden(kind) => {
                return Decision::Deny(Denial::ForbiddenForApprovalTokens { kind });
            }
            action if action.is_approval_step() => {
                return if approvals_enabled {
                    Decision::RequiresApproval(action)
                } else {
                    Decision::Allow
                };
            }
            _ => {}
        }
    }
    match rule.access {
        Access::Authenticated => Decision::Allow,
        Access::Requires(p) if holds(&p) => Decision::Allow,
        Access::Requires(permission) => Decision::Deny(Denial::MissingPermission {
            permission,
            method: rule.method.as_str(),
            pattern: rule.display_pattern(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::{Role, match_route};

    fn rule(method: &str, upgrade: bool, path: &str) -> &'static RouteRule {
        match_route(method, upgrade, path).unwrap().rule
    }

    #[test]
    fn a_cicd_token_needs_an_approval_for_deploy_steps() {
        let cicd = |p: &Permission| Role::Cicd.allows(p);
        let build = rule("POST", false, "/apps/myapp/builds");
        assert_eq!(
            decide(build, cicd, true),
            Decision::RequiresApproval(DeployAction::BuildCreate)
        );
        assert_eq!(decide(build, cicd, false), Decision::Allow);
    }

    #[test]
    fn a_cicd_token_is_refused_bypass_routes_even_with_the_permission() {
        let custom = |p: &Permission| {
            *p == Permission::DEPLOY_WITH_APPROVAL || *p == Permission::BUILD_UPDATE
        };
        let update = rule("PUT", false, "/apps/myapp/builds/BABCDEFGHIJ");
        let Decision::Deny(denial) = decide(update, custom, false) else {
            panic!("build update must be refused");
        };
        assert!(
            denial
                .to_string()
                .starts_with("build update is not allowed"),
            "{denial}"
        );
    }

    #[test]
    fn humans_get_plain_rbac_with_a_helpful_message() {
        let viewer = |p: &Permission| Role::Viewer.allows(p);
        let promote = rule("POST", false, "/apps/myapp/releases/RABCDEFGHIJ/promote");
        let Decision::Deny(denial) = decide(promote, viewer, true) else {
            panic!("viewer must not promote");
        };
        assert_eq!(
            denial.to_string(),
            "permission denied: POST /apps/{app}/releases/{id}/promote requires convox:release:promote; ask a gateway admin for a role that grants it"
        );
        let deployer = |p: &Permission| Role::Deployer.allows(p);
        assert_eq!(decide(promote, deployer, true), Decision::Allow);
    }

    #[test]
    fn reads_by_cicd_tokens_are_plain_rbac() {
        let cicd = |p: &Permission| Role::Cicd.allows(p);
        assert_eq!(
            decide(rule("GET", false, "/apps/myapp"), cicd, true),
            Decision::Allow
        );
        assert_eq!(
            decide(rule("GET", false, "/machines"), cicd, true),
            Decision::Allow
        );
        assert!(matches!(
            decide(rule("GET", false, "/apps/myapp/releases"), cicd, true),
            Decision::Deny(_)
        ));
    }
}
