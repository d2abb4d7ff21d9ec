//! Database-backed attempt budgets for authentication (`auth_throttle`), so that a limit holds
//! across every gateway replica sharing the database. Keys are chosen by the caller (e.g.
//! `password:<email>`, `password-ip:<address>`); the policy (how many failures, how long a
//! lock) is the caller's.
//!
//! An attempt is *reserved* before the secret is checked, in one atomic upsert that only
//! succeeds while `failures + in_flight` is under the limit, and *settled* afterwards as a
//! failure or a success. A burst of parallel attempts therefore gets at most `max_failures`
//! checks, however many requests race, and exactly one settlement crosses the limit.

use sqlx::FromRow;
use time::{Duration, OffsetDateTime};

use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// The counter of one key after a reservation or a settlement.
#[derive(Debug, Clone, FromRow)]
pub struct ThrottleState {
    /// Failures in the current window.
    pub failures: i64,
    /// Reserved attempts not yet settled.
    pub in_flight: i64,
    /// Locked until this time, if the limit was reached.
    pub locked_until: Option<OffsetDateTime>,
}

/// How a key is throttled: `max_failures` within `window` locks it for `lock_for`.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures that trigger the lock (reserved attempts count until settled).
    pub max_failures: i64,
    /// Failures older than this start a new window.
    pub window: Duration,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

/// Whether the stored window is over: no running lock and started before the cutoff (`$3`), or
/// a lock that has ended (`$2` is now).
macro_rules! fresh {
    () => {
        "((auth_throttle.locked_until IS NULL AND auth_throttle.window_started_at < $3) \
         OR COALESCE(auth_throttle.locked_until <= $2, FALSE))"
    };
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

    /// Reserves one attempt for `key` in a single atomic upsert: granted (the new state) while
    /// the key is not locked and `failures + in_flight < policy.max_failures`, or when its
    /// window is over (the counter restarts); `None` when refused. Settle every granted
    /// reservation with [`Store::settle_throttle_failure`], [`Store::settle_throttle_success`]
    /// or [`Store::release_throttle_attempt`].
    ///
    /// # Errors
    /// Db.
    pub async fn reserve_throttle_attempt(
        &self,
        key: &str,
        policy: ThrottlePolicy,
        now: OffsetDateTime,
    ) -> Result<Option<ThrottleState>, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO auth_throttle (key, failures, window_started_at, locked_until, in_flight) \
             VALUES ($1, 0, $2, NULL, 1) \
             ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN ",
            fresh!(),
            " THEN 0 ELSE auth_throttle.failures END, in_flight = CASE WHEN ",
            fresh!(),
            " THEN 1 ELSE auth_throttle.in_flight + 1 END, window_started_at = CASE WHEN ",
            fresh!(),
            " THEN $2 ELSE auth_throttle.window_started_at END, locked_until = CASE WHEN ",
            fresh!(),
            " THEN NULL ELSE auth_throttle.locked_until END WHERE ",
            fresh!(),
            " OR (auth_throttle.failures + auth_throttle.in_flight < $4 \
               AND (auth_throttle.locked_until IS NULL OR auth_throttle.locked_until <= $2)) \
             RETURNING failures, in_flight, locked_until"
        );
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, ThrottleState>(SQL)
            .bind(key)
            .bind(Ts(now))
            .bind(Ts(now - policy.window))
            .bind(policy.max_failures)
            .fetch_optional(p)
            .await?),
        )
    }

    /// Settles a reservation of `key` as a failure; reaching `policy.max_failures` sets the
    /// lock. Exactly one settlement per window returns `failures == policy.max_failures`: the
    /// one that crossed the limit. `None` when the counter is gone (cleared meanwhile).
    ///
    /// # Errors
    /// Db.
    pub async fn settle_throttle_failure(
        &self,
        key: &str,
        policy: ThrottlePolicy,
        now: OffsetDateTime,
    ) -> Result<Option<ThrottleState>, StoreError> {
        const SQL: &str = "UPDATE auth_throttle SET failures = failures + 1, \
            in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 ELSE 0 END, \
            locked_until = CASE WHEN failures + 1 >= $2 THEN $3 ELSE locked_until END \
            WHERE key = $1 RETURNING failures, in_flight, locked_until";
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, ThrottleState>(SQL)
            .bind(key)
            .bind(policy.max_failures)
            .bind(Ts(now + policy.lock_for))
            .fetch_optional(p)
            .await?),
        )
    }

    /// Settles a reservation of `key` as a success. With `reset`, the failures of the window
    /// are forgiven and a lock is lifted (an account's own successful login); without, only the
    /// reservation is returned (a shared key such as a client address, which one good login
    /// must not wipe clean).
    ///
    /// # Errors
    /// Db.
    pub async fn settle_throttle_success(&self, key: &str, reset: bool) -> Result<(), StoreError> {
        const RESET: &str = "UPDATE auth_throttle SET failures = 0, locked_until = NULL, \
            in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 ELSE 0 END WHERE key = $1";
        if reset {
            with_db!(&self.db, p => sqlx::query(RESET).bind(key).execute(p).await?.rows_affected());
            Ok(())
        } else {
            self.release_throttle_attempt(key).await
        }
    }

    /// Returns a reservation of `key` without an outcome (the attempt was refused by another
    /// check before any secret was compared).
    ///
    /// # Errors
    /// Db.
    pub async fn release_throttle_attempt(&self, key: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE auth_throttle \
            SET in_flight = CASE WHEN in_flight > 0 THEN in_flight - 1 ELSE 0 END WHERE key = $1";
        with_db!(&self.db, p => sqlx::query(SQL).bind(key).execute(p).await?.rows_affected());
        Ok(())
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

    /// Forgets the counter of `key` (an admin unlock).
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
    const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

    #[tokio::test]
    async fn running_attempts_count_against_the_limit_until_they_are_settled() {
        for t in test_stores().await {
            let s = &t.store;
            for expected in 1..=3 {
                let r = s.reserve_throttle_attempt("k", POLICY, T0).await.unwrap();
                assert_eq!(r.map(|r| r.in_flight), Some(expected));
            }
            assert!(
                s.reserve_throttle_attempt("k", POLICY, T0)
                    .await
                    .unwrap()
                    .is_none(),
                "three running attempts fill a budget of three"
            );
            s.release_throttle_attempt("k").await.unwrap();
            let again = s.reserve_throttle_attempt("k", POLICY, T0).await.unwrap();
            assert_eq!(again.map(|r| (r.failures, r.in_flight)), Some((0, 3)));
            assert!(
                s.reserve_throttle_attempt("other", POLICY, T0)
                    .await
                    .unwrap()
                    .is_some(),
                "keys are independent"
            );
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn the_failure_that_reaches_the_limit_locks_the_key_until_the_lock_ends() {
        for t in test_stores().await {
            let s = &t.store;
            for _ in 0..3 {
                s.reserve_throttle_attempt("k", POLICY, T0).await.unwrap();
            }
            let settled: Vec<_> = [
                s.settle_throttle_failure("k", POLICY, T0).await.unwrap(),
                s.settle_throttle_failure("k", POLICY, T0).await.unwrap(),
                s.settle_throttle_failure("k", POLICY, T0).await.unwrap(),
            ]
            .into_iter()
            .map(|r| r.map(|r| (r.failures, r.locked_until)))
            .collect();
            let until = T0 + POLICY.lock_for;
            assert_eq!(
                settled,
                [Some((1, None)), Some((2, None)), Some((3, Some(until)))]
            );
            assert_eq!(s.throttle_locked_until("k", T0).await.unwrap(), Some(until));
            assert!(
                s.reserve_throttle_attempt("k", POLICY, until - Duration::seconds(1))
                    .await
                    .unwrap()
                    .is_none()
            );
            let after = s
                .reserve_throttle_attempt("k", POLICY, until)
                .await
                .unwrap();
            assert_eq!(
                after.map(|r| (r.failures, r.in_flight, r.locked_until)),
                Some((0, 1, None)),
                "an ended lock starts a new window"
            );
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn a_success_resets_an_account_key_but_only_returns_the_attempt_of_a_shared_key() {
        for t in test_stores().await {
            let s = &t.store;
            for key in ["account", "shared"] {
                for _ in 0..2 {
                    s.reserve_throttle_attempt(key, POLICY, T0).await.unwrap();
                    s.settle_throttle_failure(key, POLICY, T0).await.unwrap();
                }
                s.reserve_throttle_attempt(key, POLICY, T0).await.unwrap();
                s.settle_throttle_success(key, key == "account")
                    .await
                    .unwrap();
            }
            let account = s
                .reserve_throttle_attempt("account", POLICY, T0)
                .await
                .unwrap();
            assert_eq!(account.map(|r| (r.failures, r.in_flight)), Some((0, 1)));
            let shared = s
                .reserve_throttle_attempt("shared", POLICY, T0)
                .await
                .unwrap();
            assert_eq!(shared.map(|r| (r.failures, r.in_flight)), Some((2, 1)));
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn parallel_reservations_never_grant_more_than_the_limit() {
        for t in test_stores().await {
            let tasks: Vec<_> = (0..40)
                .map(|_| {
                    let s = t.store.clone();
                    tokio::spawn(async move { s.reserve_throttle_attempt("k", POLICY, T0).await })
                })
                .collect();
            let mut granted = 0;
            for task in tasks {
                if task.await.unwrap().unwrap().is_some() {
                    granted += 1;
                }
            }
            assert_eq!(granted, 3, "{}", t.backend);
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn an_attempt_after_the_window_starts_a_new_count_and_stale_counters_are_swept() {
        for t in test_stores().await {
            let s = &t.store;
            for _ in 0..2 {
                s.reserve_throttle_attempt("k", POLICY, T0).await.unwrap();
                s.settle_throttle_failure("k", POLICY, T0).await.unwrap();
            }
            let later = s
                .reserve_throttle_attempt("k", POLICY, T0 + Duration::minutes(16))
                .await
                .unwrap();
            assert_eq!(later.map(|r| (r.failures, r.in_flight)), Some((0, 1)));
            s.release_throttle_attempt("k").await.unwrap();
            let t1 = T0 + Duration::minutes(40);
            assert_eq!(
                s.purge_throttle(t1 - POLICY.window, t1).await.unwrap(),
                1,
                "stale counters are swept"
            );
            t.cleanup().await;
        }
    }
}
