//! Identity changes inside a [`StoreTx`], so that a security-relevant change (token created or
//! revoked, user created, suspended, reinstated, unlocked or deleted) and the audit event that
//! records it commit together (append it with [`StoreTx::append_audit_events`] in the same
//! transaction): either both are stored or neither. The [`Store`](crate::Store) methods of
//! the same names are the unaudited one-statement forms used by tests and bootstrap code.

use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api_tokens::{ApiToken, NewApiToken, token_columns_plain};
use crate::changes::Topic;
use crate::clock::{Ts, ts_opt};
use crate::error::StoreError;
use crate::tx::{StoreTx, with_tx};
use crate::users::{NewUser, User, user_columns};

impl StoreTx {
    /// [`Store::create_api_token`](crate::Store::create_api_token) in this transaction.
    ///
    /// # Errors
    /// Conflict (`uq_api_tokens_name`), Invariant, Db; roll the transaction back.
    pub async fn create_api_token(
        &mut self,
        new: &NewApiToken,
        now: OffsetDateTime,
    ) -> Result<ApiToken, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO api_tokens (public_id, name, token_hash, owner_user_id, created_by_user_id, \
             role, permissions, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
            token_columns_plain!()
        );
        Ok(with_tx!(self, c => sqlx::query_as::<_, ApiToken>(SQL)
            .bind(Uuid::now_v7())
            .bind(&new.name)
            .bind(&new.token_hash)
            .bind(new.owner_user_id)
            .bind(new.created_by_user_id)
            .bind(&new.role)
            .bind(Json(&new.permissions))
            .bind(ts_opt(new.expires_at))
            .bind(Ts(now))
            .fetch_one(&mut *c)
            .await?))
    }

    /// [`Store::revoke_api_token`](crate::Store::revoke_api_token) in this transaction.
    ///
    /// # Errors
    /// Db.
    pub async fn revoke_api_token(
        &mut self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.changes(Topic::Identity);
        const SQL: &str =
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        let n = with_tx!(self, c => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// [`Store::create_user`](crate::Store::create_user) in this transaction.
    ///
    /// # Errors
    /// Conflict (`uq_users_email`), Invariant, Db.
    pub async fn create_user(
        &mut self,
        new: &NewUser,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO users (public_id, email, name, role, password_hash, is_service, mfa_enforced, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
            user_columns!()
        );
        let email = new.email.trim().to_lowercase();
        Ok(with_tx!(self, c => sqlx::query_as::<_, User>(SQL)
            .bind(Uuid::now_v7())
            .bind(&email)
            .bind(&new.name)
            .bind(&new.role)
            .bind(&new.password_hash)
            .bind(new.is_service)
            .bind(new.mfa_enforced)
            .bind(Ts(now))
            .fetch_one(&mut *c)
            .await?))
    }

    /// [`Store::set_user_suspended`](crate::Store::set_user_suspended) in this transaction.
    ///
    /// # Errors
    /// Db.
    pub async fn set_user_suspended(
        &mut self,
        id: i64,
        suspended_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.changes(Topic::Identity);
        const SQL: &str = "UPDATE users SET suspended_at = $2, updated_at = $3 WHERE id = $1";
        let n = with_tx!(self, c => sqlx::query(SQL)
            .bind(id).bind(ts_opt(suspended_at)).bind(Ts(now)).execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// [`Store::unlock_user`](crate::Store::unlock_user) in this transaction.
    ///
    /// # Errors
    /// Db.
    pub async fn unlock_user(&mut self, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.changes(Topic::Identity);
        // Every lock and budget: the MFA lock, the login lockout and the MFA attempt budget
        // (a user unlocked but still out of MFA attempts would stay locked out).
        const SQL: &str = "UPDATE users SET locked_at = NULL, lock_reason = NULL, \
            failed_login_count = 0, login_locked_until = NULL, mfa_window_started_at = NULL, \
            mfa_attempts = 0, mfa_failures = 0, mfa_in_flight = 0, updated_at = $2 WHERE id = $1";
        let n = with_tx!(self, c => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// [`Store::soft_delete_user`](crate::Store::soft_delete_user) in this transaction.
    ///
    /// # Errors
    /// Db.
    pub async fn soft_delete_user(
        &mut self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.changes(Topic::Identity);
        const SQL: &str = "UPDATE users SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL";
        let n = with_tx!(self, c => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// [`Store::revoke_user_sessions`](crate::Store::revoke_user_sessions) in this transaction.
    ///
    /// # Errors
    /// Db.
    pub async fn revoke_user_sessions(
        &mut self,
        user_id: i64,
        by_user_id: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.changes(Topic::Identity);
        const SQL: &str = "UPDATE sessions SET revoked_at = $2, revoked_by_user_id = $3 \
            WHERE user_id = $1 AND revoked_at IS NULL";
        Ok(with_tx!(self, c => sqlx::query(SQL)
            .bind(user_id).bind(Ts(now)).bind(by_user_id).execute(&mut *c).await?.rows_affected()))
    }
}
