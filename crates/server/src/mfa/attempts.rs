//! The per-user MFA attempt budget and lockout, as counters on the user's row so every replica
//! sees the same numbers (`rgw_store` `mfa_budget`).
//!
//! [`guard`] reserves an attempt in one atomic statement before any secret is looked at: a
//! locked account is refused (403 `account_locked`), and so is a user over the window's budget
//! or with as many attempts running as failures would lock (429 `mfa_rate_limited`). The
//! returned [`Attempt`] is then settled with [`succeeded`] or [`failed`]; the failure that
//! reaches the policy's threshold locks the account in the same statement, and only that one
//! revokes the sessions and writes the `mfa.lockout` event. However many guesses race, at most
//! `lock_after_failures` of them are evaluated before the lock.

use rgw_core::mfa::{AttemptPolicy, MfaMethod};
use rgw_store::MfaBudgetPolicy;
use serde_json::json;

use super::{Failure, MfaUser, audit_user};
use crate::app::AppState;
use crate::audit::Outcome;
use crate::error::ApiError;

/// The policy in force. Fixed for now; the numbers are in `rgw_core::mfa::AttemptPolicy`.
pub fn policy() -> AttemptPolicy {
    AttemptPolicy::default()
}

fn budget_policy() -> MfaBudgetPolicy {
    let p = policy();
    MfaBudgetPolicy {
        window: p.window,
        max_attempts: p.max_attempts,
        lock_after_failures: p.lock_after_failures,
    }
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

/// One reserved MFA attempt: only [`guard`] makes one, and a verification may look at the
/// user's secrets only while holding it. An attempt dropped unsettled (an error on the way, or
/// the client hanging up mid-check) is settled as a failure by a background task, so a
/// cancelled request cannot buy an uncounted guess.
#[must_use = "a reserved MFA attempt must be settled"]
pub struct Attempt {
    state: AppState,
    user: MfaUser,
    method: MfaMethod,
    purpose: Purpose,
    settled: bool,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("user_id", &self.user.user_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (state, user, method, purpose) = (
            self.state.clone(),
            self.user.clone(),
            self.method,
            self.purpose,
        );
        runtime.spawn(async move {
            let settled = record_failure(
                &state,
                &user,
                method,
                purpose,
                Failure::Interrupted,
                json!({}),
            )
            .await;
            if let Err(e) = settled {
                tracing::warn!(error = %e, "settling an interrupted MFA attempt failed");
            }
        });
    }
}

/// Reserves an attempt, or refuses it up front when the account is locked or over its budget.
pub async fn guard(
    state: &AppState,
    user: &MfaUser,
    method: MfaMethod,
    purpose: Purpose,
) -> Result<Attempt, ApiError> {
    let reserved = state
        .store
        .reserve_mfa_attempt(user.user_id, budget_policy(), state.clock.now())
        .await?;
    if reserved.is_some() {
        return Ok(Attempt {
            state: state.clone(),
            user: user.clone(),
            method,
            purpose,
            settled: false,
        });
    }
    let row = state.store.get_user(user.user_id).await?;
    let (reason, error) = if row.locked_at.is_some() {
        (
            "account_locked",
            ApiError::forbidden(
                "account_locked",
                "this account is locked after repeated failed MFA attempts; ask an admin to unlock it",
            ),
        )
    } else {
        (
            "rate_limited",
            ApiError::TooManyRequests {
                code: "mfa_rate_limited",
                message: format!(
                    "too many MFA attempts; wait {} minutes and try again",
                    policy().window.whole_minutes()
                ),
            },
        )
    };
    audit_user(
        state,
        user,
        "mfa.verify",
        Outcome::Denied,
        json!({"method": method.as_str(), "purpose": purpose.as_str(), "reason": reason}),
    )
    .await;
    Err(error)
}

/// Settles an attempt as a successful verification.
pub async fn succeeded(mut attempt: Attempt, extra: serde_json::Value) -> Result<(), ApiError> {
    attempt.settled = true;
    let (state, user) = (&attempt.state, &attempt.user);
    state.store.settle_mfa_success(user.user_id).await?;
    state
        .store
        .record_mfa_attempt(
            user.user_id,
            attempt.method.as_str(),
            true,
            state.clock.now(),
        )
        .await?;
    let mut details =
        json!({"method": attempt.method.as_str(), "purpose": attempt.purpose.as_str()});
    merge(&mut details, extra);
    audit_user(state, user, "mfa.verify", Outcome::Success, details).await;
    Ok(())
}

/// Settles an attempt as a failed verification (locking the account when this failure reaches
/// the threshold) and returns the error to answer with.
pub async fn failed(mut attempt: Attempt, failure: Failure, extra: serde_json::Value) -> ApiError {
    attempt.settled = true;
    let (state, user) = (&attempt.state, &attempt.user);
    match record_failure(state, user, attempt.method, attempt.purpose, failure, extra).await {
        Ok(true) => ApiError::forbidden(
            "account_locked",
            "too many failed MFA attempts: this account is now locked; ask an admin to unlock it",
        ),
        Ok(false) => failure.into_api_error(attempt.method),
        Err(e) => e,
    }
}

/// Counts a failure; returns whether this failure locked the account.
async fn record_failure(
    state: &AppState,
    user: &MfaUser,
    method: MfaMethod,
    purpose: Purpose,
    failure: Failure,
    extra: serde_json::Value,
) -> Result<bool, ApiError> {
    let now = state.clock.now();
    let p = policy();
    let reason = format!(
        "automatic lock: {} failed MFA attempts within {} minutes",
        p.lock_after_failures,
        p.window.whole_minutes()
    );
    let settled = state
        .store
        .settle_mfa_failure(user.user_id, budget_policy(), &reason, now)
        .await?;
    state
        .store
        .record_mfa_attempt(user.user_id, method.as_str(), false, now)
        .await?;
    let mut details =
        json!({"method": method.as_str(), "purpose": purpose.as_str(), "reason": failure.reason()});
    merge(&mut details, extra);
    audit_user(state, user, "mfa.verify", Outcome::Failed, details).await;
    if !settled.locked_now {
        return Ok(false);
    }
    state
        .store
        .record_mfa_lockout(user.user_id, settled.failures, now)
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
        json!({"method": method.as_str(), "failures": settled.failures, "window_minutes": p.window.whole_minutes()}),
    )
    .await;
    Ok(true)
}

fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}
