//! Approving, rejecting and revoking requests. Only an admin with a login session may do any of
//! these; API tokens never can, whatever their scope. Approving needs MFA proven *for this
//! request*: a TOTP or backup code entered now, or a WebAuthn assertion answering a ceremony
//! started for this request, bound to its commit and intent digest.
//!
//! The approve transaction locks the request row, re-checks the lifecycle rule of `rgw_core`
//! against the locked state, records the approval (with the digest approved and what the MFA
//! proof was bound to), moves the request to `approved` once the quorum is reached, supersedes
//! older unused approvals of the same app and token, and stores every audit event — all or
//! nothing.

use axum::Json;
use axum::extract::{Path, State};
use rgw_core::approval::{ApprovalEvent, ApprovalStatus, TransitionContext, transition};
use rgw_core::mfa::ActionBinding;
use rgw_core::rbac::Permission;
use rgw_core::wire::{ApproveBody, DeployApprovalRequest as Wire, RejectBody};
use rgw_store::{DeployApprovalRequest, NewDeployApproval};
use serde_json::json;

use super::view::{Names, load_visible, to_wire};
use crate::api::mfa::CeremonyStarted;
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::principal::UserPrincipal;
use crate::auth::{Principal, RequestMeta};
use crate::error::ApiError;
use crate::jobs::transition::Transition;
use crate::mfa::bound::{parse_proof, start_bound_assertion, verify_for_action};

const MAX_NOTES: usize = 4096;

/// The admin behind a decision: a human session with the approve permission.
fn admin(principal: &Principal) -> Result<&UserPrincipal, ApiError> {
    let Principal::User(u) = principal else {
        return Err(ApiError::forbidden(
            "api_tokens_cannot_approve",
            "API tokens can never approve, reject or revoke deploy approvals; an admin must do it from a login session with MFA",
        ));
    };
    principal.require(&Permission::DEPLOY_APPROVAL_REQUEST_APPROVE)?;
    Ok(u)
}

fn notes(n: Option<String>) -> Result<Option<String>, ApiError> {
    let n = n.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if n.as_ref().is_some_and(|s| s.len() > MAX_NOTES) {
        return Err(ApiError::unprocessable(
            "invalid_notes",
            format!("notes are longer than {MAX_NOTES} bytes"),
        ));
    }
    Ok(n)
}

/// The MFA binding for approving `row`.
fn binding(row: &DeployApprovalRequest) -> ActionBinding {
    ActionBinding::new(
        ActionBinding::APPROVE_DEPLOY,
        row.public_id,
        row.git_commit_hash.clone(),
    )
    .with_digest(row.intent_digest.clone().unwrap_or_default())
}

/// The humans who may never approve `row`: its creator (a user, or the owner of a creating
/// token), and with `forbid_token_owner_approval` the owner of its target token.
async fn ineligible(
    state: &AppState,
    row: &DeployApprovalRequest,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let creator = match (row.created_by_user_id, row.created_by_api_token_id) {
        (Some(u), _) => Some(u),
        (None, Some(t)) => Some(state.store.get_api_token(t).await?.owner_user_id),
        (None, None) => None,
    };
    let owner =
        if crate::settings::bool_setting(state, "forbid_token_owner_approval", Some(&row.app))
            .await?
        {
            Some(
                state
                    .store
                    .get_api_token(row.target_api_token_id)
                    .await?
                    .owner_user_id,
            )
        } else {
            None
        };
    Ok((creator, owner))
}

/// Applies the core rule to `row` for `approver`; the status it would move to.
fn check_approve(
    row: &DeployApprovalRequest,
    approver: i64,
    prior: &[i64],
    (creator, owner): (Option<i64>, Option<i64>),
    seen_digest: &str,
    now: time::OffsetDateTime,
) -> Result<ApprovalStatus, ApiError> {
    let current = row.intent_digest.clone().unwrap_or_default();
    let event = ApprovalEvent::Approve {
        approver: &approver,
        creator: creator.as_ref(),
        token_owner: owner.as_ref(),
        seen_digest,
        current_digest: &current,
        prior_approvers: prior,
        quorum: u32::try_from(row.required_approvals).unwrap_or(1),
    };
    let ctx = TransitionContext {
        now,
        pending_expires_at: row.pending_expires_at,
        approval_expires_at: row.approval_expires_at,
    };
    transition(row.status, &event, &ctx).map_err(transition_error)
}

fn transition_error(e: rgw_core::approval::TransitionError) -> ApiError {
    use rgw_core::approval::TransitionError as T;
    let code = match &e {
        T::Terminal(_) | T::NotPending(_) | T::NotApproved(_) => "invalid_state",
        T::CreatorCannotApprove => "creator_cannot_approve",
        T::TokenOwnerCannotApprove => "token_owner_cannot_approve",
        T::AlreadyApproved { .. } => "already_approved",
        T::IntentChanged { .. } => "intent_changed",
        T::PendingExpired(_) | T::ApprovalExpired(_) => "deploy_approval_expired",
        T::InvalidQuorum | T::NotYetExpired(_) | T::MissingApprovalExpiry => "invalid_state",
    };
    match e {
        T::CreatorCannotApprove | T::TokenOwnerCannotApprove => {
            ApiError::forbidden(code, e.to_string())
        }
        _ => ApiError::conflict(code, e.to_string()),
    }
}

async fn wire(state: &AppState, id: i64) -> Result<Json<Wire>, ApiError> {
    let row = state.store.get_request(id).await?;
    let approvals = state.store.list_approvals(row.id).await?;
    Ok(Json(
        to_wire(state, &mut Names::default(), &row, &approvals).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/deploy-approval-requests/{id}/approve", tag = "deploy-approvals",
    request_body = ApproveBody, params(("id" = String, Path, description = "public id")),
    responses((status = 200, body = Wire),
              (status = 401, description = "mfa_verification_failed"),
              (status = 403, description = "api_tokens_cannot_approve / creator_cannot_approve / permission_denied"),
              (status = 409, description = "intent_changed / already_approved / invalid_state / deploy_approval_expired")))]
pub async fn approve(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<String>,
    Json(body): Json<ApproveBody>,
) -> Result<Json<Wire>, ApiError> {
    let user = admin(&principal)?;
    let row = load_visible(&state, &principal, &id).await?;
    let notes = notes(body.notes)?;
    let excluded = ineligible(&state, &row).await?;
    // Check before the MFA proof is consumed, so a doomed approval does not burn a code.
    let prior: Vec<i64> = state
        .store
        .list_approvals(row.id)
        .await?
        .iter()
        .map(|a| a.user_id)
        .collect();
    check_approve(
        &row,
        user.user_id,
        &prior,
        excluded,
        &body.intent_digest,
        state.clock.now(),
    )?;
    let bound = binding(&row);
    let method = verify_for_action(&state, user, &bound, &parse_proof(body.mfa)?).await?;

    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let locked = tx.lock_request(row.id).await?;
    let prior: Vec<i64> = tx
        .list_approvals(row.id)
        .await?
        .iter()
        .map(|a| a.user_id)
        .collect();
    let to = check_approve(
        &locked,
        user.user_id,
        &prior,
        excluded,
        &body.intent_digest,
        now,
    )?;
    tx.add_approval(
        &NewDeployApproval {
            request_id: row.id,
            user_id: user.user_id,
            notes: notes.clone(),
            mfa_method: method.as_str().to_owned(),
            intent_digest: body.intent_digest.clone(),
            mfa_binding: bound.describe(),
        },
        now,
    )
    .await?;
    let mut events = Vec::new();
    let mut vote = AuditEvent::new(
        now,
        principal.audit_actor(),
        "deploy_approval.approve",
        Outcome::Success,
    )
    .resource(row.public_id.to_string())
    .app(row.app.clone())
    .details(json!({
        "git_commit_hash": row.git_commit_hash,
        "intent_digest": body.intent_digest,
        "mfa_method": method.as_str(),
        "mfa_binding": bound.describe(),
        "approvals": prior.len() + 1,
        "required_approvals": row.required_approvals,
        "status": to.as_str(),
        "notes": notes,
    }));
    vote.deploy_approval_request_id = Some(row.public_id);
    events.push(meta.apply(vote));
    let mut changed = vec![row.public_id];
    let mut transitions = vec![(
        locked.clone(),
        if to == ApprovalStatus::Approved {
            Transition::Approved
        } else {
            Transition::Voted
        },
    )];
    if to == ApprovalStatus::Approved {
        let window = time::Duration::minutes(locked.approval_window_minutes.unwrap_or(15));
        if !tx
            .approve_request(row.id, now.saturating_add(window), now)
            .await?
        {
            return Err(ApiError::conflict(
                "invalid_state",
                "the request changed while you approved it; reload it",
            ));
        }
        let approved = tx.lock_request(row.id).await?;
        for old in tx.supersede_unused_approvals(&approved, now).await? {
            let mut ev = AuditEvent::new(
                now,
                Actor::System,
                "deploy_approval.expire",
                Outcome::Success,
            )
            .resource(old.public_id.to_string())
            .app(old.app.clone())
            .details(json!({
                "reason": "superseded",
                "superseded_by": row.public_id,
                "git_commit_hash": old.git_commit_hash,
            }));
            ev.deploy_approval_request_id = Some(old.public_id);
            events.push(ev);
            changed.push(old.public_id);
            transitions.push((old, Transition::Expired));
        }
    }
    let mut logged = Vec::new();
    for ev in events {
        logged.push(state.auditor.append_in_tx(&mut tx, ev).await?);
    }
    for (r, t) in &transitions {
        crate::jobs::transition::enqueue(&mut tx, &state, r, *t, now).await?;
    }
    tx.commit().await?;
    logged.into_iter().for_each(|l| l.log());
    for id in changed {
        super::notify(&state, id);
    }
    wire(&state, row.id).await
}

#[utoipa::path(post, path = "/api/v1/deploy-approval-requests/{id}/reject", tag = "deploy-approvals",
    request_body = RejectBody, params(("id" = String, Path, description = "public id")),
    responses((status = 200, body = Wire), (status = 403, description = "api_tokens_cannot_approve"),
              (status = 409, description = "invalid_state")))]
pub async fn reject(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<String>,
    Json(body): Json<RejectBody>,
) -> Result<Json<Wire>, ApiError> {
    let user = admin(&principal)?;
    let row = load_visible(&state, &principal, &id).await?;
    let notes = notes(body.notes)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let locked = tx.lock_request(row.id).await?;
    let ctx = TransitionContext {
        now,
        pending_expires_at: locked.pending_expires_at,
        approval_expires_at: locked.approval_expires_at,
    };
    transition::<i64>(locked.status, &ApprovalEvent::Reject, &ctx).map_err(transition_error)?;
    if locked.promote_in_flight(now - super::sweeper::STALE_CLAIM) {
        // Revoked now, the release could still go live with every record saying it never did.
        return Err(ApiError::conflict(
            "deploy_in_progress",
            "this approval's release is being promoted on the rack right now, and a revoke now could leave a live release recorded as never deployed; retry in a few seconds (once it is deployed, roll back on the rack instead)",
        ));
    }
    if !tx
        .reject_request(row.id, locked.status, user.user_id, notes.as_deref(), now)
        .await?
    {
        return Err(ApiError::conflict(
            "invalid_state",
            "the request changed meanwhile; reload it",
        ));
    }
    // Rejecting an approved request revokes its (unused or partly used) approval.
    let action = if locked.status == ApprovalStatus::Approved {
        "deploy_approval.revoke"
    } else {
        "deploy_approval.reject"
    };
    let mut ev = AuditEvent::new(now, principal.audit_actor(), action, Outcome::Success)
        .resource(row.public_id.to_string())
        .app(row.app.clone())
        .details(json!({
            "git_commit_hash": row.git_commit_hash,
            "from": locked.status.as_str(),
            "notes": notes,
            "object_url": locked.object_url,
            "build_id": locked.build_id,
        }));
    ev.deploy_approval_request_id = Some(row.public_id);
    let logged = state.auditor.append_in_tx(&mut tx, meta.apply(ev)).await?;
    let t = if locked.status == ApprovalStatus::Approved {
        Transition::Revoked
    } else {
        Transition::Rejected
    };
    crate::jobs::transition::enqueue(&mut tx, &state, &locked, t, now).await?;
    tx.commit().await?;
    logged.log();
    super::notify(&state, row.public_id);
    wire(&state, row.id).await
}

#[utoipa::path(post, path = "/api/v1/deploy-approval-requests/{id}/webauthn/start", tag = "deploy-approvals",
    params(("id" = String, Path, description = "public id")),
    responses((status = 200, body = inline(CeremonyStarted<Object>)),
              (status = 409, description = "mfa_not_enrolled / invalid_state")))]
pub async fn webauthn_start(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CeremonyStarted<webauthn_rs::prelude::RequestChallengeResponse>>, ApiError> {
    let user = admin(&principal)?;
    let row = load_visible(&state, &principal, &id).await?;
    if row.status != ApprovalStatus::Pending {
        return Err(ApiError::conflict(
            "invalid_state",
            format!(
                "only a pending request can be approved; this one is {}",
                row.status
            ),
        ));
    }
    let (ceremony_id, options) = start_bound_assertion(&state, user, &binding(&row)).await?;
    Ok(Json(CeremonyStarted {
        ceremony_id,
        options,
    }))
}
