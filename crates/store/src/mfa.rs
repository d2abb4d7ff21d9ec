//! MFA state: TOTP secrets (encrypted by the caller) with per-step replay protection, backup
//! codes, and the attempt log used for rate limiting and lockout.

use sqlx::FromRow;
use time::OffsetDateTime;

use crate::changes::Topic;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// A row of `totp_credentials`. The secret is ciphertext; decryption is the caller's job.
#[derive(Clone, FromRow)]
pub struct TotpCredential {
    /// Owner (one TOTP credential per user).
    pub user_id: i64,
    /// AEAD ciphertext of the shared secret.
    pub secret_ciphertext: Vec<u8>,
    /// AEAD nonce.
    pub secret_nonce: Vec<u8>,
    /// Set once the user proved possession with a first code.
    pub confirmed_at: Option<OffsetDateTime>,
    /// Highest time step accepted so far.
    pub last_used_step: Option<i64>,
    /// Enrolment time.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpCredential")
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Stores a (new, unconfirmed) TOTP secret for the user, replacing any previous one.
    ///
    /// # Errors
    /// Invariant (unknown user), Db.
    pub async fn put_totp_credential(
        &self,
        user_id: i64,
        secret_ciphertext: &[u8],
        secret_nonce: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO totp_credentials \
            (user_id, secret_ciphertext, secret_nonce, confirmed_at, last_used_step, created_at) \
            VALUES ($1, $2, $3, NULL, NULL, $4) \
            ON CONFLICT (user_id) DO UPDATE SET secret_ciphertext = excluded.secret_ciphertext, \
            secret_nonce = excluded.secret_nonce, confirmed_at = NULL, last_used_step = NULL, \
            created_at = excluded.created_at";
        with_db!(&self.db, p => sqlx::query(SQL)
            .bind(user_id).bind(secret_ciphertext).bind(secret_nonce).bind(Ts(now))
            .execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(())
    }

    /// Gets the user's TOTP credential, if enrolled.
    ///
    /// # Errors
    /// Db.
    pub async fn get_totp_credential(
        &self,
        user_id: i64,
    ) -> Result<Option<TotpCredential>, StoreError> {
        const SQL: &str = "SELECT user_id, secret_ciphertext, secret_nonce, confirmed_at, \
            last_used_step, created_at FROM totp_credentials WHERE user_id = $1";
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, TotpCredential>(SQL)
            .bind(user_id).fetch_optional(p).await?),
        )
    }

    /// Marks the TOTP credential confirmed.
    ///
    /// # Errors
    /// Db.
    pub async fn confirm_totp_credential(
        &self,
        user_id: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE totp_credentials SET confirmed_at = $2 \
            WHERE user_id = $1 AND confirmed_at IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(user_id).bind(Ts(now)).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }

    /// Consumes a verified TOTP time step. True iff `step` is newer than every step accepted
    /// before, atomically across replicas: a replayed code, or an older one, returns false.
    ///
    /// # Errors
    /// Db.
    pub async fn consume_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE totp_credentials SET last_used_step = $1 \
            WHERE user_id = $2 AND (last_used_step IS NULL OR last_used_step < $1)";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(step).bind(user_id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Replaces the user's backup codes with a new generation of hashed codes.
    ///
    /// # Errors
    /// Conflict (duplicate hash), Db.
    pub async fn replace_backup_codes(
        &self,
        user_id: i64,
        code_hashes: &[Vec<u8>],
        generation: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const DELETE: &str = "DELETE FROM backup_codes WHERE user_id = $1";
        const INSERT: &str = "INSERT INTO backup_codes (user_id, code_hash, generation, created_at) \
            VALUES ($1, $2, $3, $4)";
        let mut tx = self.begin().await?;
        crate::tx::with_tx!(tx, c => {
            sqlx::query(DELETE).bind(user_id).execute(&mut *c).await?;
            for hash in code_hashes {
                sqlx::query(INSERT)
                    .bind(user_id).bind(hash).bind(generation).bind(Ts(now))
                    .execute(&mut *c).await?;
            }
        });
        tx.commit().await
    }

    /// Uses a backup code once. True iff an unused code with this hash existed.
    ///
    /// # Errors
    /// Db.
    pub async fn consume_backup_code(
        &self,
        user_id: i64,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE backup_codes SET used_at = $3 \
            WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(user_id).bind(code_hash).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Logs an MFA attempt (`totp`, `webauthn` or `backup_code`).
    ///
    /// # Errors
    /// Invariant (unknown method or user), Db.
    pub async fn record_mfa_attempt(
        &self,
        user_id: i64,
        method: &str,
        success: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "INSERT INTO mfa_attempts (user_id, method, success, at) VALUES ($1, $2, $3, $4)";
        with_db!(&self.db, p => sqlx::query(SQL)
            .bind(user_id).bind(method).bind(success).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Counts the user's failed MFA attempts at or after `since`.
    ///
    /// # Errors
    /// Db.
    pub async fn count_mfa_failures_since(
        &self,
        user_id: i64,
        since: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM mfa_attempts \
            WHERE user_id = $1 AND success = FALSE AND at >= $2";
        Ok(with_db!(&self.db, p => sqlx::query_scalar::<_, i64>(SQL)
            .bind(user_id).bind(Ts(since)).fetch_one(p).await?))
    }
}
