//! `integration_refs`: small facts an integration job records about a request so that a later
//! job, a retry or another worker finds them again (the PR comment to edit in place, the
//! CircleCI approval already sent). The first writer of a name wins; callers that lose the race
//! read the winner's value.

use time::OffsetDateTime;

use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

impl Store {
    /// The value recorded under `name` for request `request_id`.
    ///
    /// # Errors
    /// Db.
    pub async fn get_integration_ref(
        &self,
        request_id: i64,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT value FROM integration_refs \
            WHERE deploy_approval_request_id = $1 AND name = $2";
        Ok(with_db!(&self.db, p => sqlx::query_scalar(SQL)
            .bind(request_id).bind(name).fetch_optional(p).await?))
    }

    /// Records `value` under `name` unless a value is already there. Returns the value that is
    /// recorded now: `value` when this call wrote it, else the earlier writer's.
    ///
    /// # Errors
    /// Db.
    pub async fn put_integration_ref_once(
        &self,
        request_id: i64,
        name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        const SQL: &str = "INSERT INTO integration_refs \
            (deploy_approval_request_id, name, value, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $4) ON CONFLICT (deploy_approval_request_id, name) DO NOTHING";
        with_db!(&self.db, p => sqlx::query(SQL)
            .bind(request_id).bind(name).bind(value).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(self
            .get_integration_ref(request_id, name)
            .await?
            .unwrap_or_else(|| value.to_owned()))
    }

    /// Replaces the value under `name` only if it still is `old` (e.g. the PR comment was
    /// deleted on GitHub and a new one replaces it). False if someone changed it meanwhile.
    ///
    /// # Errors
    /// Db.
    pub async fn replace_integration_ref(
        &self,
        request_id: i64,
        name: &str,
        old: &str,
        new: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE integration_refs SET value = $4, updated_at = $5 \
            WHERE deploy_approval_request_id = $1 AND name = $2 AND value = $3";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(request_id).bind(name).bind(old).bind(new).bind(Ts(now))
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }
}
