//! The per-user MFA attempt budget and lockout, counted in `mfa_attempts` so every replica
//! sees the same numbers. Before a verification: a locked account is refused (403
//! `account_locked`) and a user over the budget is refused (429 `mfa_rate_limited`), both
//! without touching the secret. After it: the outcome is recorded and audited, and a failure
//! that reaches the policy's threshold locks the account until an admin unlocks it.

use rgw_core::mfa::{AttemptPolicy, MfaMethod};
use serde_json::json;

use super::{Failure, MfaUser, audit_user};
use crate::app::AppState;
use crate::audit::Outcome;
use crate::error::ApiError;

/// The policy in force. Fixed for now; the numbers are in `rgw_core::mfa::AttemptPolicy`.
pub fn policy() -> AttemptPolicy {
    AttemptPolicy::default()
}

/// Why the verification is being made; audited so the trail tells logins from approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirming a new TOTP enrolment.
    Enrolment,
    /// Login or step-up MFA for a session.
    Session,
    /// MFA bound to one action on one object.
    Action,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Enrolment => "enrolment",
            Purpose::Session => "session",
            Purpose::Action => "action",
        }
    }
}

/// Refuses the attempt up front when the account is locked or over its budget.
pub async fn guard(
    state: &AppState,
    user: &MfaUser,
    method: MfaMethod,
    purpose: Purpose,
) -> Result<(), ApiError> {
    let row = state.store.get_user(user.user_id).await?;
    if row.locked_at.is_some() {
        audit_user(
            state,
            user,
            "mfa.verify",
            Outcome::Denied,
            json!({"method": method.as_str(), "purpose": purpose.as_str(), "reason": "account_locked"}),
        ).await;
        return Err(ApiError::forbidden(
            "account_locked",
            "this account is locked after repeated failed MFA attempts; ask an admin to unlock it",
        ));
    }
    let p = policy();
    let since = state.clock.now() - p.window;
    let attempts = state
        .store
        .count_mfa_attempts_since(user.user_id, since)
        .await?;
    if !p.allows_attempt(attempts) {
        audit_user(
            state,
            user,
            "mfa.verify",
            Outcome::Denied,
            json!({"method": method.as_str(), "purpose": purpose.as_str(), "reason": "rate_limited"}),
        ).await;
        return Err(ApiError::TooManyRequests {
            code: "mfa_rate_limited",
            message: format!(
                "too many MFA attempts; wait {} minutes and try again",
                p.window.whole_minutes()
            ),
        });
    }
    Ok(())
}

/// Records a successful verification.
pub async fn succeeded(
    state: &AppState,
    user: &MfaUser,
    method: MfaMethod,
    purpose: Purpose,
    extra: serde_json::Value,
) -> Result<(), ApiError> {
    state
        .store
        .record_mfa_attempt(user.user_id, method.as_str(), true, state.clock.now())
        .await?;
    let mut details = json!({"method": method.as_str(), "purpose": purpose.as_str()});
    merge(&mut details, extra);
    audit_user(state, user, "mfa.verify", Outcome::Success, details).await;
    Ok(())
}

/// Records a failed verification, locks the account when the failures reach the threshold,
/// and returns the error to answer with.
pub async fn failed(
    state: &AppState,
    user: &MfaUser,
    method: MfaMethod,
    purpose: Purpose,
    failure: Failure,
    extra: serde_json::Value,
) -> ApiError {
    match record_failure(state, user, method, purpose, failure, extra).await {
        Ok(true) => ApiError::forbidden(
            "account_locked",
            "too many failed MFA attempts: this account is now locked; ask an admin to unlock it",
        ),
        Ok(false) => failure.into_api_error(method),
        Err(e) => e,
    }
}

async fn record_failure(
    state: &AppState,
    user: &MfaUser,
    method: MfaMethod,
    purpose: Purpose,
    failure: Failure,
    extra: serde_json::Value,
) -> Result<bool, ApiError> {
    let now = state.clock.now();
    state
        .store
        .record_mfa_attempt(user.user_id, method.as_str(), false, now)
        .await?;
    let mut details =
        json!({"method": method.as_str(), "purpose": purpose.as_str(), "reason": failure.reason()});
    merge(&mut details, extra);
    audit_user(state, user, "mfa.verify", Outcome::Failed, details).await;
    let p = policy();
    let failures = state
        .store
        .count_mfa_failures_for_lockout(user.user_id, now - p.window)
        .await?;
    if !p.locks_after(failures) {
        return Ok(false);
    }
    let reason = format!(
        "automatic lock: {failures} failed MFA attempts within {} minutes",
        p.window.whole_minutes()
    );
    if state.store.lock_user(user.user_id, &reason, now).await? {
        state
            .store
            .record_mfa_lockout(user.user_id, failures, now)
            .await?;
        // A locked account keeps no live sessions: whoever is guessing loses the session too.
        state
            .store
            .revoke_user_sessions(user.user_id, None, now)
            .await?;
        audit_user(
            state,
            user,
            "mfa.lockout",
            Outcome::Success,
            json!({"method": method.as_str(), "failures": failures, "window_minutes": p.window.whole_minutes()}),
        ).await;
    }
    Ok(true)
}

fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}
