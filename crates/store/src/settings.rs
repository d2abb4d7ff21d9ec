//! Settings changed from the web UI: global (`scope = ""`) or per app (`scope = app name`).
//! Environment overrides are resolved by the server, not here.

use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::changes::Topic;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// A row of `settings`.
#[derive(Debug, Clone, FromRow)]
pub struct Setting {
    /// `""` for global, else the app name.
    pub scope: String,
    /// Setting key, e.g. `deploy_approval_window_minutes`.
    pub key: String,
    /// JSON value.
    pub value: Json<Value>,
    /// Who changed it last.
    pub updated_by_user_id: Option<i64>,
    /// When.
    pub updated_at: OffsetDateTime,
}

impl Store {
    /// Reads one setting.
    ///
    /// # Errors
    /// Db.
    pub async fn get_setting(&self, scope: &str, key: &str) -> Result<Option<Setting>, StoreError> {
        const SQL: &str = "SELECT scope, key, value, updated_by_user_id, updated_at FROM settings \
            WHERE scope = $1 AND key = $2";
        Ok(with_db!(&self.reads, p => sqlx::query_as::<_, Setting>(SQL)
            .bind(scope).bind(key).fetch_optional(p).await?))
    }

    /// Inserts or replaces one setting.
    ///
    /// # Errors
    /// Invariant (empty key), Db.
    pub async fn put_setting(
        &self,
        scope: &str,
        key: &str,
        value: &Value,
        updated_by_user_id: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<Setting, StoreError> {
        const SQL: &str = "INSERT INTO settings (scope, key, value, updated_by_user_id, updated_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, \
            updated_by_user_id = excluded.updated_by_user_id, updated_at = excluded.updated_at \
            RETURNING scope, key, value, updated_by_user_id, updated_at";
        let r = with_db!(&self.db, p => sqlx::query_as::<_, Setting>(SQL)
            .bind(scope).bind(key).bind(Json(value)).bind(updated_by_user_id).bind(Ts(now))
            .fetch_one(p).await?);
        self.changes.bump(Topic::Settings);
        Ok(r)
    }

    /// Removes one setting (back to the default). Returns whether it existed.
    ///
    /// # Errors
    /// Db.
    pub async fn delete_setting(&self, scope: &str, key: &str) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM settings WHERE scope = $1 AND key = $2";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(scope).bind(key).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Settings);
        Ok(n == 1)
    }

    /// Lists the settings of one scope (`None` = every scope), by scope then key.
    ///
    /// # Errors
    /// Db.
    pub async fn list_settings(&self, scope: Option<&str>) -> Result<Vec<Setting>, StoreError> {
        const SQL: &str = "SELECT scope, key, value, updated_by_user_id, updated_at FROM settings \
            WHERE ($1 IS NULL OR scope = $1) ORDER BY scope, key";
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Setting>(SQL)
            .bind(scope).fetch_all(p).await?))
    }
}
