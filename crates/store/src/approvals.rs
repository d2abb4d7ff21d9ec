//! Deploy approval requests and their approvals: creation, lookup and listing. Lifecycle
//! updates live in `approval_transitions.rs`; the rules themselves are enforced by triggers in
//! the migrations, so a buggy caller gets a [`StoreError::Invariant`], never a bad row.

use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changes::Topic;
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;
use crate::tx::{StoreTx, with_tx};
pub use rgw_core::approval::ApprovalStatus;

/// A row of `deploy_approval_requests` (seed column names).
#[derive(Debug, Clone, FromRow)]
pub struct DeployApprovalRequest {
    /// Internal id.
    pub id: i64,
    /// External id.
    pub public_id: Uuid,
    /// Convox app.
    pub app: String,
    /// Full 40-hex lower-case commit SHA.
    pub git_commit_hash: String,
    /// Branch.
    pub git_branch: Option<String>,
    /// Pull request URL.
    pub pr_url: Option<String>,
    /// CI metadata (JSON object).
    pub ci_metadata: Json<Value>,
    /// Requester's message.
    pub message: String,
    /// Lifecycle state.
    #[sqlx(try_from = "String")]
    pub status: ApprovalStatus,
    /// The CI token that may use the approval.
    pub target_api_token_id: i64,
    /// Creating user, if a human created it.
    pub created_by_user_id: Option<i64>,
    /// Creating token, if CI created it.
    pub created_by_api_token_id: Option<i64>,
    /// Distinct approvals needed (quorum).
    pub required_approvals: i64,
    /// When the quorum was reached.
    pub approved_at: Option<OffsetDateTime>,
    /// End of the deploy window.
    pub approval_expires_at: Option<OffsetDateTime>,
    /// Rejecting admin.
    pub rejected_by_user_id: Option<i64>,
    /// Rejection time.
    pub rejected_at: Option<OffsetDateTime>,
    /// Rejection notes.
    pub rejection_notes: Option<String>,
    /// Expiry time (written by the sweeper).
    pub expired_at: Option<OffsetDateTime>,
    /// Deploy completion time.
    pub deployed_at: Option<OffsetDateTime>,
    /// Uploaded object (step 1 of the chain).
    pub object_url: Option<String>,
    /// Build (step 2).
    pub build_id: Option<String>,
    /// Release (step 3).
    pub release_id: Option<String>,
    /// Process ids started under the approval (JSON array).
    pub process_ids: Json<Value>,
    /// Commands run under the approval (JSON object process id → command).
    pub exec_commands: Json<Value>,
    /// When a pending request expires.
    pub pending_expires_at: OffsetDateTime,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// `sha256:<hex>` of the canonical deploy intent (set at creation, immutable).
    pub intent_digest: Option<String>,
    /// The approval window fixed at creation (minutes).
    pub approval_window_minutes: Option<i64>,
    /// A chain step claimed by a call in flight: `object`, `build` or `promote`.
    pub chain_claim: Option<String>,
    /// When that claim was taken (identifies the claimant).
    pub chain_claim_at: Option<OffsetDateTime>,
    /// When the gated promote was allowed (the deploy is judged at this time).
    pub promote_allowed_at: Option<OffsetDateTime>,
    /// `pending_ttl`, `approval_window` or `superseded`.
    pub expired_reason: Option<String>,
    /// Rejected after it was approved (an admin revoked the unused approval).
    pub revoked: bool,
}

impl DeployApprovalRequest {
    /// Whether a gated promote of this request is on its way to the rack (claimed at or after
    /// `stale_before`; older claims are abandoned). Neither the sweeper nor a revoke ends such
    /// an approval: the release may be live a moment later, and the record must say so.
    pub fn promote_in_flight(&self, stale_before: OffsetDateTime) -> bool {
        self.chain_claim.as_deref() == Some("promote")
            && self.chain_claim_at.is_some_and(|at| at >= stale_before)
    }
}

/// Input for creating a request.
#[derive(Debug, Clone)]
pub struct NewDeployApprovalRequest {
    /// External id, chosen by the caller (the intent digest covers it).
    pub public_id: Uuid,
    /// Convox app.
    pub app: String,
    /// Full 40-hex lower-case SHA (the database refuses anything else).
    pub git_commit_hash: String,
    /// Branch.
    pub git_branch: Option<String>,
    /// PR URL.
    pub pr_url: Option<String>,
    /// CI metadata object.
    pub ci_metadata: Value,
    /// Message.
    pub message: String,
    /// The CI token that may use the approval.
    pub target_api_token_id: i64,
    /// Creating user.
    pub created_by_user_id: Option<i64>,
    /// Creating token.
    pub created_by_api_token_id: Option<i64>,
    /// Quorum (>= 1).
    pub required_approvals: i64,
    /// Pending TTL end.
    pub pending_expires_at: OffsetDateTime,
    /// `sha256:<hex>` of the canonical deploy intent.
    pub intent_digest: String,
    /// The approval window (minutes), fixed now so the intent cannot change later.
    pub approval_window_minutes: i64,
}

/// Result of [`Store::create_or_get_open_request`].
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// A new pending request.
    Created(DeployApprovalRequest),
    /// The open request that already exists for this app, commit and token (answer 409).
    Existing(DeployApprovalRequest),
}

/// One approver's approval of a request, with the approver's identity.
#[derive(Debug, Clone, FromRow)]
pub struct DeployApproval {
    /// Internal id.
    pub id: i64,
    /// The request.
    pub request_id: i64,
    /// Approving user.
    pub user_id: i64,
    /// Approver's public id.
    pub user_public_id: Uuid,
    /// Approver's email.
    pub user_email: String,
    /// Notes.
    pub notes: Option<String>,
    /// `totp`, `webauthn` or `backup_code`.
    pub mfa_method: String,
    /// Approval time.
    pub approved_at: OffsetDateTime,
    /// The intent digest this approval approved.
    pub intent_digest: Option<String>,
    /// What the MFA proof was bound to (`action:object@commit#digest`).
    pub mfa_binding: Option<String>,
}

/// Input for [`StoreTx::add_approval`].
#[derive(Debug, Clone)]
pub struct NewDeployApproval {
    /// The request (must be pending; not created by this user).
    pub request_id: i64,
    /// Approving user.
    pub user_id: i64,
    /// Notes.
    pub notes: Option<String>,
    /// MFA method verified for this approval.
    pub mfa_method: String,
    /// The intent digest approved.
    pub intent_digest: String,
    /// What the MFA proof was bound to.
    pub mfa_binding: String,
}

/// Filters for [`Store::list_requests`]; newest first, keyset-paginated by internal id.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Only this state.
    pub status: Option<ApprovalStatus>,
    /// Only this app.
    pub app: Option<String>,
    /// Only this commit.
    pub git_commit_hash: Option<String>,
    /// Only requests targeting this token.
    pub target_api_token_id: Option<i64>,
    /// Only requests this token may see: it is their target or their creator.
    pub visible_to_token: Option<i64>,
    /// Only requests this user created.
    pub created_by_user_id: Option<i64>,
    /// Only ids below this one (the previous page's last id).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

macro_rules! request_columns {
    () => {
        "id, public_id, app, git_commit_hash, git_branch, pr_url, ci_metadata, message, status, \
         target_api_token_id, created_by_user_id, created_by_api_token_id, required_approvals, \
         approved_at, approval_expires_at, rejected_by_user_id, rejected_at, rejection_notes, \
         expired_at, deployed_at, object_url, build_id, release_id, process_ids, exec_commands, \
         pending_expires_at, created_at, updated_at, intent_digest, approval_window_minutes, \
         chain_claim, chain_claim_at, promote_allowed_at, expired_reason, revoked"
    };
}
pub(crate) use request_columns;

/// The approvals of one request (`$1`), oldest first, with each approver's identity.
pub(crate) const APPROVALS_SQL: &str = "SELECT a.id, a.request_id, a.user_id, \
    u.public_id AS user_public_id, u.email AS user_email, a.notes, a.mfa_method, a.approved_at, \
    a.intent_digest, a.mfa_binding FROM deploy_approvals a JOIN users u ON u.id = a.user_id \
    WHERE a.request_id = $1 ORDER BY a.id";

impl StoreTx {
    /// Inserts a pending request. An open duplicate is [`StoreError::Conflict`] on
    /// `uq_deploy_approval_requests_open` (on PostgreSQL the transaction is then aborted).
    ///
    /// # Errors
    /// Conflict, Invariant (bad SHA, quorum), Db.
    pub async fn create_request(
        &mut self,
        new: &NewDeployApprovalRequest,
        now: OffsetDateTime,
    ) -> Result<DeployApprovalRequest, StoreError> {
        self.changes(Topic::Approvals);
        const SQL: &str = concat!(
            "INSERT INTO deploy_approval_requests (public_id, app, git_commit_hash, git_branch, pr_url, \
             ci_metadata, message, target_api_token_id, created_by_user_id, created_by_api_token_id, \
             required_approvals, pending_expires_at, created_at, updated_at, intent_digest, \
             approval_window_minutes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15) RETURNING ",
            request_columns!()
        );
        Ok(
            with_tx!(self, c => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(new.public_id)
            .bind(&new.app)
            .bind(&new.git_commit_hash)
            .bind(&new.git_branch)
            .bind(&new.pr_url)
            .bind(Json(&new.ci_metadata))
            .bind(&new.message)
            .bind(new.target_api_token_id)
            .bind(new.created_by_user_id)
            .bind(new.created_by_api_token_id)
            .bind(new.required_approvals)
            .bind(Ts(new.pending_expires_at))
            .bind(Ts(now))
            .bind(&new.intent_digest)
            .bind(new.approval_window_minutes)
            .fetch_one(&mut *c)
            .await?),
        )
    }

    /// Records one approver's approval. The database refuses it for a request that is not
    /// pending, for the request's creator, and twice for the same user.
    ///
    /// # Errors
    /// Invariant, Conflict (`uq_deploy_approvals_request_id_user_id`), Db.
    pub async fn add_approval(
        &mut self,
        new: &NewDeployApproval,
        now: OffsetDateTime,
    ) -> Result<DeployApproval, StoreError> {
        self.changes(Topic::Approvals);
        const INSERT: &str = "INSERT INTO deploy_approvals (request_id, user_id, notes, mfa_method, \
            approved_at, intent_digest, mfa_binding) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        const SELECT: &str = "SELECT a.id, a.request_id, a.user_id, u.public_id AS user_public_id, \
            u.email AS user_email, a.notes, a.mfa_method, a.approved_at, a.intent_digest, a.mfa_binding \
            FROM deploy_approvals a JOIN users u ON u.id = a.user_id WHERE a.id = $1";
        Ok(with_tx!(self, c => {
            let id: i64 = sqlx::query_scalar(INSERT)
                .bind(new.request_id).bind(new.user_id).bind(&new.notes).bind(&new.mfa_method)
                .bind(Ts(now)).bind(&new.intent_digest).bind(&new.mfa_binding)
                .fetch_one(&mut *c).await?;
            sqlx::query_as::<_, DeployApproval>(SELECT).bind(id).fetch_one(&mut *c).await?
        }))
    }
}

impl Store {
    /// Creates a pending request (see [`StoreTx::create_request`]).
    ///
    /// # Errors
    /// As [`StoreTx::create_request`].
    pub async fn create_request(
        &self,
        new: &NewDeployApprovalRequest,
        now: OffsetDateTime,
    ) -> Result<DeployApprovalRequest, StoreError> {
        let mut tx = self.begin().await?;
        let req = tx.create_request(new, now).await?;
        tx.commit().await?;
        Ok(req)
    }

    /// Creates a request, or returns the open one for the same app, commit and target token.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn create_or_get_open_request(
        &self,
        new: &NewDeployApprovalRequest,
        now: OffsetDateTime,
    ) -> Result<CreateOutcome, StoreError> {
        // Two rounds: the open request may close between our failed insert and the lookup.
        for _ in 0..2 {
            match self.create_request(new, now).await {
                Ok(req) => return Ok(CreateOutcome::Created(req)),
                Err(StoreError::Conflict { constraint, .. })
                    if constraint == "uq_deploy_approval_requests_open" =>
                {
                    let open = self
                        .get_open_request(&new.app, &new.git_commit_hash, new.target_api_token_id)
                        .await?;
                    if let Some(open) = open {
                        return Ok(CreateOutcome::Existing(open));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.create_request(new, now)
            .await
            .map(CreateOutcome::Created)
    }

    /// The open (pending or approved) request for this app, commit and target token, if any.
    ///
    /// # Errors
    /// Db.
    pub async fn get_open_request(
        &self,
        app: &str,
        git_commit_hash: &str,
        target_api_token_id: i64,
    ) -> Result<Option<DeployApprovalRequest>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE app = $1 AND git_commit_hash = $2 \
             AND target_api_token_id = $3 AND status IN ('pending', 'approved')"
        );
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(app).bind(git_commit_hash).bind(target_api_token_id)
            .fetch_optional(p).await?),
        )
    }

    /// Gets a request by internal id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_request(&self, id: i64) -> Result<DeployApprovalRequest, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE id = $1"
        );
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(id).fetch_one(p).await?),
        )
    }

    /// Gets a request by public id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_request_by_public_id(
        &self,
        public_id: Uuid,
    ) -> Result<DeployApprovalRequest, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE public_id = $1"
        );
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(public_id).fetch_one(p).await?),
        )
    }

    /// Lists requests matching `filter`, newest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<DeployApprovalRequest>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM deploy_approval_requests WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR app = $2) AND ($3 IS NULL OR git_commit_hash = $3) \
             AND ($4 IS NULL OR target_api_token_id = $4) AND ($5 IS NULL OR id < $5) \
             AND ($7 IS NULL OR target_api_token_id = $7 OR created_by_api_token_id = $7) \
             AND ($8 IS NULL OR created_by_user_id = $8) \
             ORDER BY id DESC LIMIT $6"
        );
        let status = filter.status.map(ApprovalStatus::as_str);
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, DeployApprovalRequest>(SQL)
            .bind(status)
            .bind(&filter.app)
            .bind(&filter.git_commit_hash)
            .bind(filter.target_api_token_id)
            .bind(filter.before_id)
            .bind(filter.limit.clamp(1, 500))
            .bind(filter.visible_to_token)
            .bind(filter.created_by_user_id)
            .fetch_all(p)
            .await?),
        )
    }

    /// The approvals of a request, oldest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_approvals(&self, request_id: i64) -> Result<Vec<DeployApproval>, StoreError> {
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, DeployApproval>(APPROVALS_SQL)
            .bind(request_id).fetch_all(p).await?),
        )
    }
}
