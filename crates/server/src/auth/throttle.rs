//! Login throttling policy over the database counters of `auth_throttle`: after
//! [`MAX_FAILURES`] failed password attempts for one email within [`WINDOW`], further attempts
//! for that email are refused for [`LOCK_FOR`], on every replica. Unknown emails are counted
//! exactly like known ones, so the lockout says nothing about whether an account exists.

use rgw_store::ThrottlePolicy;
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::error::ApiError;

/// Failures that lock an email.
pub const MAX_FAILURES: i64 = 5;
/// Window in which failures are counted.
pub const WINDOW: Duration = Duration::minutes(15);
/// How long the temporary lockout lasts.
pub const LOCK_FOR: Duration = Duration::minutes(15);

/// The password-login policy.
pub const PASSWORD_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: MAX_FAILURES,
    window: WINDOW,
    lock_for: LOCK_FOR,
};

/// The throttle key of password logins for `email` (already lower-cased).
pub fn password_key(email: &str) -> String {
    format!("password:{email}")
}

/// 429 `login_locked` when the email is temporarily locked.
pub async fn check(state: &AppState, key: &str, now: OffsetDateTime) -> Result<(), ApiError> {
    if let Some(until) = state.store.throttle_locked_until(key, now).await? {
        return Err(locked_error(until, now));
    }
    Ok(())
}

/// Counts a failure; returns the lock end when this failure triggered the lockout.
pub async fn record_failure(
    state: &AppState,
    key: &str,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, ApiError> {
    // Counters of unknown emails would otherwise accumulate; sweep stale ones first.
    state.store.purge_throttle(now - WINDOW, now).await?;
    let s = state
        .store
        .record_throttle_failure(key, PASSWORD_POLICY, now)
        .await?;
    Ok(s.locked_until.filter(|u| *u > now))
}

/// Clears the counter (successful login or admin unlock).
pub async fn clear(state: &AppState, key: &str) -> Result<(), ApiError> {
    state.store.clear_throttle(key).await?;
    Ok(())
}

/// The error for a locked email.
pub fn locked_error(until: OffsetDateTime, now: OffsetDateTime) -> ApiError {
    let minutes = ((until - now).whole_seconds() + 59) / 60;
    ApiError::TooManyRequests {
        code: "login_locked",
        message: format!(
            "too many failed logins for this account; try again in {minutes} minute(s) or ask an admin to run `rack-gateway-server users unlock`"
        ),
    }
}
