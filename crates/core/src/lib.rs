//! rack-gateway business rules: identifiers, clock, RBAC and the rack route table, the
//! deploy-approval state machine and deploy chain, settings, and wire types shared by the
//! server and the CLI.
//!
//! No I/O, no HTTP framework, no SQL: every function here is pure (the clock is injected).

pub mod approval;
pub mod audit;
pub mod clock;
pub mod envmask;
pub mod ids;
pub mod manifest;
pub mod mfa;
pub mod rbac;
pub mod settings;
pub mod settings_secret;
pub mod text;
pub mod wire;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{
    AppName, BuildId, Email, GitSha, GitShaPrefix, IdError, ObjectKey, ReleaseId, RequestId,
    TokenName,
};
pub use rbac::{DeployAction, Permission, Role, RouteMatch, match_route};
