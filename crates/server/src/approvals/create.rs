//! `POST /api/v1/deploy-approval-requests`: CI (or a deployer) asks for approval of one commit.
//!
//! Validated before anything is stored: the body shape, a 40-hex commit, a message, a JSON-object
//! `ci_metadata` of at most 16 KiB, a target token that can deploy with approval (the calling
//! token by default; tokens may only target themselves), and that the app exists on the rack —
//! a rack that cannot be reached refuses the request (503) rather than approving blind. The
//! request, its intent digest and its audit event are written in one transaction.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rgw_core::RequestId;
use rgw_core::approval::{ApprovalPolicy, DeployIntent};
use rgw_core::rbac::Permission;
use rgw_core::wire::CreateDeployApprovalRequest;
use rgw_store::{NewDeployApprovalRequest, StoreError};
use serde_json::{Value, json};

use super::view::{Names, to_wire};
use crate::app::AppState;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::{Principal, RequestMeta};
use crate::error::ApiError;
use crate::jobs::transition::Transition;
use crate::rack::api::RackReadError;

/// Largest `ci_metadata`, serialised.
pub const MAX_CI_METADATA: usize = 16 * 1024;
/// Largest message and branch name.
const MAX_MESSAGE: usize = 4096;
const MAX_BRANCH: usize = 255;

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, message)
}

/// Parses and checks the body; everything the caller can fix is a 4xx naming the field.
fn parse_body(body: Value) -> Result<CreateDeployApprovalRequest, ApiError> {
    if let Some(meta) = body.get("ci_metadata") {
        if !meta.is_object() {
            return Err(bad(
                "invalid_ci_metadata",
                "ci_metadata must be a JSON object, e.g. {\"workflow_id\": \"abc-123\"}",
            ));
        }
        if meta.to_string().len() > MAX_CI_METADATA {
            return Err(bad(
                "invalid_ci_metadata",
                format!(
                    "ci_metadata is larger than {MAX_CI_METADATA} bytes; send only what an approver needs"
                ),
            ));
        }
    }
    let req: CreateDeployApprovalRequest = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "the request body is not a deploy approval request: {e}; send app, git_commit_hash (40 hex characters), message and optionally git_branch, ci_metadata, target_api_token_id"
            ),
        )
    })?;
    let message = req.message.trim();
    if message.is_empty() {
        return Err(bad(
            "message_required",
            "message is required: say what is being deployed and why",
        ));
    }
    if message.len() > MAX_MESSAGE {
        return Err(bad(
            "invalid_message",
            format!("message is longer than {MAX_MESSAGE} bytes"),
        ));
    }
    if let Some(b) = &req.git_branch
        && (b.is_empty() || b.len() > MAX_BRANCH || b.chars().any(char::is_control))
    {
        return Err(bad(
            "invalid_git_branch",
            format!("git_branch must be 1 to {MAX_BRANCH} printable characters"),
        ));
    }
    Ok(req)
}

/// The token that will use the approval, as `(internal id, public id)`.
async fn target_token(
    state: &AppState,
    principal: &Principal,
    asked: Option<&str>,
) -> Result<(i64, uuid::Uuid), ApiError> {
    let now = state.clock.now();
    let row = match (asked, principal) {
        (None, Principal::Token(t)) => state.store.get_api_token(t.token_id).await?,
        (None, Principal::User(_)) => {
            return Err(bad(
                "target_api_token_required",
                "name the CI token that will deploy (target_api_token_id) when a user creates a request",
            ));
        }
        (Some(id), _) => {
            let unknown = || {
                bad(
                    "unknown_target_api_token",
                    "target_api_token_id is not the public id of an active API token",
                )
            };
            let public = uuid::Uuid::parse_str(id).map_err(|_| unknown())?;
            let row = match state.store.get_api_token_by_public_id(public).await {
                Ok(r) => r,
                Err(StoreError::NotFound) => return Err(unknown()),
                Err(e) => return Err(e.into()),
            };
            if let Principal::Token(t) = principal
                && t.token_id != row.id
            {
                return Err(ApiError::forbidden(
                    "target_api_token_forbidden",
                    "an API token may only request approvals for itself; omit target_api_token_id",
                ));
            }
            row
        }
    };
    let active = row.revoked_at.is_none() && row.expires_at.is_none_or(|e| e > now);
    let can_deploy = match row.role.as_deref() {
        Some(r) => r
            .parse::<rgw_core::Role>()
            .is_ok_and(|r| r.allows(&Permission::DEPLOY_WITH_APPROVAL)),
        None => false,
    } || row
        .permissions
        .0
        .iter()
        .any(|p| p == Permission::DEPLOY_WITH_APPROVAL.as_str());
    if !active {
        return Err(bad(
            "target_api_token_inactive",
            format!("API token {} is revoked or expired", row.name),
        ));
    }
    if !can_deploy {
        return Err(bad(
            "target_api_token_cannot_deploy",
            format!(
                "API token {} lacks convox:deploy:deploy_with_approval, so an approval would be useless; use a cicd token",
                row.name
            ),
        ));
    }
    Ok((row.id, row.public_id))
}

/// Checks the app exists on the rack; fails closed when the rack cannot say.
async fn app_exists(state: &AppState, app: &rgw_core::AppName) -> Result<(), ApiError> {
    let rack = state.rack.as_ref().ok_or_else(|| ApiError::Unavailable {
        code: "rack_unavailable",
        message: "the gateway has no rack configured (RGW_RACK_URL), so it cannot check the app"
            .into(),
    })?;
    match rack.get_json(&format!("/apps/{app}")).await {
        Ok(_) => Ok(()),
        Err(RackReadError::Status { status, .. }) if status == StatusCode::NOT_FOUND => Err(bad(
            "app_not_found",
            format!("app {app} does not exist on the rack; check the app name"),
        )),
        Err(e) => Err(ApiError::Unavailable {
            code: "rack_unavailable",
            message: format!(
                "cannot check app {app} on the rack ({e}); retry when the rack is reachable"
            ),
        }),
    }
}

/// The approval policy from the settings.
pub async fn policy(state: &AppState) -> Result<ApprovalPolicy, ApiError> {
    let int = |k| crate::settings::int_setting(state, k, None);
    ApprovalPolicy::from_settings(
        int("deploy_approval_window_minutes").await?,
        int("deploy_approval_pending_ttl_minutes").await?,
        int("deploy_approval_quorum").await?,
    )
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("approval settings: {e}")))
}

/// The rack's name in intents: its host, so an approval for one rack never matches another.
pub fn rack_name(state: &AppState) -> String {
    state
        .rack
        .as_ref()
        .map(|r| r.authority())
        .unwrap_or_else(|| "no-rack".into())
}

/// The human-readable creator recorded in the intent.
pub fn creator_label(principal: &Principal) -> String {
    match principal {
        Principal::User(u) => format!("user {}", u.email),
        Principal::Token(t) => format!("token {} ({})", t.name, t.public_id),
    }
}

#[utoipa::path(post, path = "/api/v1/deploy-approval-requests", tag = "deploy-approvals",
    request_body = CreateDeployApprovalRequest,
    responses((status = 201, body = rgw_core::wire::DeployApprovalRequest),
              (status = 409, description = "open_request_exists (with the open request) / approvals_disabled"),
              (status = 422, description = "invalid field, unknown app or target token"),
              (status = 503, description = "rack_unavailable")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    principal.require(&Permission::DEPLOY_APPROVAL_REQUEST_CREATE)?;
    if !crate::settings::bool_setting(&state, "deploy_approvals_enabled", None).await? {
        return Err(ApiError::conflict(
            "approvals_disabled",
            "deploy approvals are disabled (deploy_approvals_enabled=false); cicd tokens deploy directly",
        ));
    }
    let req = parse_body(body)?;
    let (target_id, target_public) =
        target_token(&state, &principal, req.target_api_token_id.as_deref()).await?;
    app_exists(&state, &req.app).await?;
    // GitHub verification (and the PR URL), CircleCI metadata: fail closed before any write.
    let pr_url = crate::integrations::precheck(&state, &req).await?;
    let policy = policy(&state).await?;
    let now = state.clock.now();
    let public_id = RequestId::generate();
    let creator = creator_label(&principal);
    let rack = rack_name(&state);
    let window_minutes = policy.window.whole_minutes();
    let intent = DeployIntent {
        request_id: public_id,
        rack: &rack,
        app: &req.app,
        commit: &req.git_commit_hash,
        branch: req.git_branch.as_deref(),
        target_token: target_public,
        creator: &creator,
        quorum: policy.quorum,
        window_minutes,
    };
    let new = NewDeployApprovalRequest {
        public_id: *public_id.as_uuid(),
        app: req.app.to_string(),
        git_commit_hash: req.git_commit_hash.to_string(),
        git_branch: req.git_branch.clone(),
        pr_url,
        ci_metadata: Value::Object(req.ci_metadata.clone()),
        message: req.message.trim().to_owned(),
        target_api_token_id: target_id,
        created_by_user_id: principal.as_user().map(|u| u.user_id),
        created_by_api_token_id: match &principal {
            Principal::Token(t) => Some(t.token_id),
            Principal::User(_) => None,
        },
        required_approvals: i64::from(policy.quorum),
        pending_expires_at: policy.pending_expires_at(now),
        intent_digest: intent.digest(),
        approval_window_minutes: window_minutes,
    };
    let mut tx = state.store.begin().await?;
    let row = match tx.create_request(&new, now).await {
        Ok(row) => row,
        Err(StoreError::Conflict { constraint, .. })
            if constraint == "uq_deploy_approval_requests_open" =>
        {
            tx.rollback().await?;
            return existing(&state, &principal, &new).await;
        }
        Err(e) => return Err(e.into()),
    };
    let mut event = AuditEvent::new(
        now,
        principal.audit_actor(),
        "deploy_approval.create",
        Outcome::Success,
    )
    .resource(row.public_id.to_string())
    .app(row.app.clone())
    .details(json!({
        "git_commit_hash": row.git_commit_hash,
        "git_branch": row.git_branch,
        "target_api_token_id": target_public,
        "required_approvals": row.required_approvals,
        "intent_digest": row.intent_digest,
        "message": row.message,
    }));
    event.deploy_approval_request_id = Some(row.public_id);
    let logged = state
        .auditor
        .append_in_tx(&mut tx, meta.apply(event))
        .await?;
    crate::jobs::transition::enqueue(&mut tx, &state, &row, Transition::Created, now).await?;
    tx.commit().await?;
    logged.log();
    super::notify(&state, row.public_id);
    let wire = to_wire(&state, &mut Names::default(), &row, &[]).await?;
    Ok((StatusCode::CREATED, Json(wire)).into_response())
}

/// The 409 for a duplicate: the error and the open request, so CI can wait on it. A caller who
/// may not see that request (a user naming someone else's token) learns only that it exists:
/// its id, notes and approvers stay as private as `GET` keeps them.
async fn existing(
    state: &AppState,
    principal: &Principal,
    new: &NewDeployApprovalRequest,
) -> Result<Response, ApiError> {
    let open = state
        .store
        .get_open_request(&new.app, &new.git_commit_hash, new.target_api_token_id)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "open_request_exists",
                "an open request for this app, commit and token was just closed; retry",
            )
        })?;
    if !super::view::may_see(principal, &open) {
        return Err(ApiError::conflict(
            "open_request_exists",
            format!(
                "another caller's deploy approval request for app {} at commit {} for this token is already open; wait for it, or ask an admin to reject it",
                open.app, open.git_commit_hash
            ),
        ));
    }
    let approvals = state.store.list_approvals(open.id).await?;
    let wire = to_wire(state, &mut Names::default(), &open, &approvals).await?;
    let body = json!({
        "error": {
            "code": "open_request_exists",
            "message": format!(
                "deploy approval request {} for app {} at commit {} is already {}; wait on it instead of creating another",
                open.public_id, open.app, open.git_commit_hash, open.status
            ),
        },
        "deploy_approval_request": wire,
    });
    Ok((StatusCode::CONFLICT, Json(body)).into_response())
}
