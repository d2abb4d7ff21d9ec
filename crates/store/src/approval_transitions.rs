//! Lifecycle updates of deploy approval requests. Each is one `UPDATE … WHERE id = $1 AND
//! status = …` that reports whether it changed a row, so concurrent callers race safely: the
//! loser sees `false` and re-reads. The triggers in the migrations refuse anything out of order
//! even if a caller skips these methods.

use time::OffsetDateTime;

use crate::approvals::{DeployApprovalRequest, RequestStatus, request_columns};
use crate::clock::Ts;
use crate::db::Store;
use crate::error::StoreError;
use crate::tx::{StoreTx, with_tx};

/// Runs one `StoreTx` method in its own transaction.
macro_rules! in_tx {
    ($store:expr, $tx:ident => $call:expr) => {{
        let mut $tx = $store.begin().await?;
        let out = $call;
        $tx.commit().await?;
        Ok(out)
    }};
}

impl StoreTx {
    async fn update_one(&mut self, sql: &'static str, bind: Binds<'_>) -> Result<bool, StoreError> {
        let n = with_tx!(self, c => {
            let mut q = sqlx::query(sql).bind(bind.id).bind(Ts(bind.now));
            for text in bind.texts {
                q = q.bind(text);
            }
            if let Some(extra) = bind.extra_id {
                q = q.bind(extra);
            }
            if let Some(t) = bind.at {
                q = q.bind(Ts(t));
            }
            q.execute(&mut *c).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// pending → approved, once enough approvals are recorded (see [`StoreTx::add_approval`]).
    /// Returns false if the request was not pending or the quorum is not reached.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn approve_request(
        &mut self,
        id: i64,
        approval_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET status = 'approved', approved_at = $2, \
            approval_expires_at = $3, updated_at = $2 WHERE id = $1 AND status = 'pending' \
            AND (SELECT COUNT(*) FROM deploy_approvals a WHERE a.request_id = $1) >= required_approvals";
        let b = Binds {
            id,
            now,
            texts: &[],
            extra_id: None,
            at: Some(approval_expires_at),
        };
        self.update_one(SQL, b).await
    }

    /// `expected` (pending or approved) → rejected.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn reject_request(
        &mut self,
        id: i64,
        expected: RequestStatus,
        by_user_id: i64,
        notes: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET status = 'rejected', rejected_at = $2, \
            rejection_notes = $3, rejected_by_user_id = $5, updated_at = $2 WHERE id = $1 AND status = $4";
        let texts = [notes, Some(expected.as_str())];
        let b = Binds {
            id,
            now,
            texts: &texts,
            extra_id: Some(by_user_id),
            at: None,
        };
        self.update_one(SQL, b).await
    }

    /// `expected` (pending or approved) → expired.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn expire_request(
        &mut self,
        id: i64,
        expected: RequestStatus,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET status = 'expired', expired_at = $2, \
            updated_at = $2 WHERE id = $1 AND status = $3";
        let texts = [Some(expected.as_str())];
        self.update_one(
            SQL,
            Binds {
                id,
                now,
                texts: &texts,
                extra_id: None,
                at: None,
            },
        )
        .await
    }

    /// Expires every open request whose pending TTL or approval window has passed at `now`,
    /// returning them (the sweeper audits and notifies each, in the same transaction).
    ///
    /// # Errors
    /// Db.
    pub async fn expire_due_requests(
        &mut self,
        now: OffsetDateTime,
    ) -> Result<Vec<DeployApprovalRequest>, StoreError> {
        const SQL: &str = concat!(
            "UPDATE deploy_approval_requests SET status = 'expired', expired_at = $1, updated_at = $1 \
             WHERE (status = 'pending' AND pending_expires_at <= $1) \
             OR (status = 'approved' AND approval_expires_at <= $1) RETURNING ",
            request_columns!()
        );
        Ok(
            with_tx!(self, c => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(Ts(now)).fetch_all(&mut *c).await?),
        )
    }

    /// approved → deployed (requires `release_id`).
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn mark_deployed(
        &mut self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET status = 'deployed', deployed_at = $2, \
            updated_at = $2 WHERE id = $1 AND status = 'approved' AND release_id IS NOT NULL";
        self.update_one(
            SQL,
            Binds {
                id,
                now,
                texts: &[],
                extra_id: None,
                at: None,
            },
        )
        .await
    }

    /// Step 1 of the deploy chain: records the uploaded object, once, while approved.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn set_object_url(
        &mut self,
        id: i64,
        url: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET object_url = $3, updated_at = $2 \
            WHERE id = $1 AND status = 'approved' AND object_url IS NULL";
        let texts = [Some(url)];
        self.update_one(
            SQL,
            Binds {
                id,
                now,
                texts: &texts,
                extra_id: None,
                at: None,
            },
        )
        .await
    }

    /// Step 2: records the build, once, after the object.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn set_build_id(
        &mut self,
        id: i64,
        build_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET build_id = $3, updated_at = $2 \
            WHERE id = $1 AND status = 'approved' AND object_url IS NOT NULL AND build_id IS NULL";
        let texts = [Some(build_id)];
        self.update_one(
            SQL,
            Binds {
                id,
                now,
                texts: &texts,
                extra_id: None,
                at: None,
            },
        )
        .await
    }

    /// Step 3: records the release, once, after the build.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn set_release_id(
        &mut self,
        id: i64,
        release_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET release_id = $3, updated_at = $2 \
            WHERE id = $1 AND status = 'approved' AND build_id IS NOT NULL AND release_id IS NULL";
        let texts = [Some(release_id)];
        self.update_one(
            SQL,
            Binds {
                id,
                now,
                texts: &texts,
                extra_id: None,
                at: None,
            },
        )
        .await
    }

    /// Records the PR URL found by the VCS integration while the request is open.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn set_pr_url(
        &mut self,
        id: i64,
        pr_url: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET pr_url = $3, updated_at = $2 \
            WHERE id = $1 AND status IN ('pending', 'approved')";
        let texts = [Some(pr_url)];
        self.update_one(
            SQL,
            Binds {
                id,
                now,
                texts: &texts,
                extra_id: None,
                at: None,
            },
        )
        .await
    }
}

/// Parameters in bind order: `$1` id, `$2` now, then texts, then an extra id, then a time.
struct Binds<'a> {
    id: i64,
    now: OffsetDateTime,
    texts: &'a [Option<&'a str>],
    extra_id: Option<i64>,
    at: Option<OffsetDateTime>,
}

impl Store {
    /// [`StoreTx::approve_request`] in its own transaction.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn approve_request(
        &self,
        id: i64,
        approval_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.approve_request(id, approval_expires_at, now).await?)
    }

    /// [`StoreTx::reject_request`] in its own transaction.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn reject_request(
        &self,
        id: i64,
        expected: RequestStatus,
        by_user_id: i64,
        notes: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.reject_request(id, expected, by_user_id, notes, now).await?)
    }

    /// [`StoreTx::expire_request`] in its own transaction.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn expire_request(
        &self,
        id: i64,
        expected: RequestStatus,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.expire_request(id, expected, now).await?)
    }

    /// [`StoreTx::mark_deployed`] in its own transaction.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn mark_deployed(&self, id: i64, now: OffsetDateTime) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.mark_deployed(id, now).await?)
    }

    /// [`StoreTx::set_object_url`] in its own transaction.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn set_object_url(
        &self,
        id: i64,
        url: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.set_object_url(id, url, now).await?)
    }

    /// [`StoreTx::set_build_id`] in its own transaction.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn set_build_id(
        &self,
        id: i64,
        build_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.set_build_id(id, build_id, now).await?)
    }

    /// [`StoreTx::set_release_id`] in its own transaction.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn set_release_id(
        &self,
        id: i64,
        release_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.set_release_id(id, release_id, now).await?)
    }
}
