//! Database-backed failure counters for authentication (`auth_throttle`), so that a lockout
//! holds across every gateway replica sharing the database. Keys are chosen by the caller
//! (e.g. `password:<email>`); the policy (how many failures, how long a lock) is the caller's.

use sqlx::FromRow;
use time::{Duration, OffsetDateTime};

use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// The counter of one key after a failure was recorded.
#[derive(Debug, Clone, FromRow)]
pub struct ThrottleState {
    /// Failures in the current window.
    pub failures: i64,
    /// Locked until this time, if the limit was reached.
    pub locked_until: Option<OffsetDateTime>,
}

/// How a key is throttled: `max_failures` within `window` locks it for `lock_for`.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures that trigger the lock.
    pub max_failures: i64,
    /// Failures older than this start a new window.
    pub window: Duration,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

impl Store {
    /// When `key` is locked at `now`, the time the lock ends.
    ///
    /// # Errors
    /// Db.
    pub async fn throttle_locked_until(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        const SQL: &str =
            "SELECT locked_until FROM auth_throttle WHERE key = $1 AND locked_until > $2";
        Ok(
            with_db!(&self.db, p => sqlx::query_scalar::<_, OffsetDateTime>(SQL)
            .bind(key).bind(Ts(now)).fetch_optional(p).await?),
        )
    }

    /// Counts one failure for `key` in a single atomic upsert: a window older than
    /// `policy.window` restarts at 1; reaching `policy.max_failures` sets the lock.
    ///
    /// # Errors
    /// Db.
    pub async fn record_throttle_failure(
        &self,
        key: &str,
        policy: ThrottlePolicy,
        now: OffsetDateTime,
    ) -> Result<ThrottleState, StoreError> {
        const SQL: &str = "INSERT INTO auth_throttle (key, failures, window_started_at, locked_until) \
            VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $5 ELSE NULL END) \
            ON CONFLICT (key) DO UPDATE SET \
              failures = CASE WHEN auth_throttle.window_started_at <= $3 THEN 1 \
                              ELSE auth_throttle.failures + 1 END, \
              window_started_at = CASE WHEN auth_throttle.window_started_at <= $3 THEN $2 \
                              ELSE auth_throttle.window_started_at END, \
              locked_until = CASE WHEN (CASE WHEN auth_throttle.window_started_at <= $3 THEN 1 \
                              ELSE auth_throttle.failures + 1 END) >= $4 THEN $5 \
                              ELSE auth_throttle.locked_until END \
            RETURNING failures, locked_until";
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, ThrottleState>(SQL)
            .bind(key)
            .bind(Ts(now))
            .bind(Ts(now - policy.window))
            .bind(policy.max_failures)
            .bind(Ts(now + policy.lock_for))
            .fetch_one(p)
            .await?),
        )
    }

    /// Deletes counters whose window started before `cutoff` and that hold no running lock
    /// (housekeeping). Returns how many were deleted.
    ///
    /// # Errors
    /// Db.
    pub async fn purge_throttle(
        &self,
        cutoff: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM auth_throttle WHERE window_started_at < $1 \
            AND (locked_until IS NULL OR locked_until <= $2)";
        Ok(
            with_db!(&self.db, p => sqlx::query(SQL).bind(Ts(cutoff)).bind(Ts(now)).execute(p).await?.rows_affected()),
        )
    }

    /// Forgets the failures of `key` (after a success, or an admin unlock).
    ///
    /// # Errors
    /// Db.
    pub async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM auth_throttle WHERE key = $1";
        with_db!(&self.db, p => sqlx::query(SQL).bind(key).execute(p).await?.rows_affected());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::testing::test_stores;

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        max_failures: 3,
        window: Duration::minutes(15),
        lock_for: Duration::minutes(10),
    };

    #[tokio::test]
    async fn failures_in_one_window_lock_the_key_until_the_lock_ends() {
        for t in test_stores().await {
            let s = &t.store;
            let t0 = datetime!(2026-03-01 12:00:00 UTC);
            assert_eq!(
                s.record_throttle_failure("k", POLICY, t0)
                    .await
                    .unwrap()
                    .failures,
                1
            );
            assert_eq!(
                s.record_throttle_failure("k", POLICY, t0 + Duration::minutes(1))
                    .await
                    .unwrap()
                    .failures,
                2
            );
            assert_eq!(
                s.throttle_locked_until("k", t0 + Duration::minutes(1))
                    .await
                    .unwrap(),
                None
            );
            let third = s
                .record_throttle_failure("k", POLICY, t0 + Duration::minutes(2))
                .await
                .unwrap();
            let until = t0 + Duration::minutes(12);
            assert_eq!((third.failures, third.locked_until), (3, Some(until)));
            assert_eq!(
                s.throttle_locked_until("k", t0 + Duration::minutes(5))
                    .await
                    .unwrap(),
                Some(until)
            );
            assert_eq!(
                s.throttle_locked_until("k", until).await.unwrap(),
                None,
                "the lock ends"
            );
            assert_eq!(
                s.throttle_locked_until("other", t0).await.unwrap(),
                None,
                "keys are independent"
            );
            s.clear_throttle("k").await.unwrap();
            assert_eq!(
                s.throttle_locked_until("k", t0 + Duration::minutes(5))
                    .await
                    .unwrap(),
                None
            );
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn a_failure_after_the_window_starts_a_new_count() {
        for t in test_stores().await {
            let s = &t.store;
            let t0 = datetime!(2026-03-01 12:00:00 UTC);
            s.record_throttle_failure("k", POLICY, t0).await.unwrap();
            s.record_throttle_failure("k", POLICY, t0).await.unwrap();
            let later = s
                .record_throttle_failure("k", POLICY, t0 + Duration::minutes(16))
                .await
                .unwrap();
            assert_eq!((later.failures, later.locked_until), (1, None));
            let t1 = t0 + Duration::minutes(40);
            assert_eq!(
                s.purge_throttle(t1 - POLICY.window, t1).await.unwrap(),
                1,
                "stale counters are swept"
            );
            t.cleanup().await;
        }
    }
}
