//! The per-user MFA attempt budget as counters on `users` (`mfa_window_started_at`,
//! `mfa_attempts`, `mfa_failures`, `mfa_in_flight`), so every replica sees the same numbers and
//! a burst of parallel guesses cannot outrun the limit.
//!
//! A verification *reserves* an attempt before any secret is looked at, in one conditional
//! `UPDATE … RETURNING` that succeeds only while the account is unlocked, the window's attempts
//! are under the budget and `failures + in_flight` is under the lockout threshold; afterwards it
//! is *settled* as a failure or a success. The settlement whose failure reaches the threshold
//! locks the account in the same statement, and it is the only one that reports the lock.

use sqlx::FromRow;
use time::{Duration, OffsetDateTime};

use crate::changes::Topic;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// The limits the counters are checked against (the numbers are the caller's policy).
#[derive(Debug, Clone, Copy)]
pub struct MfaBudgetPolicy {
    /// A window starts at its first attempt and lasts this long; then the attempt count restarts
    /// (failures do not).
    pub window: Duration,
    /// Attempts (successful or not) allowed per window.
    pub max_attempts: i64,
    /// Failures since the last success (running attempts count) that lock the account.
    pub lock_after_failures: i64,
}

/// The counters after a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct MfaBudget {
    /// Attempts in the current window, this one included.
    pub attempts: i64,
    /// Failures since the last success.
    pub failures: i64,
    /// Reserved attempts not yet settled, this one included.
    pub in_flight: i64,
}

/// The outcome of settling a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaFailureSettled {
    /// Failures since the last success, this one included.
    pub failures: i64,
    /// This failure reached the threshold and locked the account (exactly one does).
    pub locked_now: bool,
}

#[derive(FromRow)]
struct FailureRow {
    failures: i64,
    locked_at: Option<OffsetDateTime>,
}

/// Whether the user's window is over (`$3` is the cutoff).
macro_rules! stale {
    () => {
        "(mfa_window_started_at IS NULL OR mfa_window_started_at < $3)"
    };
}

impl Store {
    /// Reserves one MFA attempt for the user; `None` when refused (locked, out of budget, or
    /// too many attempts running). Settle a granted reservation with
    /// [`Store::settle_mfa_failure`] or [`Store::settle_mfa_success`].
    ///
    /// # Errors
    /// Db.
    pub async fn reserve_mfa_attempt(
        &self,
        user_id: i64,
        policy: MfaBudgetPolicy,
        now: OffsetDateTime,
    ) -> Result<Option<MfaBudget>, StoreError> {
        const SQL: &str = concat!(
            "UPDATE users SET mfa_attempts = CASE WHEN ",
            stale!(),
            " THEN 1 ELSE mfa_attempts + 1 END, mfa_in_flight = CASE WHEN ",
            stale!(),
            " THEN 1 ELSE mfa_in_flight + 1 END, mfa_window_started_at = CASE WHEN ",
            stale!(),
            " THEN $2 ELSE mfa_window_started_at END \
             WHERE id = $1 AND locked_at IS NULL AND ((",
            stale!(),
            " AND mfa_failures < $5) OR (mfa_attempts < $4 AND mfa_failures + mfa_in_flight < $5)) \
             RETURNING mfa_attempts AS attempts, mfa_failures AS failures, \
             mfa_in_flight AS in_flight"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, MfaBudget>(SQL)
            .bind(user_id)
            .bind(Ts(now))
            .bind(Ts(now - policy.window))
            .bind(policy.max_attempts)
            .bind(policy.lock_after_failures)
            .fetch_optional(p)
            .await?))
    }

    /// Settles a reservation as a failure. The failure that reaches
    /// `policy.lock_after_failures` locks the account with `lock_reason` in the same statement
    /// and is the only one reported with `locked_now`.
    ///
    /// # Errors
    /// NotFound (no such user), Db.
    pub async fn settle_mfa_failure(
        &self,
        user_id: i64,
        policy: MfaBudgetPolicy,
        lock_reason: &str,
        now: OffsetDateTime,
    ) -> Result<MfaFailureSettled, StoreError> {
        // Every SET expression reads the row as it was before this statement.
        const SQL: &str = "UPDATE users SET mfa_failures = mfa_failures + 1, \
            mfa_in_flight = CASE WHEN mfa_in_flight > 0 THEN mfa_in_flight - 1 ELSE 0 END, \
            lock_reason = CASE WHEN locked_at IS NULL AND mfa_failures + 1 = $2 THEN $4 \
                          ELSE lock_reason END, \
            locked_at = CASE WHEN locked_at IS NULL AND mfa_failures + 1 = $2 THEN $3 \
                        ELSE locked_at END \
            WHERE id = $1 RETURNING mfa_failures AS failures, locked_at";
        let row = with_db!(&self.db, p => sqlx::query_as::<_, FailureRow>(SQL)
            .bind(user_id)
            .bind(policy.lock_after_failures)
            .bind(Ts(now))
            .bind(lock_reason)
            .fetch_one(p)
            .await?);
        // Failures only reach the threshold once per streak (reservations keep
        // failures + in_flight under it), so "equal, and locked at this instant" is one caller.
        let locked_now = row.failures == policy.lock_after_failures
            && row.locked_at == Some(rgw_core::clock::normalize(now));
        self.changes.bump(Topic::Identity);
        Ok(MfaFailureSettled {
            failures: row.failures,
            locked_now,
        })
    }

    /// Settles a reservation as a success: the failure streak ends.
    ///
    /// # Errors
    /// Db.
    pub async fn settle_mfa_success(&self, user_id: i64) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE users SET mfa_failures = 0, \
            mfa_in_flight = CASE WHEN mfa_in_flight > 0 THEN mfa_in_flight - 1 ELSE 0 END \
            WHERE id = $1";
        with_db!(&self.db, p => sqlx::query(SQL).bind(user_id).execute(p).await?.rows_affected());
        Ok(())
    }
}
