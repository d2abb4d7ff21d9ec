//! The deploy chain in the database: claiming a step before the gateway forwards it, recording
//! its artefact (or releasing the claim) when the rack answers, and the gate's lookups.
//!
//! A claim is one guarded `UPDATE`: of two concurrent calls exactly one changes the row, so
//! exactly one reaches the rack. The claim's time identifies the claimant; confirming or
//! releasing names it, so a call whose claim was taken over (it was older than the staleness
//! bound, e.g. a gateway died mid-upload) can no longer record anything.

use rgw_core::approval::ClaimedStep;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::approvals::{DeployApprovalRequest, request_columns};
use crate::changes::Topic;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;
use crate::tx::{StoreTx, with_tx};

/// What a claim must still find in the row (what the chain check saw).
#[derive(Debug, Clone, Copy)]
pub enum ClaimExpect<'a> {
    /// An upload of `url`: no build yet, and no upload or the same one.
    Object {
        /// `object://app/key`.
        url: &'a str,
    },
    /// A build from `object_url`; `replacing` is the failed build being replaced, if any.
    Build {
        /// The recorded upload.
        object_url: &'a str,
        /// The recorded (failed) build this one replaces.
        replacing: Option<&'a str>,
    },
    /// A promote of `release`.
    Promote {
        /// The recorded release.
        release: &'a str,
    },
}

impl ClaimExpect<'_> {
    fn step(&self) -> ClaimedStep {
        match self {
            ClaimExpect::Object { .. } => ClaimedStep::Object,
            ClaimExpect::Build { .. } => ClaimedStep::Build,
            ClaimExpect::Promote { .. } => ClaimedStep::Promote,
        }
    }
}

/// A claim held by the caller; pass it back to confirm or release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The request's internal id.
    pub request_id: i64,
    /// The step.
    pub step: ClaimedStep,
    /// When it was taken (identifies the claimant).
    pub at: OffsetDateTime,
}

impl Store {
    /// Claims a step of request `id` if the approval is live at `now`, no other live claim
    /// exists (claims taken before `stale_before` count as abandoned) and the row still matches
    /// `expect`. `None` when another call won or the state moved on.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn claim_step(
        &self,
        id: i64,
        expect: ClaimExpect<'_>,
        now: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<Option<Claim>, StoreError> {
        // One statement per step (static SQL); `$1` id, `$2` step, `$3` now, `$4` stale bound.
        macro_rules! claim_sql {
            ($cond:literal) => {
                concat!(
                    "UPDATE deploy_approval_requests SET chain_claim = $2, chain_claim_at = $3, \
                     updated_at = $3, promote_allowed_at = CASE WHEN $2 = 'promote' THEN $3 \
                     ELSE promote_allowed_at END WHERE id = $1 AND status = 'approved' \
                     AND approval_expires_at > $3 AND (chain_claim IS NULL OR chain_claim_at < $4) AND ",
                    $cond
                )
            };
        }
        const OBJECT: &str =
            claim_sql!("build_id IS NULL AND (object_url IS NULL OR object_url = $5)");
        const BUILD_NEW: &str =
            claim_sql!("object_url = $5 AND release_id IS NULL AND build_id IS NULL");
        const BUILD_REPLACE: &str =
            claim_sql!("object_url = $5 AND release_id IS NULL AND build_id = $6");
        const PROMOTE: &str = claim_sql!("release_id = $5");
        let (sql, a, b) = match expect {
            ClaimExpect::Object { url } => (OBJECT, url, None),
            ClaimExpect::Build {
                object_url,
                replacing: None,
            } => (BUILD_NEW, object_url, None),
            ClaimExpect::Build {
                object_url,
                replacing: Some(old),
            } => (BUILD_REPLACE, object_url, Some(old)),
            ClaimExpect::Promote { release } => (PROMOTE, release, None),
        };
        let step = expect.step();
        let mut tx = self.begin().await?;
        tx.changes(Topic::Approvals);
        let n = with_tx!(tx, c => {
            let mut q = sqlx::query(sql)
                .bind(id).bind(step.as_str()).bind(Ts(now)).bind(Ts(stale_before)).bind(a);
            if let Some(b) = b {
                q = q.bind(b);
            }
            q.execute(&mut *c).await?.rows_affected()
        });
        tx.commit().await?;
        Ok((n == 1).then_some(Claim {
            request_id: id,
            step,
            at: now,
        }))
    }

    /// Records the uploaded object and ends the claim.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn confirm_object(
        &self,
        claim: &Claim,
        url: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET object_url = $4, chain_claim = NULL, \
            chain_claim_at = NULL, updated_at = $3 WHERE id = $1 AND status = 'approved' \
            AND chain_claim = 'object' AND chain_claim_at = $2";
        self.end_claim(SQL, claim, Some(url), now).await
    }

    /// Records the build (a new one, or the replacement of a failed one) and ends the claim.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn confirm_build(
        &self,
        claim: &Claim,
        build_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET build_id = $4, chain_claim = NULL, \
            chain_claim_at = NULL, updated_at = $3 WHERE id = $1 AND status = 'approved' \
            AND chain_claim = 'build' AND chain_claim_at = $2";
        self.end_claim(SQL, claim, Some(build_id), now).await
    }

    /// approved → deployed after the claimed promote succeeded on the rack. Not judged against
    /// the window at answer time: the claim was taken while the approval was live.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn confirm_deployed(
        &self,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.end_claim(CONFIRM_DEPLOYED, claim, None, now).await
    }

    /// Ends a claim without recording anything (the rack refused, or the check failed).
    ///
    /// # Errors
    /// Db.
    pub async fn release_claim(
        &self,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE deploy_approval_requests SET chain_claim = NULL, chain_claim_at = NULL, \
            updated_at = $3 WHERE id = $1 AND status = 'approved' AND chain_claim_at = $2";
        self.end_claim(SQL, claim, None, now).await
    }

    async fn end_claim(
        &self,
        sql: &'static str,
        claim: &Claim,
        value: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        tx.changes(Topic::Approvals);
        let n = with_tx!(tx, c => {
            let mut q = sqlx::query(sql).bind(claim.request_id).bind(Ts(claim.at)).bind(Ts(now));
            if let Some(v) = value {
                q = q.bind(v);
            }
            q.execute(&mut *c).await?.rows_affected()
        });
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Records a process started under the approval (and the command it runs).
    ///
    /// # Errors
    /// Db.
    pub async fn record_process(
        &self,
        id: i64,
        pid: &str,
        command: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        tx.changes(Topic::Approvals);
        let row = tx.lock_request(id).await?;
        let mut pids: Vec<String> =
            serde_json::from_value(row.process_ids.0.clone()).unwrap_or_default();
        let mut cmds = row.exec_commands.0.as_object().cloned().unwrap_or_default();
        if !pids.iter().any(|p| p == pid) {
            pids.push(pid.to_owned());
        }
        cmds.insert(
            pid.to_owned(),
            serde_json::Value::String(command.to_owned()),
        );
        const SQL: &str = "UPDATE deploy_approval_requests SET process_ids = $2, exec_commands = $3, \
            updated_at = $4 WHERE id = $1 AND status = 'approved'";
        let n = with_tx!(tx, c => sqlx::query(SQL)
            .bind(id).bind(Json(&pids)).bind(Json(serde_json::Value::Object(cmds))).bind(Ts(now))
            .execute(&mut *c).await?.rows_affected());
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The requests a token may act under for an app at `now`: approved ones whose window has
    /// not passed, and deployed ones still inside their window (the app log stays readable
    /// while the promote rolls out). Served by `ix_deploy_approval_requests_token_app_status`.
    ///
    /// # Errors
    /// Db.
    pub async fn live_requests_for(
        &self,
        token_id: i64,
        app: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<DeployApprovalRequest>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE target_api_token_id = $1 AND app = $2 \
             AND status IN ('approved', 'deployed') AND approval_expires_at > $3 LIMIT 20"
        );
        // No ORDER BY: it would tempt the planner into walking `(token, app, id)` over the
        // token's whole history; the few live rows are sorted here instead.
        let mut rows = with_db!(&self.reads, p => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(token_id).bind(app).bind(Ts(now)).fetch_all(p).await?);
        rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
        Ok(rows)
    }

    /// The newest request of a token for an app (and commit, when given), whatever its state:
    /// for denial messages that say *why* ("… is pending", "… expired at …").
    ///
    /// # Errors
    /// Db.
    pub async fn latest_request_for(
        &self,
        token_id: i64,
        app: &str,
        commit: Option<&str>,
    ) -> Result<Option<DeployApprovalRequest>, StoreError> {
        // Two static statements so each uses its index: a commit has few requests
        // (`ix_…_git_commit_hash`); without one, `ix_…_token_app_id` yields the newest first.
        const BY_COMMIT: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE git_commit_hash = $3 AND target_api_token_id = $1 \
             AND app = $2 ORDER BY id DESC LIMIT 1"
        );
        const NEWEST: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE target_api_token_id = $1 AND app = $2 \
             ORDER BY id DESC LIMIT 1"
        );
        Ok(match commit {
            Some(c) => {
                with_db!(&self.db, p => sqlx::query_as::<_, DeployApprovalRequest>(BY_COMMIT)
                .bind(token_id).bind(app).bind(c).fetch_optional(p).await?)
            }
            None => with_db!(&self.db, p => sqlx::query_as::<_, DeployApprovalRequest>(NEWEST)
                .bind(token_id).bind(app).fetch_optional(p).await?),
        })
    }
}

impl StoreTx {
    /// Reads request `id` and locks its row until the transaction ends (PostgreSQL
    /// `FOR UPDATE`; on SQLite the transaction already holds the write lock), so concurrent
    /// approvals of one request are serialised and a quorum is never lost between them.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn lock_request(&mut self, id: i64) -> Result<DeployApprovalRequest, StoreError> {
        const SQLITE: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE id = $1"
        );
        const PG: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE id = $1 FOR UPDATE"
        );
        Ok(match &mut self.inner {
            crate::tx::TxInner::Sqlite(t) => {
                sqlx::query_as::<_, DeployApprovalRequest>(SQLITE)
                    .bind(id)
                    .fetch_one(&mut **t)
                    .await?
            }
            crate::tx::TxInner::Pg(t) => {
                sqlx::query_as::<_, DeployApprovalRequest>(PG)
                    .bind(id)
                    .fetch_one(&mut **t)
                    .await?
            }
        })
    }

    /// The approvals of a request inside this transaction, oldest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_approvals(
        &mut self,
        request_id: i64,
    ) -> Result<Vec<crate::approvals::DeployApproval>, StoreError> {
        Ok(
            with_tx!(self, c => sqlx::query_as::<_, crate::approvals::DeployApproval>(
            crate::approvals::APPROVALS_SQL).bind(request_id).fetch_all(&mut *c).await?),
        )
    }
}

/// approved → deployed for the holder of the promote claim.
const CONFIRM_DEPLOYED: &str = "UPDATE deploy_approval_requests SET status = 'deployed', deployed_at = $3, \
    chain_claim = NULL, chain_claim_at = NULL, updated_at = $3 WHERE id = $1 \
    AND status = 'approved' AND chain_claim = 'promote' AND chain_claim_at = $2 \
    AND release_id IS NOT NULL";

impl StoreTx {
    /// [`Store::confirm_deployed`] inside the caller's transaction, so that what follows from
    /// the deploy (its notification jobs) commits with it.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn confirm_deployed(
        &mut self,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.changes(Topic::Approvals);
        let n = with_tx!(self, c => sqlx::query(CONFIRM_DEPLOYED)
            .bind(claim.request_id).bind(Ts(claim.at)).bind(Ts(now))
            .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }
}
