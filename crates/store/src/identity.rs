//! Identity queries beyond the basic repositories: the per-request credential lookups (session
//! or API token joined with its user's status in one read, so that a revocation or suspension
//! written by any replica takes effect on the next request), and the listings and updates
//! behind the user, session and token endpoints.
//!
//! The lookups return rows whatever their state; the caller decides (and names) why a
//! credential no longer works: revoked, expired, owner suspended, locked or deleted.

use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api_tokens::ApiToken;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;
use crate::sessions::Session;

/// The status columns of a user that decide whether their credentials work.
#[derive(Debug, Clone, FromRow)]
pub struct OwnerStatus {
    /// Public id.
    pub owner_public_id: Uuid,
    /// Email.
    pub owner_email: String,
    /// Role (`viewer|ops|deployer|admin`).
    pub owner_role: String,
    /// Service (CI) user.
    pub owner_is_service: bool,
    /// Suspension time.
    pub owner_suspended_at: Option<OffsetDateTime>,
    /// Lock time.
    pub owner_locked_at: Option<OffsetDateTime>,
    /// Soft-deletion time.
    pub owner_deleted_at: Option<OffsetDateTime>,
    /// Has a confirmed TOTP or a WebAuthn credential.
    pub owner_mfa_enrolled: bool,
}

/// A session row with its user's status.
#[derive(Debug, Clone, FromRow)]
pub struct SessionLookup {
    /// The session.
    #[sqlx(flatten)]
    pub session: Session,
    /// Its user.
    #[sqlx(flatten)]
    pub owner: OwnerStatus,
}

/// A token row with its owner's status.
#[derive(Debug, Clone, FromRow)]
pub struct ApiTokenLookup {
    /// The token.
    #[sqlx(flatten)]
    pub token: ApiToken,
    /// Its owner.
    #[sqlx(flatten)]
    pub owner: OwnerStatus,
}

macro_rules! owner_columns {
    () => {
        "u.public_id AS owner_public_id, u.email AS owner_email, u.role AS owner_role, \
         u.is_service AS owner_is_service, u.suspended_at AS owner_suspended_at, \
         u.locked_at AS owner_locked_at, u.deleted_at AS owner_deleted_at, \
         (EXISTS (SELECT 1 FROM totp_credentials c WHERE c.user_id = u.id AND c.confirmed_at IS NOT NULL) \
          OR EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id)) AS owner_mfa_enrolled"
    };
}

macro_rules! s_columns {
    () => {
        "s.id, s.public_id, s.token_hash, s.user_id, s.channel, s.created_at, s.last_seen_at, \
         s.idle_expires_at, s.absolute_expires_at, s.mfa_verified_at, s.mfa_method, s.ip, \
         s.user_agent, s.revoked_at, s.revoked_by_user_id"
    };
}

macro_rules! t_columns {
    () => {
        "t.id, t.public_id, t.name, t.token_hash, t.owner_user_id, t.created_by_user_id, t.role, \
         t.permissions, t.expires_at, t.last_used_at, t.revoked_at, t.created_at"
    };
}

impl Store {
    /// The session with this token hash and its user, in any state.
    ///
    /// # Errors
    /// Db.
    pub async fn lookup_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SessionLookup>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            s_columns!(),
            ", ",
            owner_columns!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
        );
        Ok(
            with_db!(&self.reads, p => sqlx::query_as::<_, SessionLookup>(SQL)
            .bind(token_hash).fetch_optional(p).await?),
        )
    }

    /// The token with this hash and its owner, in any state.
    ///
    /// # Errors
    /// Db.
    pub async fn lookup_api_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<ApiTokenLookup>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            t_columns!(),
            ", ",
            owner_columns!(),
            " FROM api_tokens t JOIN users u ON u.id = t.owner_user_id WHERE t.token_hash = $1"
        );
        Ok(
            with_db!(&self.reads, p => sqlx::query_as::<_, ApiTokenLookup>(SQL)
            .bind(token_hash).fetch_optional(p).await?),
        )
    }

    /// A session by public id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_session_by_public_id(&self, public_id: Uuid) -> Result<Session, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            s_columns!(),
            " FROM sessions s WHERE s.public_id = $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Session>(SQL)
            .bind(public_id).fetch_one(p).await?))
    }

    /// A user's live sessions (not revoked, not expired at `now`), newest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_live_sessions(
        &self,
        user_id: i64,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            s_columns!(),
            " FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL \
             AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2 ORDER BY s.id DESC"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Session>(SQL)
            .bind(user_id).bind(Ts(now)).fetch_all(p).await?))
    }

    /// Tokens owned by a user (including revoked ones), newest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_api_tokens_by_owner(
        &self,
        owner_user_id: i64,
    ) -> Result<Vec<ApiToken>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            t_columns!(),
            " FROM api_tokens t WHERE t.owner_user_id = $1 ORDER BY t.id DESC"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, ApiToken>(SQL)
            .bind(owner_user_id).fetch_all(p).await?))
    }

    /// A token by its unique name.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_api_token_by_name(&self, name: &str) -> Result<ApiToken, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            t_columns!(),
            " FROM api_tokens t WHERE t.name = $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, ApiToken>(SQL)
            .bind(name).fetch_one(p).await?))
    }

    /// Replaces a user's password hash. Returns whether a row changed.
    ///
    /// # Errors
    /// Db.
    pub async fn set_user_password_hash(
        &self,
        id: i64,
        password_hash: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(password_hash).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records when a token was last used (callers rate-limit this write).
    ///
    /// # Errors
    /// Db.
    pub async fn set_api_token_last_used(
        &self,
        id: i64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // Never moves backwards when replicas flush out of order.
        const SQL: &str = "UPDATE api_tokens SET last_used_at = $2 \
            WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        with_db!(&self.db, p => sqlx::query(SQL).bind(id).bind(Ts(at)).execute(p).await?.rows_affected());
        Ok(())
    }
}
