//! Finding the one approval a call binds to, and saying precisely why there is none.

use std::sync::Arc;

use rgw_core::approval::{ApprovalStatus, ChainStep, ClaimedStep, DeployChain, DeployDenial};
use rgw_core::{AppName, BuildId, GitSha, ReleaseId, RequestId};
use rgw_store::DeployApprovalRequest;
use time::OffsetDateTime;

use super::{Ctx, GateError};

/// A stored request with its artefacts parsed, ready for the chain check.
pub(crate) struct Bound {
    /// Shared with the gate's cache when it came from there.
    pub row: Arc<DeployApprovalRequest>,
    pub id: RequestId,
    pub app: AppName,
    pub commit: GitSha,
    pub build: Option<BuildId>,
    pub release: Option<ReleaseId>,
    pub pids: Vec<String>,
    pub claim: Option<ClaimedStep>,
}

impl Bound {
    pub fn new(row: Arc<DeployApprovalRequest>) -> Result<Self, GateError> {
        let bad = |what: &str| {
            GateError::from(crate::error::ApiError::Internal(anyhow::anyhow!(
                "deploy approval request {} has a malformed {what}",
                row.public_id
            )))
        };
        let app = AppName::parse(&row.app).map_err(|_| bad("app"))?;
        let commit = GitSha::parse(&row.git_commit_hash).map_err(|_| bad("commit"))?;
        let build = row
            .build_id
            .as_deref()
            .map(BuildId::parse)
            .transpose()
            .map_err(|_| bad("build_id"))?;
        let release = row
            .release_id
            .as_deref()
            .map(ReleaseId::parse)
            .transpose()
            .map_err(|_| bad("release_id"))?;
        let pids = serde_json::from_value(row.process_ids.0.clone()).unwrap_or_default();
        let claim = row.chain_claim.as_deref().and_then(ClaimedStep::parse);
        Ok(Bound {
            id: RequestId::from_uuid(row.public_id),
            app,
            commit,
            build,
            release,
            pids,
            claim,
            row,
        })
    }

    /// The chain view of this approval.
    pub fn chain<'a>(&'a self, commands: &'a [String], build_failed: bool) -> DeployChain<'a> {
        DeployChain {
            id: self.id,
            app: &self.app,
            commit: &self.commit,
            status: self.row.status,
            approval_expires_at: self.row.approval_expires_at,
            object_url: self.row.object_url.as_deref(),
            build_id: self.build.as_ref(),
            release_id: self.release.as_ref(),
            claim: self.claim,
            recorded_build_failed: build_failed,
            process_ids: &self.pids,
            approved_commands: commands,
        }
    }

    /// Checks `step` against this approval now.
    pub fn check(
        &self,
        ctx: &Ctx<'_>,
        step: &ChainStep<'_>,
        commands: &[String],
        build_failed: bool,
    ) -> Result<(), GateError> {
        self.chain(commands, build_failed)
            .check(step, ctx.state.clock.now())
            .map(|_| ())
            .map_err(GateError::from)
    }
}

/// The live requests of the calling token for the app (approved, or deployed within the
/// window), newest first.
pub(crate) async fn live(ctx: &Ctx<'_>) -> Result<Vec<Bound>, GateError> {
    let rows = ctx
        .state
        .store
        .live_requests_for(ctx.token.token_id, ctx.app.as_str(), ctx.state.clock.now())
        .await?;
    rows.into_iter().map(|r| Bound::new(Arc::new(r))).collect()
}

/// [`live`] from the store's in-memory copy, for read-only calls: it may only *allow* them (a
/// refusal is decided again on [`live`]).
pub(crate) async fn live_cached(ctx: &Ctx<'_>) -> Result<Vec<Bound>, GateError> {
    let rows = ctx
        .state
        .store
        .live_requests_for_cached(ctx.token.token_id, ctx.app.as_str(), ctx.state.clock.now())
        .await?;
    rows.into_iter().map(Bound::new).collect()
}

/// Only the approved (not yet deployed) ones.
pub(crate) fn approved(live: Vec<Bound>) -> Vec<Bound> {
    live.into_iter()
        .filter(|b| b.row.status == ApprovalStatus::Approved)
        .collect()
}

/// The denial when no approval takes the call: names the newest request of this token for the
/// app (and commit) and why it cannot be used, or says one is required.
pub(crate) async fn none_found(ctx: &Ctx<'_>, commit: Option<&GitSha>) -> GateError {
    let latest = ctx
        .state
        .store
        .latest_request_for(
            ctx.token.token_id,
            ctx.app.as_str(),
            commit.map(GitSha::as_str),
        )
        .await;
    let now: OffsetDateTime = ctx.state.clock.now();
    match latest {
        Err(e) => e.into(),
        Ok(None) => DeployDenial::ApprovalRequired {
            app: ctx.app.clone(),
            commit: commit.cloned(),
        }
        .into(),
        Ok(Some(r)) => {
            let id = RequestId::from_uuid(r.public_id);
            match (r.status, r.approval_expires_at) {
                (ApprovalStatus::Expired, _) => DeployDenial::Expired {
                    id,
                    at: r
                        .approval_expires_at
                        .or(r.expired_at)
                        .unwrap_or(r.pending_expires_at),
                }
                .into(),
                (ApprovalStatus::Approved | ApprovalStatus::Deployed, Some(at)) if at <= now => {
                    DeployDenial::Expired { id, at }.into()
                }
                (status, _) => DeployDenial::NotApproved { id, status }.into(),
            }
        }
    }
}

/// When nothing binds but live approvals exist, the newest one explains the refusal through
/// the chain check (wrong build, no release yet, …); otherwise [`none_found`].
pub(crate) async fn refuse_with_newest(
    ctx: &Ctx<'_>,
    candidates: &[Bound],
    step: &ChainStep<'_>,
    commands: &[String],
    commit: Option<&GitSha>,
) -> GateError {
    if let Some(newest) = candidates.first()
        && let Err(e) = newest.check(ctx, step, commands, false)
    {
        return e;
    }
    none_found(ctx, commit).await
}
