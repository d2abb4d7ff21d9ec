//! Listing and reading requests: admins see every request, tokens the ones they target or
//! created, other users the ones they created.

use axum::Json;
use axum::extract::{Path, Query, State};
use rgw_core::approval::ApprovalStatus;
use rgw_core::rbac::Permission;
use rgw_core::wire::{DeployApprovalRequest as Wire, DeployApprovalRequestList};
use rgw_core::{AppName, GitSha};
use rgw_store::RequestFilter;
use serde::Deserialize;

use super::view::{Names, load_visible, sees_all, to_wire};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// Query of the list endpoint; every field is optional and checked.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// `pending`, `approved`, `rejected`, `expired` or `deployed`.
    pub status: Option<String>,
    /// Only this app.
    pub app: Option<String>,
    /// Only this full commit.
    pub git_commit_hash: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/deploy-approval-requests", tag = "deploy-approvals",
    params(ListQuery),
    responses((status = 200, body = DeployApprovalRequestList), (status = 400, description = "invalid filter")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<DeployApprovalRequestList>, ApiError> {
    principal.require(&Permission::DEPLOY_APPROVAL_REQUEST_READ)?;
    let bad = |code, msg: String| ApiError::bad_request(code, msg);
    let status = q
        .status
        .as_deref()
        .map(str::parse::<ApprovalStatus>)
        .transpose()
        .map_err(|e| bad("invalid_status", e.to_string()))?;
    let app = q
        .app
        .as_deref()
        .map(AppName::parse)
        .transpose()
        .map_err(|e| bad("invalid_app", e.to_string()))?;
    let commit = q
        .git_commit_hash
        .as_deref()
        .map(GitSha::parse)
        .transpose()
        .map_err(|e| bad("invalid_git_commit_hash", e.to_string()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad(
            "invalid_limit",
            "limit must be between 1 and 200".into(),
        ));
    }
    let before_id = q
        .cursor
        .as_deref()
        .map(|c| {
            c.strip_prefix("r")
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    bad(
                        "invalid_cursor",
                        "cursor must be a next_cursor value from a previous page".into(),
                    )
                })
        })
        .transpose()?;
    let mut filter = RequestFilter {
        status,
        app: app.map(|a| a.to_string()),
        git_commit_hash: commit.map(|c| c.to_string()),
        before_id,
        limit: limit + 1,
        ..RequestFilter::default()
    };
    if !sees_all(&principal) {
        match &principal {
            Principal::Token(t) => filter.visible_to_token = Some(t.token_id),
            Principal::User(u) => filter.created_by_user_id = Some(u.user_id),
        }
    }
    let mut rows = state.store.list_requests(&filter).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("r{}", r.id))
    } else {
        None
    };
    let mut names = Names::default();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let approvals = state.store.list_approvals(row.id).await?;
        out.push(to_wire(&state, &mut names, row, &approvals).await?);
    }
    Ok(Json(DeployApprovalRequestList {
        deploy_approval_requests: out,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/deploy-approval-requests/{id}", tag = "deploy-approvals",
    params(("id" = String, Path, description = "public id")),
    responses((status = 200, body = Wire), (status = 404, description = "deploy_approval_request_not_found")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Wire>, ApiError> {
    principal.require(&Permission::DEPLOY_APPROVAL_REQUEST_READ)?;
    let row = load_visible(&state, &principal, &id).await?;
    let approvals = state.store.list_approvals(row.id).await?;
    Ok(Json(
        to_wire(&state, &mut Names::default(), &row, &approvals).await?,
    ))
}
