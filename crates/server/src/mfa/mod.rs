//! Multi-factor authentication: TOTP, WebAuthn security keys and passkeys, one-time backup
//! codes, the per-user attempt budget and lockout, enforcement for sessions, and MFA bound to
//! one action on one object (deploy approvals).
//!
//! Every verification goes through [`attempts`]: a locked account or an exhausted budget is
//! refused before any secret is looked at, and every outcome is recorded and audited with its
//! method and reason. API tokens never reach this module: its entry points take human users.

pub mod attempts;
pub mod backup_codes;
pub mod bound;
pub mod crypto;
pub mod enforce;
pub mod totp;
pub mod webauthn;

pub use rgw_core::mfa::{ActionBinding, MfaMethod};

use serde_json::Value;

use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::error::ApiError;

/// The human whose factor is being verified: a `users` row, never an API token.
#[derive(Debug, Clone)]
pub struct MfaUser {
    pub user_id: i64,
    pub public_id: uuid::Uuid,
    pub email: String,
}

impl From<&rgw_store::User> for MfaUser {
    fn from(u: &rgw_store::User) -> Self {
        MfaUser {
            user_id: u.id,
            public_id: u.public_id,
            email: u.email.clone(),
        }
    }
}

impl MfaUser {
    /// The audit actor for this user.
    pub fn actor(&self) -> Actor {
        Actor::User {
            user_id: self.user_id,
            email: self.email.clone(),
        }
    }
}

/// Why a verification was refused. The name is audited; the HTTP answer is deliberately
/// less specific where detail would help an attacker (a wrong code and an unknown code look
/// the same), but a replay is named so a user knows to wait for the next code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The code or assertion did not verify.
    Invalid,
    /// A TOTP code for a step already used (or older).
    Replay,
    /// The method is not enrolled for this user.
    NotEnrolled,
    /// The WebAuthn ceremony is unknown, used, expired or someone else's.
    CeremonyInvalid,
    /// The WebAuthn ceremony was started for another action, object or commit.
    BindingMismatch,
    /// The assertion came from a credential that has been removed.
    CredentialRemoved,
    /// The verification never finished (an error, or the client went away mid-check); it
    /// counts as a failure so that a cancelled request is not a free guess.
    Interrupted,
}

impl Failure {
    /// The audited reason.
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Invalid => "invalid",
            Failure::Replay => "replay",
            Failure::NotEnrolled => "not_enrolled",
            Failure::CeremonyInvalid => "ceremony_invalid",
            Failure::BindingMismatch => "binding_mismatch",
            Failure::CredentialRemoved => "credential_removed",
            Failure::Interrupted => "interrupted",
        }
    }

    /// The answer to the caller.
    pub fn into_api_error(self, method: MfaMethod) -> ApiError {
        match self {
            Failure::Invalid | Failure::CredentialRemoved | Failure::Interrupted => {
                ApiError::unauthorized(
                    "mfa_verification_failed",
                    format!("the {} did not verify; try again", describe(method)),
                )
            }
            Failure::Replay => ApiError::unauthorized(
                "mfa_code_replayed",
                "this code was already used; wait for your authenticator to show the next code",
            ),
            Failure::NotEnrolled => ApiError::conflict(
                "mfa_not_enrolled",
                format!("no {} is enrolled for this account", describe(method)),
            ),
            Failure::CeremonyInvalid => ApiError::unauthorized(
                "webauthn_ceremony_invalid",
                "this security key challenge is unknown, expired or already used; start again",
            ),
            Failure::BindingMismatch => ApiError::forbidden(
                "mfa_binding_mismatch",
                "this security key assertion was made for a different action; start a new one for this request",
            ),
        }
    }
}

fn describe(method: MfaMethod) -> &'static str {
    match method {
        MfaMethod::Totp => "authenticator code",
        MfaMethod::WebAuthn => "security key assertion",
        MfaMethod::BackupCode => "backup code",
    }
}

/// Emits an MFA audit event: the one place MFA code reports to the audit trail. Events go to
/// the hash-chained audit log through `state.auditor`. Details never contain codes, secrets
/// or assertions.
pub async fn audit(state: &AppState, event: AuditEvent) {
    state.auditor.record(event).await;
}

/// Builds and emits an MFA event for `user`.
pub(crate) async fn audit_user(
    state: &AppState,
    user: &MfaUser,
    action: &str,
    outcome: Outcome,
    details: Value,
) {
    let event = AuditEvent::new(state.clock.now(), user.actor(), action, outcome)
        .resource(format!("user:{}", user.public_id))
        .details(details);
    audit(state, event).await;
}
