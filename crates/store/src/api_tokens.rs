//! API tokens: stored as SHA-256 hashes, owned by a user, role- or permission-scoped.

use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changes::Topic;
use crate::clock::{Ts, ts_opt};
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// A row of `api_tokens` (never the token itself).
#[derive(Debug, Clone, FromRow)]
pub struct ApiToken {
    /// Internal id (foreign keys, e.g. `target_api_token_id`).
    pub id: i64,
    /// External id.
    pub public_id: Uuid,
    /// Unique name.
    pub name: String,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The user the token acts for.
    pub owner_user_id: i64,
    /// Who created it.
    pub created_by_user_id: Option<i64>,
    /// `viewer`, `ops`, `deployer`, `admin` or `cicd`.
    pub role: Option<String>,
    /// Extra permission strings (`<scope>:<resource>:<action>`).
    pub permissions: Json<Vec<String>>,
    /// Expiry, if any.
    pub expires_at: Option<OffsetDateTime>,
    /// Last successful use.
    pub last_used_at: Option<OffsetDateTime>,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A token that authenticates right now, with the owner fields policy needs.
#[derive(Debug, Clone, FromRow)]
pub struct ActiveApiToken {
    /// The token row.
    #[sqlx(flatten)]
    pub token: ApiToken,
    /// Owner's public id.
    pub owner_public_id: Uuid,
    /// Owner's email.
    pub owner_email: String,
    /// Owner's role.
    pub owner_role: String,
    /// Owner is a service user.
    pub owner_is_service: bool,
}

/// Input for [`Store::create_api_token`].
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Unique name.
    pub name: String,
    /// SHA-256 of the token shown once to the caller.
    pub token_hash: Vec<u8>,
    /// Owner.
    pub owner_user_id: i64,
    /// Creator.
    pub created_by_user_id: Option<i64>,
    /// Role, or `None` when `permissions` alone scope it.
    pub role: Option<String>,
    /// Permission strings; must be non-empty when `role` is `None`.
    pub permissions: Vec<String>,
    /// Optional expiry.
    pub expires_at: Option<OffsetDateTime>,
}

macro_rules! token_columns_plain {
    () => {
        "id, public_id, name, token_hash, owner_user_id, created_by_user_id, role, permissions, \
         expires_at, last_used_at, revoked_at, created_at"
    };
}
pub(crate) use token_columns_plain;

macro_rules! token_columns {
    () => {
        "t.id, t.public_id, t.name, t.token_hash, t.owner_user_id, t.created_by_user_id, t.role, \
         t.permissions, t.expires_at, t.last_used_at, t.revoked_at, t.created_at"
    };
}

impl Store {
    /// Stores a new token. A duplicate name is [`StoreError::Conflict`] on `uq_api_tokens_name`;
    /// neither a role nor a permission is [`StoreError::Invariant`] (`ck_api_tokens_scope`).
    ///
    /// # Errors
    /// Conflict, Invariant, Db.
    pub async fn create_api_token(
        &self,
        new: &NewApiToken,
        now: OffsetDateTime,
    ) -> Result<ApiToken, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO api_tokens (public_id, name, token_hash, owner_user_id, created_by_user_id, \
             role, permissions, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
            token_columns_plain!()
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, ApiToken>(SQL)
            .bind(Uuid::now_v7())
            .bind(&new.name)
            .bind(&new.token_hash)
            .bind(new.owner_user_id)
            .bind(new.created_by_user_id)
            .bind(&new.role)
            .bind(Json(&new.permissions))
            .bind(ts_opt(new.expires_at))
            .bind(Ts(now))
            .fetch_one(p)
            .await?))
    }

    /// Finds the token with this hash if it authenticates at `now`: not revoked, not expired,
    /// and owned by a user who is not deleted, suspended or locked.
    ///
    /// # Errors
    /// Db.
    pub async fn find_active_api_token(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<ActiveApiToken>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            token_columns!(),
            ", u.public_id AS owner_public_id, u.email AS owner_email, u.role AS owner_role, \
             u.is_service AS owner_is_service \
             FROM api_tokens t JOIN users u ON u.id = t.owner_user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) \
             AND u.deleted_at IS NULL AND u.suspended_at IS NULL AND u.locked_at IS NULL"
        );
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, ActiveApiToken>(SQL)
            .bind(token_hash).bind(Ts(now)).fetch_optional(p).await?),
        )
    }

    /// Gets a token by public id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_api_token_by_public_id(
        &self,
        public_id: Uuid,
    ) -> Result<ApiToken, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens t WHERE t.public_id = $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, ApiToken>(SQL)
            .bind(public_id).fetch_one(p).await?))
    }

    /// Gets a token by internal id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_api_token(&self, id: i64) -> Result<ApiToken, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens t WHERE t.id = $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, ApiToken>(SQL).bind(id).fetch_one(p).await?))
    }

    /// Lists all tokens (including revoked), newest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens t ORDER BY t.id DESC"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, ApiToken>(SQL).fetch_all(p).await?))
    }

    /// Revokes a token. Returns false if it was already revoked or does not exist.
    ///
    /// # Errors
    /// Db.
    pub async fn revoke_api_token(&self, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }

    /// Records a successful use of the token.
    ///
    /// # Errors
    /// Db.
    pub async fn touch_api_token(&self, id: i64, now: OffsetDateTime) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1";
        with_db!(&self.db, p => sqlx::query(SQL).bind(id).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(())
    }
}
