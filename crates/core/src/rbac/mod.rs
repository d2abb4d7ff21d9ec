//! Role-based access control: permissions, roles, the rack route table and the per-route
//! decision that combines them with deploy-approval gating.

mod decide;
mod permission;
mod role;
mod routes;

pub use decide::{Decision, Denial, decide};
pub use permission::{KNOWN_PERMISSIONS, Permission, PermissionError};
pub use role::{NotAssignableToUsers, Role, RoleError, UserRoleError};
pub use routes::{
    Access, DeployAction, ForbiddenForApprovalTokens, ROUTES, RouteMatch, RouteMethod, RouteRule,
    match_route,
};
