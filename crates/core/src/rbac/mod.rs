//! Role-based access control: permissions, roles, the rack route table and the per-route
//! decision that combines them with deploy-approval gating.

mod decide;
mod permission;
mod role;
mod route_table;
mod routes;

pub use decide::{
    CallerKind, Decision, Denial, GateSettings, decide, needs_settings, step_up_is_fresh,
};
pub use permission::{KNOWN_PERMISSIONS, Permission, PermissionError};
pub use role::{NotAssignableToUsers, Role, RoleError, UserRoleError};
pub use routes::{
    Access, DeployAction, ForbiddenForApprovalTokens, ROUTES, RouteMatch, RouteMethod, RouteRule,
    match_route,
};
