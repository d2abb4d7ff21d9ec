//! The API shape of a request (`rgw_core::wire::DeployApprovalRequest`, the seed's column
//! names) from its stored row, and who may see it.

use std::collections::HashMap;

use rgw_core::mfa::MfaMethod;
use rgw_core::rbac::Permission;
use rgw_core::wire::{ApprovalRecord, DeployApprovalRequest as Wire};
use rgw_core::{AppName, BuildId, GitSha, ReleaseId, RequestId};
use rgw_store::{DeployApproval, DeployApprovalRequest};

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// Resolves internal ids to public names while building views (one lookup per id per call).
#[derive(Default)]
pub struct Names {
    tokens: HashMap<i64, (String, String)>,
    users: HashMap<i64, String>,
}

impl Names {
    /// `(public id, name)` of an API token.
    pub async fn token(&mut self, state: &AppState, id: i64) -> Result<(String, String), ApiError> {
        if let Some(t) = self.tokens.get(&id) {
            return Ok(t.clone());
        }
        let t = state.store.get_api_token(id).await?;
        let v = (t.public_id.to_string(), t.name);
        self.tokens.insert(id, v.clone());
        Ok(v)
    }

    /// A user's e-mail.
    pub async fn user(&mut self, state: &AppState, id: i64) -> Result<String, ApiError> {
        if let Some(u) = self.users.get(&id) {
            return Ok(u.clone());
        }
        let u = state.store.get_user(id).await?.email;
        self.users.insert(id, u.clone());
        Ok(u)
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!(
        "stored deploy approval request has a bad {what}: {e}"
    ))
}

/// The wire form of `row` with its approvals.
pub async fn to_wire(
    state: &AppState,
    names: &mut Names,
    row: &DeployApprovalRequest,
    approvals: &[DeployApproval],
) -> Result<Wire, ApiError> {
    let (target_public, _) = names.token(state, row.target_api_token_id).await?;
    let created_by = match (row.created_by_user_id, row.created_by_api_token_id) {
        (Some(u), _) => Some(names.user(state, u).await?),
        (None, Some(t)) => Some(names.token(state, t).await?.1),
        (None, None) => None,
    };
    let rejected_by = match row.rejected_by_user_id {
        Some(u) => Some(names.user(state, u).await?),
        None => None,
    };
    let approvals = approvals
        .iter()
        .map(|a| {
            Ok(ApprovalRecord {
                user: a.user_email.clone(),
                at: a.approved_at,
                notes: a.notes.clone(),
                mfa_method: MfaMethod::parse(&a.mfa_method)
                    .ok_or_else(|| corrupt("mfa_method", &a.mfa_method))?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Wire {
        public_id: RequestId::from_uuid(row.public_id),
        app: AppName::parse(&row.app).map_err(|e| corrupt("app", e))?,
        git_commit_hash: GitSha::parse(&row.git_commit_hash).map_err(|e| corrupt("commit", e))?,
        git_branch: row.git_branch.clone(),
        pr_url: row.pr_url.clone(),
        ci_metadata: row.ci_metadata.0.as_object().cloned().unwrap_or_default(),
        message: row.message.clone(),
        status: row.status,
        target_api_token_id: Some(target_public),
        approvals,
        approval_expires_at: row.approval_expires_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
        object_url: row.object_url.clone(),
        build_id: row
            .build_id
            .as_deref()
            .map(BuildId::parse)
            .transpose()
            .map_err(|e| corrupt("build_id", e))?,
        release_id: row
            .release_id
            .as_deref()
            .map(ReleaseId::parse)
            .transpose()
            .map_err(|e| corrupt("release_id", e))?,
        intent_digest: row.intent_digest.clone().unwrap_or_default(),
        required_approvals: u32::try_from(row.required_approvals).unwrap_or(1),
        created_by,
        pending_expires_at: Some(row.pending_expires_at),
        rejected_by,
        rejection_notes: row.rejection_notes.clone(),
        expired_reason: row.expired_reason.clone(),
        deployed_at: row.deployed_at,
    })
}

/// Whether `principal` sees every request (admins) rather than only its own.
pub fn sees_all(principal: &Principal) -> bool {
    match principal {
        Principal::User(u) => u.role.allows(&Permission::DEPLOY_APPROVAL_REQUEST_APPROVE),
        Principal::Token(_) => false,
    }
}

/// Whether `principal` may see `row`: admins; the target token; the creating token or user.
pub fn may_see(principal: &Principal, row: &DeployApprovalRequest) -> bool {
    if sees_all(principal) {
        return true;
    }
    match principal {
        Principal::Token(t) => {
            row.target_api_token_id == t.token_id || row.created_by_api_token_id == Some(t.token_id)
        }
        Principal::User(u) => row.created_by_user_id == Some(u.user_id),
    }
}

/// Loads a request by its public id for `principal`: 404 when it does not exist *or* the
/// caller may not see it (no existence oracle).
pub async fn load_visible(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<DeployApprovalRequest, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "deploy_approval_request_not_found",
            format!(
                "no deploy approval request {}; list them with GET /api/v1/deploy-approval-requests",
                id.chars().take(64).collect::<String>()
            ),
        )
    };
    let public = RequestId::parse(id).map_err(|_| not_found())?;
    let row = match state
        .store
        .get_request_by_public_id(*public.as_uuid())
        .await
    {
        Ok(r) => r,
        Err(rgw_store::StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    if !may_see(principal, &row) {
        return Err(not_found());
    }
    Ok(row)
}
