//! Users: human accounts and CI service users. Soft-deleted, never removed, so history keeps
//! its references.

use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changes::Topic;
use crate::clock::{Ts, ts_opt};
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// A row of `users`.
#[derive(Clone, FromRow)]
pub struct User {
    /// Internal id (foreign keys).
    pub id: i64,
    /// External id.
    pub public_id: Uuid,
    /// Lower-cased email, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `viewer`, `ops`, `deployer` or `admin`.
    pub role: String,
    /// Argon2 PHC string; `None` for OIDC-only and service users.
    pub password_hash: Option<String>,
    /// A non-human user that owns CI tokens (e.g. `ci@example.com`).
    pub is_service: bool,
    /// Set when an admin suspended the account.
    pub suspended_at: Option<OffsetDateTime>,
    /// Set when the account was locked (e.g. repeated MFA failures).
    pub locked_at: Option<OffsetDateTime>,
    /// Why the account was locked.
    pub lock_reason: Option<String>,
    /// Consecutive failed logins since the last success.
    pub failed_login_count: i64,
    /// Time of the last failed login.
    pub last_failed_login_at: Option<OffsetDateTime>,
    /// Temporary lockout after too many failed logins.
    pub login_locked_until: Option<OffsetDateTime>,
    /// MFA is required for this user.
    pub mfa_enforced: bool,
    /// The OpenID issuer this user is bound to (set at the first single sign-on).
    pub oidc_issuer: Option<String>,
    /// The issuer's subject (`sub`) this user is bound to.
    pub oidc_subject: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Soft-deletion time.
    pub deleted_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for User {
    // The password hash stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("public_id", &self.public_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("is_service", &self.is_service)
            .field("suspended_at", &self.suspended_at)
            .field("locked_at", &self.locked_at)
            .field("deleted_at", &self.deleted_at)
            .finish_non_exhaustive()
    }
}

impl User {
    /// True when the user may act: not deleted, suspended or locked.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.deleted_at.is_none() && self.suspended_at.is_none() && self.locked_at.is_none()
    }
}

/// Input for [`Store::create_user`].
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Email; stored lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `viewer`, `ops`, `deployer` or `admin`.
    pub role: String,
    /// Argon2 PHC string, if the user logs in with a password.
    pub password_hash: Option<String>,
    /// Service (CI) user.
    pub is_service: bool,
    /// Require MFA.
    pub mfa_enforced: bool,
}

macro_rules! user_columns {
    () => {
        "id, public_id, email, name, role, password_hash, is_service, suspended_at, locked_at, \
         lock_reason, failed_login_count, last_failed_login_at, login_locked_until, mfa_enforced, \
         oidc_issuer, oidc_subject, created_at, updated_at, deleted_at"
    };
}
pub(crate) use user_columns;

impl Store {
    /// Creates a user. A duplicate email is [`StoreError::Conflict`] on `uq_users_email`.
    ///
    /// # Errors
    /// Conflict, Invariant (bad role), Db.
    pub async fn create_user(
        &self,
        new: &NewUser,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO users (public_id, email, name, role, password_hash, is_service, mfa_enforced, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
            user_columns!()
        );
        let email = new.email.trim().to_lowercase();
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, User>(SQL)
            .bind(Uuid::now_v7())
            .bind(&email)
            .bind(&new.name)
            .bind(&new.role)
            .bind(&new.password_hash)
            .bind(new.is_service)
            .bind(new.mfa_enforced)
            .bind(Ts(now))
            .fetch_one(p)
            .await?))
    }

    /// Gets a user by internal id (including soft-deleted ones).
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, User>(SQL)
            .bind(id).fetch_one(p).await?))
    }

    /// Gets a user by public id (including soft-deleted ones).
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_user_by_public_id(&self, public_id: Uuid) -> Result<User, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE public_id = $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, User>(SQL)
            .bind(public_id).fetch_one(p).await?))
    }

    /// Finds a live (not soft-deleted) user by email, case-insensitively.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_user_by_email(&self, email: &str) -> Result<User, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1 AND deleted_at IS NULL"
        );
        let email = email.trim().to_lowercase();
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, User>(SQL)
            .bind(&email).fetch_one(p).await?))
    }

    /// Finds the live user bound to an OpenID issuer's subject.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_user_by_oidc_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<User, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2 AND deleted_at IS NULL"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, User>(SQL)
            .bind(issuer).bind(subject).fetch_one(p).await?))
    }

    /// Binds an unbound user to an OpenID issuer's subject. Returns false when the user is
    /// already bound (to anything); [`StoreError::Conflict`] on `uq_users_oidc_identity` when
    /// another user holds that subject.
    ///
    /// # Errors
    /// Conflict, Db.
    pub async fn bind_user_oidc_subject(
        &self,
        id: i64,
        issuer: &str,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE users SET oidc_issuer = $2, oidc_subject = $3, updated_at = $4 \
            WHERE id = $1 AND oidc_subject IS NULL AND oidc_issuer IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(issuer).bind(subject).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Removes a user's single sign-on binding (an operator re-linking an account after the
    /// identity provider changed). Returns whether a row changed.
    ///
    /// # Errors
    /// Db.
    pub async fn clear_user_oidc_subject(
        &self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE users SET oidc_issuer = NULL, oidc_subject = NULL, updated_at = $2 \
            WHERE id = $1 AND (oidc_subject IS NOT NULL OR oidc_issuer IS NOT NULL)";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Lists users that are not soft-deleted, by email.
    ///
    /// # Errors
    /// Db.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE deleted_at IS NULL ORDER BY email"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, User>(SQL)
            .fetch_all(p).await?))
    }

    /// Suspends (`Some(now)`) or reinstates (`None`) a user. Returns whether a row changed.
    ///
    /// # Errors
    /// Db.
    pub async fn set_user_suspended(
        &self,
        id: i64,
        suspended_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE users SET suspended_at = $2, updated_at = $3 WHERE id = $1";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(ts_opt(suspended_at)).bind(Ts(now)).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }

    /// Locks a user with a reason. Returns whether a row changed.
    ///
    /// # Errors
    /// Db.
    pub async fn lock_user(
        &self,
        id: i64,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE users SET locked_at = $2, lock_reason = $3, updated_at = $2 WHERE id = $1";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).bind(reason).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }

    /// Unlocks a user and clears the failed-login state and the MFA attempt budget (an unlock
    /// gives a fresh budget). Returns whether a row changed.
    ///
    /// # Errors
    /// Db.
    pub async fn unlock_user(&self, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let unlocked = tx.unlock_user(id, now).await?;
        tx.commit().await?;
        Ok(unlocked)
    }

    /// Atomically counts a failed login; when the count reaches `lock_after`, sets
    /// `login_locked_until = lock_until`. Returns the new failure count.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn record_failed_login(
        &self,
        id: i64,
        lock_after: i64,
        lock_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "UPDATE users SET failed_login_count = failed_login_count + 1, \
            last_failed_login_at = $2, updated_at = $2, \
            login_locked_until = CASE WHEN failed_login_count + 1 >= $3 THEN $4 ELSE login_locked_until END \
            WHERE id = $1 RETURNING failed_login_count";
        Ok(with_db!(&self.db, p => sqlx::query_scalar::<_, i64>(SQL)
            .bind(id).bind(Ts(now)).bind(lock_after).bind(Ts(lock_until)).fetch_one(p).await?))
    }

    /// Resets the failed-login counter after a successful login.
    ///
    /// # Errors
    /// Db.
    pub async fn reset_failed_logins(
        &self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE users SET failed_login_count = 0, login_locked_until = NULL, \
            updated_at = $2 WHERE id = $1";
        with_db!(&self.db, p => sqlx::query(SQL).bind(id).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Soft-deletes a user (history keeps the row). Returns whether a row changed.
    ///
    /// # Errors
    /// Db.
    pub async fn soft_delete_user(&self, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE users SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }
}
