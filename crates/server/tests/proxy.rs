//! Rack proxy integration tests: the real gateway on port 0 in front of a real fake rack, on
//! SQLite and (with `RGW_TEST_POSTGRES_URL`) PostgreSQL, driven the way the convox CLI drives it.

#[path = "proxy/harness.rs"]
mod harness;

#[path = "proxy/flows.rs"]
mod flows;

#[path = "proxy/policy.rs"]
mod policy;

#[path = "proxy/failures.rs"]
mod failures;

#[path = "proxy/tls.rs"]
mod tls;
