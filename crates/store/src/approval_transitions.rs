//! Lifecycle updates of deploy approval requests. Each is one `UPDATE … WHERE id = $1 AND
//! status = …` that reports whether it changed a row, so concurrent callers race safely: the
//! loser sees `false` and re-reads. The triggers in the migrations refuse anything out of order
//! even if a caller skips these methods.

use time::OffsetDateTime;

use rgw_core::approval::ExpiryReason;

use crate::approvals::{ApprovalStatus, DeployApprovalRequest, request_columns};
use crate::changes::Topic;
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
        self.changes(Topic::Approvals);
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
        expected: ApprovalStatus,
        by_user_id: i64,
        notes: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.changes(Topic::Approvals);
        // Rejecting an approved request revokes the unused approval.
        const SQL: &str = "UPDATE deploy_approval_requests SET status = 'rejected', rejected_at = $2, \
            rejection_notes = $3, rejected_by_user_id = $5, revoked = (status = 'approved'), \
            updated_at = $2 WHERE id = $1 AND status = $4";
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

    /// `expected` (pending or approved) → expired, for `reason`.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn expire_request(
        &mut self,
        id: i64,
        expected: ApprovalStatus,
        reason: ExpiryReason,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.changes(Topic::Approvals);
        const SQL: &str = "UPDATE deploy_approval_requests SET status = 'expired', expired_at = $2, \
            updated_at = $2, expired_reason = $4 WHERE id = $1 AND status = $3";
        let texts = [Some(expected.as_str()), Some(reason.as_str())];
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
    /// returning them (the sweeper audits each in the same transaction). Each row is changed by
    /// exactly one statement even with several gateways sweeping one PostgreSQL database: the
    /// `WHERE status = …` is re-checked on the locked row, so a concurrent sweeper gets nothing.
    /// An approved request whose promote is in flight (claimed after `stale_claims_before`) is
    /// left alone: the deploy is judged at the time the promote was allowed.
    ///
    /// # Errors
    /// Db.
    pub async fn expire_due_requests(
        &mut self,
        now: OffsetDateTime,
        stale_claims_before: OffsetDateTime,
    ) -> Result<Vec<DeployApprovalRequest>, StoreError> {
        self.changes(Topic::Approvals);
        const SQL: &str = concat!(
            "UPDATE deploy_approval_requests SET status = 'expired', expired_at = $1, updated_at = $1, \
             expired_reason = CASE WHEN status = 'pending' THEN 'pending_ttl' ELSE 'approval_window' END \
             WHERE (status = 'pending' AND pending_expires_at <= $1) \
             OR (status = 'approved' AND approval_expires_at <= $1 \
                 AND NOT (chain_claim IS NOT NULL AND chain_claim = 'promote' AND chain_claim_at > $2)) \
             RETURNING ",
            request_columns!()
        );
        Ok(
            with_tx!(self, c => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(Ts(now)).bind(Ts(stale_claims_before)).fetch_all(&mut *c).await?),
        )
    }

    /// Expires, as `superseded`, the other approved requests of this app and token that have
    /// not started their chain (no upload, no claim), returning them. Called in the transaction
    /// that approves request `keep`, so only one unused approval per app and token is live.
    ///
    /// # Errors
    /// Db.
    pub async fn supersede_unused_approvals(
        &mut self,
        keep: &DeployApprovalRequest,
        now: OffsetDateTime,
    ) -> Result<Vec<DeployApprovalRequest>, StoreError> {
        self.changes(Topic::Approvals);
        const SQL: &str = concat!(
            "UPDATE deploy_approval_requests SET status = 'expired', expired_at = $1, updated_at = $1, \
             expired_reason = 'superseded' \
             WHERE app = $2 AND target_api_token_id = $3 AND id <> $4 AND status = 'approved' \
             AND object_url IS NULL AND chain_claim IS NULL RETURNING ",
            request_columns!()
        );
        Ok(
            with_tx!(self, c => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(Ts(now)).bind(&keep.app).bind(keep.target_api_token_id).bind(keep.id)
            .fetch_all(&mut *c).await?),
        )
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
        self.changes(Topic::Approvals);
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
        self.changes(Topic::Approvals);
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
        expected: ApprovalStatus,
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
        expected: ApprovalStatus,
        reason: ExpiryReason,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_tx!(self, tx => tx.expire_request(id, expected, reason, now).await?)
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
