//! OpenID Connect login flows (web and CLI): the state, nonce and binding of one authorization
//! round-trip, completed by the callback and, for the CLI, consumed exactly once.
//!
//! Status moves `started → completed → consumed` (or `started → failed`); every transition is
//! one conditional `UPDATE`, so two replicas racing on the same flow cannot both win.

use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// A row of `login_flows`.
#[derive(Debug, Clone, FromRow)]
pub struct LoginFlow {
    /// Internal id.
    pub id: i64,
    /// External id (the CLI's `flow_id`).
    pub public_id: Uuid,
    /// The OAuth `state` parameter (random, unique).
    pub state: String,
    /// `web` or `cli`.
    pub kind: String,
    /// The OIDC nonce expected in the ID token.
    pub nonce: String,
    /// Where a web login returns to (a local path).
    pub redirect_to: Option<String>,
    /// The user who completed the flow.
    pub user_id: Option<i64>,
    /// The session handed out when the flow was consumed.
    pub session_id: Option<i64>,
    /// `started`, `completed`, `consumed` or `failed`.
    pub status: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// After this the flow can no longer complete or be consumed.
    pub expires_at: OffsetDateTime,
    /// The CLI's PKCE challenge (base64url SHA-256 of its verifier), CLI flows only.
    pub cli_code_challenge: Option<String>,
}

/// Input for [`Store::create_login_flow`].
#[derive(Debug, Clone)]
pub struct NewLoginFlow {
    /// External id; the caller chooses it because derived values (the PKCE verifier) use it.
    pub public_id: Uuid,
    /// The OAuth `state`.
    pub state: String,
    /// `web` or `cli`.
    pub kind: String,
    /// The OIDC nonce.
    pub nonce: String,
    /// Return path of a web login.
    pub redirect_to: Option<String>,
    /// The CLI's PKCE challenge.
    pub cli_code_challenge: Option<String>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

macro_rules! flow_columns {
    () => {
        "id, public_id, state, kind, nonce, redirect_to, user_id, session_id, status, created_at, \
         expires_at, cli_code_challenge"
    };
}

impl Store {
    /// Stores a new flow in status `started`.
    ///
    /// # Errors
    /// Conflict (duplicate state or id), Invariant, Db.
    pub async fn create_login_flow(
        &self,
        new: &NewLoginFlow,
        now: OffsetDateTime,
    ) -> Result<LoginFlow, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO login_flows (public_id, state, kind, nonce, redirect_to, cli_code_challenge, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            flow_columns!()
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, LoginFlow>(SQL)
            .bind(new.public_id)
            .bind(&new.state)
            .bind(&new.kind)
            .bind(&new.nonce)
            .bind(&new.redirect_to)
            .bind(&new.cli_code_challenge)
            .bind(Ts(now))
            .bind(Ts(new.expires_at))
            .fetch_one(p)
            .await?))
    }

    /// Gets a flow by its public id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_login_flow(&self, public_id: Uuid) -> Result<LoginFlow, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            flow_columns!(),
            " FROM login_flows WHERE public_id = $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, LoginFlow>(SQL)
            .bind(public_id).fetch_one(p).await?))
    }

    /// Gets a flow by its OAuth `state`.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_login_flow_by_state(&self, state: &str) -> Result<LoginFlow, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            flow_columns!(),
            " FROM login_flows WHERE state = $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, LoginFlow>(SQL)
            .bind(state).fetch_one(p).await?))
    }

    /// `started → completed` for `user_id`, if the flow has not expired. Returns whether this
    /// call made the transition.
    ///
    /// # Errors
    /// Db.
    pub async fn complete_login_flow(
        &self,
        id: i64,
        user_id: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE login_flows SET status = 'completed', user_id = $2 \
            WHERE id = $1 AND status = 'started' AND expires_at > $3";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(user_id).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// `started → failed` (refused at the callback). Returns whether a row changed.
    ///
    /// # Errors
    /// Db.
    pub async fn fail_login_flow(&self, id: i64) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE login_flows SET status = 'failed' WHERE id = $1 AND status = 'started'";
        let n =
            with_db!(&self.db, p => sqlx::query(SQL).bind(id).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// `completed → consumed`, once, before expiry. Returns whether this call won.
    ///
    /// # Errors
    /// Db.
    pub async fn consume_login_flow(
        &self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE login_flows SET status = 'consumed' \
            WHERE id = $1 AND status = 'completed' AND expires_at > $2";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(id).bind(Ts(now)).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Deletes flows that expired before `cutoff` (housekeeping; unauthenticated starts create
    /// rows). Returns how many were deleted.
    ///
    /// # Errors
    /// Db.
    pub async fn purge_login_flows(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM login_flows WHERE expires_at < $1";
        Ok(
            with_db!(&self.db, p => sqlx::query(SQL).bind(Ts(cutoff)).execute(p).await?.rows_affected()),
        )
    }

    /// Records the session handed out for a consumed flow (for the audit trail).
    ///
    /// # Errors
    /// Db.
    pub async fn set_login_flow_session(&self, id: i64, session_id: i64) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE login_flows SET session_id = $2 WHERE id = $1";
        with_db!(&self.db, p => sqlx::query(SQL).bind(id).bind(session_id).execute(p).await?.rows_affected());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;
    use crate::testing::test_stores;
    use crate::users::NewUser;

    #[tokio::test]
    async fn a_flow_completes_once_and_is_consumed_once_before_it_expires() {
        for t in test_stores().await {
            let s = &t.store;
            let now = datetime!(2026-03-01 12:00:00 UTC);
            let user = s
                .create_user(
                    &NewUser {
                        email: "dev@example.com".into(),
                        name: String::new(),
                        role: "viewer".into(),
                        password_hash: None,
                        is_service: false,
                        mfa_enforced: true,
                    },
                    now,
                )
                .await
                .unwrap();
            let new = NewLoginFlow {
                public_id: Uuid::now_v7(),
                state: "state-1".into(),
                kind: "cli".into(),
                nonce: "nonce".into(),
                redirect_to: None,
                cli_code_challenge: Some("challenge".into()),
                expires_at: now + Duration::minutes(10),
            };
            let flow = s.create_login_flow(&new, now).await.unwrap();
            assert_eq!(
                s.get_login_flow_by_state("state-1")
                    .await
                    .unwrap()
                    .public_id,
                new.public_id
            );
            assert_eq!(flow.cli_code_challenge.as_deref(), Some("challenge"));
            assert!(
                !s.consume_login_flow(flow.id, now).await.unwrap(),
                "not completed yet"
            );
            assert!(s.complete_login_flow(flow.id, user.id, now).await.unwrap());
            assert!(
                !s.complete_login_flow(flow.id, user.id, now).await.unwrap(),
                "completes once"
            );
            assert!(
                !s.consume_login_flow(flow.id, now + Duration::minutes(11))
                    .await
                    .unwrap(),
                "expired"
            );
            assert!(s.consume_login_flow(flow.id, now).await.unwrap());
            assert!(
                !s.consume_login_flow(flow.id, now).await.unwrap(),
                "consumed once"
            );
            let got = s.get_login_flow(new.public_id).await.unwrap();
            assert_eq!(
                (got.status.as_str(), got.user_id),
                ("consumed", Some(user.id))
            );
            t.cleanup().await;
        }
    }
}
