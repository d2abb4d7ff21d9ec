//! Integration tests of the store. Every test runs against every available backend
//! (SQLite always, PostgreSQL when `RGW_TEST_POSTGRES_URL` is set).

#[path = "store/support.rs"]
mod support;

#[path = "store/approval_claims.rs"]
mod approval_claims;
#[path = "store/approval_invariants.rs"]
mod approval_invariants;
#[path = "store/approval_races.rs"]
mod approval_races;
#[path = "store/approvals.rs"]
mod approvals;
#[path = "store/audit.rs"]
mod audit;
#[path = "store/audit_chain.rs"]
mod audit_chain;
#[path = "store/connect.rs"]
mod connect;
#[path = "store/identity.rs"]
mod identity;
#[path = "store/jobs.rs"]
mod jobs;
