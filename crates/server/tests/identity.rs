//! Identity integration tests: real gateways on port 0 (via `rgw_testkit`) on every available
//! backend (SQLite; PostgreSQL when `RGW_TEST_POSTGRES_URL` is set), a real fake rack and, for
//! single sign-on, a real OpenID provider in the test process.

mod identity {
    mod audit;
    mod commands;
    mod dev;
    mod login;
    mod oidc;
    mod openapi;
    mod sessions;
    mod tokens;
}
