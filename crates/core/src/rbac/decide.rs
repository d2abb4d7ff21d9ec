//! The per-route authorization decision (PRODUCT.md §4, §7): one function that says, for a
//! matched route and a caller, whether the call may go to the rack.
//!
//! Gating follows the *action* and the *kind of caller*, never a permission the caller could
//! shed (a token minted without `convox:deploy:deploy_with_approval` gains nothing by it):
//!
//! | caller | action | rule |
//! |---|---|---|
//! | any API token | build update, image relay, release create, scale, app update, config or file writes, `/v2/`, rack update, rack credentials | refused |
//! | any API token | upload, build, import, promote | only with `deploy_with_approval`, and then only under a live approval (directly when `deploy_approvals_enabled=false`) |
//! | API token with `deploy_with_approval` | run, exec, stop | under a live approval (allow-listed commands) |
//! | API token | build read/logs, app logs | its own permission, or under a live approval with `deploy_with_approval` |
//! | human session | anything | its role's permission; deploy actions and the calls above also need MFA within the step-up window, and `human_deploys_allowed=false` refuses human deploys |
//!
//! Pure: the caller's permissions come in as a predicate; "is there a live approval" is left to
//! the server, which gets [`Decision::RequiresApproval`] and runs the
//! [`crate::approval::DeployChain`] check.

use time::{Duration, OffsetDateTime};

use super::permission::Permission;
use super::routes::{Access, DeployAction, ForbiddenForApprovalTokens, RouteRule};

/// What the proxy should do with a matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Allowed only if a live approval targeting this token covers the step.
    RequiresApproval(DeployAction),
    /// Refused.
    Deny(Denial),
}

/// Who is calling, as far as the decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    /// A human with a login session (web or CLI). `mfa_fresh`: MFA verified within the
    /// step-up window (see [`step_up_is_fresh`]).
    Human {
        /// MFA verified recently enough for a deploy action.
        mfa_fresh: bool,
    },
    /// An API token (CI or automation), whatever its role or owner.
    Token,
}

/// Settings the decision reads (resolved for the route's app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateSettings {
    /// `deploy_approvals_enabled`.
    pub approvals_enabled: bool,
    /// `human_deploys_allowed` (per app).
    pub human_deploys_allowed: bool,
    /// `mfa_step_up_window_minutes`, for messages.
    pub step_up_window_minutes: i64,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            approvals_enabled: true,
            human_deploys_allowed: true,
            step_up_window_minutes: 10,
        }
    }
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
    /// API tokens may never do this.
    #[error("{} is not allowed for API tokens; a gateway admin can do it from a login session with fresh MFA", kind.describe())]
    ForbiddenForTokens {
        /// What kind of call it was.
        kind: ForbiddenForApprovalTokens,
    },
    /// A token without `deploy_with_approval` tried to put code on the rack.
    #[error(
        "API tokens deploy only through deploy approvals, and this token lacks convox:deploy:deploy_with_approval; use a cicd token and `rack-gateway deploy-approval request`, or deploy from a login session"
    )]
    TokenCannotDeploy,
    /// The app only accepts deploys through CI approvals.
    #[error(
        "human deploys are disabled for this app (human_deploys_allowed=false); deploy through CI with an approved deploy approval request"
    )]
    HumanDeploysDisabled,
    /// A human deploy action without recent MFA.
    #[error(
        "MFA step-up required: deploy actions need MFA verified within the last {window_minutes} minutes; verify again (rack-gateway login, or POST /api/v1/mfa/verify) and retry"
    )]
    StepUpRequired {
        /// The window.
        window_minutes: i64,
    },
}

impl Denial {
    /// A stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            Denial::MissingPermission { .. } => "permission_denied",
            Denial::ForbiddenForTokens { .. } => "forbidden_for_tokens",
            Denial::TokenCannotDeploy => "token_cannot_deploy",
            Denial::HumanDeploysDisabled => "human_deploys_disabled",
            Denial::StepUpRequired { .. } => "mfa_step_up_required",
        }
    }

    /// The HTTP status: 401 when verifying MFA again fixes it, 403 otherwise.
    pub const fn status(&self) -> u16 {
        match self {
            Denial::StepUpRequired { .. } => 401,
            _ => 403,
        }
    }
}

/// Whether MFA verified at `verified_at` is recent enough at `now` for a deploy action.
pub fn step_up_is_fresh(
    verified_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    window_minutes: i64,
) -> bool {
    verified_at.is_some_and(|at| at <= now && now - at <= Duration::minutes(window_minutes))
}

/// Whether [`decide`] reads `settings` for this route and caller (so the server can skip
/// resolving them on every other call).
pub fn needs_settings(rule: &RouteRule, caller: CallerKind) -> bool {
    match caller {
        CallerKind::Token => rule.deploy_action.is_approval_step(),
        CallerKind::Human { .. } => rule.deploy_action.needs_step_up(),
    }
}

/// Decides a matched route for a caller. `holds` says whether the caller holds a permission.
pub fn decide(
    rule: &RouteRule,
    caller: CallerKind,
    holds: impl Fn(&Permission) -> bool,
    settings: &GateSettings,
) -> Decision {
    let action = rule.deploy_action;
    let plain = || match rule.access {
        Access::Authenticated => Decision::Allow,
        Access::Requires(p) if holds(&p) => Decision::Allow,
        Access::Requires(permission) => Decision::Deny(Denial::MissingPermission {
            permission,
            method: rule.method.as_str(),
            pattern: rule.display_pattern(),
        }),
    };
    match caller {
        CallerKind::Token => {
            let gated = holds(&Permission::DEPLOY_WITH_APPROVAL);
            let through_approval = || {
                if settings.approvals_enabled {
                    Decision::RequiresApproval(action)
                } else {
                    Decision::Allow
                }
            };
            match action {
                DeployAction::Forbidden(kind) => {
                    Decision::Deny(Denial::ForbiddenForTokens { kind })
                }
                a if a.puts_code() => {
                    if gated {
                        through_approval()
                    } else {
                        Decision::Deny(Denial::TokenCannotDeploy)
                    }
                }
                a if a.is_process_step() && gated => through_approval(),
                DeployAction::BuildRead | DeployAction::BuildLogs | DeployAction::AppLogs => {
                    match plain() {
                        Decision::Deny(_) if gated => through_approval(),
                        other => other,
                    }
                }
                _ => plain(),
            }
        }
        CallerKind::Human { mfa_fresh } => {
            let decision = plain();
            if decision != Decision::Allow || !action.needs_step_up() {
                return decision;
            }
            if action.is_human_deploy() && !settings.human_deploys_allowed {
                return Decision::Deny(Denial::HumanDeploysDisabled);
            }
            if !mfa_fresh {
                return Decision::Deny(Denial::StepUpRequired {
                    window_minutes: settings.step_up_window_minutes,
                });
            }
            Decision::Allow
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
