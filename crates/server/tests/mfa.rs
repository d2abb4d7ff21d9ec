//! MFA integration tests: TOTP (with oathtool interop), backup codes, attempt limiting and
//! lockout, WebAuthn ceremonies driven by a software passkey, and approval-bound MFA. Every
//! test runs on SQLite and, when `RGW_TEST_POSTGRES_URL` is set, on PostgreSQL.

#[path = "mfa/support.rs"]
mod support;

#[path = "mfa/backup_codes.rs"]
mod backup_codes;
#[path = "mfa/bound.rs"]
mod bound;
#[path = "mfa/http.rs"]
mod http;
#[path = "mfa/lockout.rs"]
mod lockout;
#[path = "mfa/totp.rs"]
mod totp;
#[path = "mfa/webauthn.rs"]
mod webauthn;
