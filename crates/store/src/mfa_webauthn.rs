//! MFA storage beyond `mfa.rs`: WebAuthn credentials, server-side WebAuthn ceremonies (so any
//! replica can finish a ceremony another started, and each finishes at most once), attempt
//! counting for the per-user budget, and backup code counts for status pages.

use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changes::Topic;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// A row of `webauthn_credentials`. `passkey` is the relying-party library's serialised
/// credential (public key, counter); it holds no secret.
#[derive(Debug, Clone, FromRow)]
pub struct WebauthnCredential {
    /// Internal id.
    pub id: i64,
    /// External id (listing and removal).
    pub public_id: Uuid,
    /// Owner.
    pub user_id: i64,
    /// The user's label for it ("YubiKey 5C").
    pub name: String,
    /// The authenticator's credential id (unique across users).
    pub credential_id: Vec<u8>,
    /// Serialised credential.
    pub passkey: Json<Value>,
    /// Registration time.
    pub created_at: OffsetDateTime,
    /// Last successful assertion.
    pub last_used_at: Option<OffsetDateTime>,
}

/// Input for [`Store::insert_webauthn_credential`].
#[derive(Debug, Clone)]
pub struct NewWebauthnCredential {
    /// Owner.
    pub user_id: i64,
    /// Label.
    pub name: String,
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// Serialised credential.
    pub passkey: Value,
}

/// `register` or `authenticate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a new credential.
    Register,
    /// Asserting an existing credential (login, step-up or approval-bound).
    Authenticate,
}

impl CeremonyKind {
    fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Authenticate => "authenticate",
        }
    }
}

/// A ceremony taken for finishing by [`Store::take_webauthn_ceremony`].
#[derive(Debug, Clone, FromRow)]
pub struct WebauthnCeremony {
    /// Ceremony id handed to the client.
    pub id: Uuid,
    /// Who started it.
    pub user_id: i64,
    /// Serialised relying-party state (challenge and allowed credentials).
    pub state: Json<Value>,
    /// What an approval-bound assertion is for; `None` for registration and session MFA.
    pub binding: Option<Json<Value>>,
    /// Start time.
    pub created_at: OffsetDateTime,
    /// Deadline.
    pub expires_at: OffsetDateTime,
}

macro_rules! credential_columns {
    () => {
        "id, public_id, user_id, name, credential_id, passkey, created_at, last_used_at"
    };
}

impl Store {
    /// Adds a WebAuthn credential. A credential id registered before (by anyone) is
    /// [`StoreError::Conflict`] on `uq_webauthn_credentials_credential_id`.
    ///
    /// # Errors
    /// Conflict, Invariant (unknown user), Db.
    pub async fn insert_webauthn_credential(
        &self,
        new: &NewWebauthnCredential,
        now: OffsetDateTime,
    ) -> Result<WebauthnCredential, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO webauthn_credentials (public_id, user_id, name, credential_id, passkey, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            credential_columns!()
        );
        let row = with_db!(&self.db, p => sqlx::query_as::<_, WebauthnCredential>(SQL)
            .bind(Uuid::now_v7()).bind(new.user_id).bind(&new.name).bind(&new.credential_id)
            .bind(Json(&new.passkey)).bind(Ts(now))
            .fetch_one(p).await?);
        self.changes.bump(Topic::Identity);
        Ok(row)
    }

    /// The user's WebAuthn credentials, oldest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_webauthn_credentials(
        &self,
        user_id: i64,
    ) -> Result<Vec<WebauthnCredential>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            credential_columns!(),
            " FROM webauthn_credentials WHERE user_id = $1 ORDER BY id"
        );
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, WebauthnCredential>(SQL)
            .bind(user_id).fetch_all(p).await?),
        )
    }

    /// Records a successful assertion: the updated credential (signature counter) and the time.
    ///
    /// # Errors
    /// Db.
    pub async fn touch_webauthn_credential(
        &self,
        id: i64,
        passkey: &Value,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "UPDATE webauthn_credentials SET passkey = $2, last_used_at = $3 WHERE id = $1";
        with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Json(passkey)).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Removes one of the user's credentials. False when the user has no such credential.
    ///
    /// # Errors
    /// Db.
    pub async fn delete_webauthn_credential(
        &self,
        user_id: i64,
        public_id: Uuid,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM webauthn_credentials WHERE user_id = $1 AND public_id = $2";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(user_id).bind(public_id).execute(p).await?.rows_affected());
        self.changes.bump(Topic::Identity);
        Ok(n == 1)
    }

    /// Stores a started ceremony.
    ///
    /// # Errors
    /// Invariant (unknown user), Db.
    #[expect(
        clippy::too_many_arguments,
        reason = "one column per argument reads best here"
    )]
    pub async fn create_webauthn_ceremony(
        &self,
        id: Uuid,
        user_id: i64,
        kind: CeremonyKind,
        state: &Value,
        binding: Option<&Value>,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO webauthn_ceremonies \
            (id, user_id, kind, state, binding, created_at, expires_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7)";
        with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(user_id).bind(kind.as_str()).bind(Json(state)).bind(binding.map(Json))
            .bind(Ts(now)).bind(Ts(expires_at))
            .execute(p).await?.rows_affected());
        Ok(())
    }

    /// Takes a ceremony for finishing: atomically marks it used and returns it, but only if it
    /// belongs to `user_id`, is of `kind`, has not been used and has not expired. Any other
    /// case (reuse, expiry, someone else's ceremony, a race with another replica) is `None`.
    ///
    /// # Errors
    /// Db.
    pub async fn take_webauthn_ceremony(
        &self,
        id: Uuid,
        user_id: i64,
        kind: CeremonyKind,
        now: OffsetDateTime,
    ) -> Result<Option<WebauthnCeremony>, StoreError> {
        const SQL: &str = "UPDATE webauthn_ceremonies SET used_at = $4 \
            WHERE id = $1 AND user_id = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $4 \
            RETURNING id, user_id, state, binding, created_at, expires_at";
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, WebauthnCeremony>(SQL)
            .bind(id).bind(user_id).bind(kind.as_str()).bind(Ts(now))
            .fetch_optional(p).await?),
        )
    }

    /// Deletes ceremonies that expired before `before`. Returns how many.
    ///
    /// # Errors
    /// Db.
    pub async fn purge_webauthn_ceremonies(
        &self,
        before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM webauthn_ceremonies WHERE expires_at < $1";
        Ok(with_db!(&self.db, p => sqlx::query(SQL)
            .bind(Ts(before)).execute(p).await?.rows_affected()))
    }

    /// Records an automatic MFA lockout.
    ///
    /// # Errors
    /// Db.
    pub async fn record_mfa_lockout(
        &self,
        user_id: i64,
        failures: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "INSERT INTO mfa_lockouts (user_id, locked_at, failures) VALUES ($1, $2, $3)";
        with_db!(&self.db, p => sqlx::query(SQL)
            .bind(user_id).bind(Ts(now)).bind(failures).execute(p).await?.rows_affected());
        Ok(())
    }

    /// Counts the user's unused backup codes.
    ///
    /// # Errors
    /// Db.
    pub async fn count_unused_backup_codes(&self, user_id: i64) -> Result<i64, StoreError> {
        const SQL: &str =
            "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL";
        Ok(with_db!(&self.db, p => sqlx::query_scalar::<_, i64>(SQL)
            .bind(user_id).fetch_one(p).await?))
    }

    /// The highest backup code generation the user has had (0 when none).
    ///
    /// # Errors
    /// Db.
    pub async fn backup_code_generation(&self, user_id: i64) -> Result<i64, StoreError> {
        const SQL: &str =
            "SELECT COALESCE(MAX(generation), 0) FROM backup_codes WHERE user_id = $1";
        Ok(with_db!(&self.db, p => sqlx::query_scalar::<_, i64>(SQL)
            .bind(user_id).fetch_one(p).await?))
    }
}
