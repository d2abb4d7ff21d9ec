//! Persistence for rack-gateway: one API over SQLite (the embedded default) and PostgreSQL
//! (several replicas sharing one database).
//!
//! [`Store`] wraps a native sqlx pool per backend (enum dispatch, see `with_db!`), so rows keep
//! native types (`Uuid`, `OffsetDateTime`, `Json`, `bool`) on both. SQL is written once with
//! `$n` placeholders; dialect-only SQL sits in an explicit `match` on the backend.
//! Invariants (one open request per app/commit/token, the single-use deploy chain, the status
//! lifecycle, the append-only audit log) are enforced by the database itself, and every
//! refusal comes back as a typed [`StoreError`].
//!
//! Timestamps are always bound from Rust (callers pass `now`), stored in UTC with microsecond
//! precision (see `rgw_core::clock::normalize`).

mod api_tokens;
mod approval_transitions;
mod approvals;
mod audit;
pub mod changes;
mod clock;
mod db;
mod deploy_chain;
mod error;
mod gate_cache;
mod identity;
mod identity_tx;
mod jobs;
mod jobs_admin;
mod jobs_refs;
mod listener;
mod login_flows;
mod mfa;
mod mfa_budget;
mod mfa_webauthn;
mod sessions;
mod settings;
mod throttle;
mod tx;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use api_tokens::{ActiveApiToken, ApiToken, NewApiToken};
pub use approvals::{
    CreateOutcome, DeployApproval, DeployApprovalRequest, NewDeployApproval,
    NewDeployApprovalRequest, RequestFilter,
};
pub use audit::{AuditFilter, AuditPage, AuditPager, NewAuditRecord};
pub use db::{Backend, Store, StoreOptions};
pub use deploy_chain::{Claim, ClaimExpect};
pub use error::StoreError;
pub use identity::{ApiTokenLookup, OwnerStatus, SessionLookup};
pub use jobs::{Job, JobFailure, JobStatus, NewJob};
pub use jobs_admin::JobFilter;
pub use login_flows::{LoginFlow, NewLoginFlow};
pub use mfa::TotpCredential;
pub use mfa_budget::{MfaBudget, MfaBudgetPolicy, MfaFailureSettled};
pub use mfa_webauthn::{CeremonyKind, NewWebauthnCredential, WebauthnCeremony, WebauthnCredential};
pub use rgw_core::approval::ApprovalStatus;
pub use sessions::{NewSession, Session};
pub use settings::Setting;
pub use throttle::{ThrottlePolicy, ThrottleState};
pub use tx::StoreTx;
pub use users::{NewUser, User};
