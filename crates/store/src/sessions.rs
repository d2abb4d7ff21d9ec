//! Server-side sessions for web and CLI logins, keyed by the SHA-256 of an opaque token.

use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changes::Topic;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// A row of `sessions`.
#[derive(Debug, Clone, FromRow)]
pub struct Session {
    /// Internal id.
    pub id: i64,
    /// External id (session listings).
    pub public_id: Uuid,
    /// SHA-256 of the session token.
    pub token_hash: Vec<u8>,
    /// Owner.
    pub user_id: i64,
    /// `web` or `cli`.
    pub channel: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last request seen.
    pub last_seen_at: OffsetDateTime,
    /// Expires when idle until this time.
    pub idle_expires_at: OffsetDateTime,
    /// Hard expiry.
    pub absolute_expires_at: OffsetDateTime,
    /// Last MFA verification in this session.
    pub mfa_verified_at: Option<OffsetDateTime>,
    /// Method of that verification.
    pub mfa_method: Option<String>,
    /// Client IP at creation.
    pub ip: Option<String>,
    /// Client user agent at creation.
    pub user_agent: Option<String>,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
    /// Who revoked it.
    pub revoked_by_user_id: Option<i64>,
}

/// Input for [`Store::create_session`].
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the session token.
    pub token_hash: Vec<u8>,
    /// Owner.
    pub user_id: i64,
    /// `web` or `cli`.
    pub channel: String,
    /// Idle expiry.
    pub idle_expires_at: OffsetDateTime,
    /// Hard expiry.
    pub absolute_expires_at: OffsetDateTime,
    /// MFA already verified at creation (e.g. login with code).
    pub mfa_verified_at: Option<OffsetDateTime>,
    /// Method of that verification.
    pub mfa_method: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

macro_rules! session_columns {
    () => {
        "id, public_id, token_hash, user_id, channel, created_at, last_seen_at, idle_expires_at, \
         absolute_expires_at, mfa_verified_at, mfa_method, ip, user_agent, revoked_at, revoked_by_user_id"
    };
}

impl Store {
    /// Creates a session.
    ///
    /// # Errors
    /// Conflict (duplicate hash), Invariant, Db.
    pub async fn create_session(
        &self,
        new: &NewSession,
        now: OffsetDateTime,
    ) -> Result<Session, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO sessions (public_id, token_hash, user_id, channel, created_at, last_seen_at, \
             idle_expires_at, absolute_expires_at, mfa_verified_at, mfa_method, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
            session_columns!()
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Session>(SQL)
            .bind(Uuid::now_v7())
            .bind(&new.token_hash)
            .bind(new.user_id)
            .bind(&new.channel)
            .bind(Ts(now))
            .bind(Ts(new.idle_expires_at))
            .bind(Ts(new.absolute_expires_at))
            .bind(new.mfa_verified_at.map(Ts))
            .bind(&new.mfa_method)
            .bind(&new.ip)
            .bind(&new.user_agent)
            .fetch_one(p)
            .await?))
    }

    /// Finds the session with this hash if it is valid at `now` (not revoked, neither idle nor
    /// absolute expiry passed).
    ///
    /// # Errors
    /// Db.
    pub async fn find_active_session(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL \
             AND idle_expires_at > $2 AND absolute_expires_at > $2"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Session>(SQL)
            .bind(token_hash).bind(Ts(now)).fetch_optional(p).await?))
    }

    /// Records activity and pushes the idle expiry (never past the absolute expiry).
    ///
    /// # Errors
    /// Db.
    pub async fn touch_session(
        &self,
        id: i64,
        idle_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE sessions SET last_seen_at = $2, \
            idle_expires_at = CASE WHEN $3 < absolute_expires_at THEN $3 ELSE absolute_expires_at END \
            WHERE id = $1 AND revoked_at IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).bind(Ts(idle_expires_at)).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records an MFA verification in the session (step-up).
    ///
    /// # Errors
    /// Db.
    pub async fn mark_session_mfa_verified(
        &self,
        id: i64,
        method: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE sessions SET mfa_verified_at = $2, mfa_method = $3 \
            WHERE id = $1 AND revoked_at IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).bind(method).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }

    /// Revokes one session. Returns false if it was already revoked.
    ///
    /// # Errors
    /// Db.
    pub async fn revoke_session(
        &self,
        id: i64,
        by_user_id: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE sessions SET revoked_at = $2, revoked_by_user_id = $3 \
            WHERE id = $1 AND revoked_at IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).bind(by_user_id).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }

    /// Revokes every live session of a user (suspension, password change). Returns the count.
    ///
    /// # Errors
    /// Db.
    pub async fn revoke_user_sessions(
        &self,
        user_id: i64,
        by_user_id: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE sessions SET revoked_at = $2, revoked_by_user_id = $3 \
            WHERE user_id = $1 AND revoked_at IS NULL";
        let r = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(user_id).bind(Ts(now)).bind(by_user_id).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(r)
    }

    /// Lists a user's sessions, newest first (including revoked and expired ones).
    ///
    /// # Errors
    /// Db.
    pub async fn list_user_sessions(&self, user_id: i64) -> Result<Vec<Session>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 ORDER BY id DESC"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Session>(SQL)
            .bind(user_id).fetch_all(p).await?))
    }
}
