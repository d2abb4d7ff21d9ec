//! The deploy-approval pages: the list (pending first, filters, live), the detail page (live),
//! and the approve and reject forms. Every read and every decision goes through the JSON API's
//! own handlers (`crate::approvals`), so visibility, the lifecycle rules, MFA bound to the
//! request and the audit trail are exactly the API's; the pages only shape forms and HTML.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rgw_core::approval::ApprovalStatus;
use rgw_core::rbac::Permission;
use rgw_core::wire::{ApproveBody, DeployApprovalRequest as Wire, MfaProof, RejectBody};
use serde::Deserialize;

use super::approval_view::{DetailView, RowView, TrailView, trail};
use super::context::{Chrome, WebError, WebForm, WebUser, see_other, urlencode};
use super::pages::{fragment, render};
use crate::app::AppState;
use crate::approvals::decide;
use crate::approvals::read::{self, ListQuery};
use crate::approvals::view::{Names, load_visible, to_wire};
use crate::auth::{Principal, RequestMeta};
use crate::error::ApiError;

/// Filters of the list page.
#[derive(Debug, Default, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub app: String,
    pub cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "approval_rows.html")]
struct Rows {
    rows: Vec<RowView>,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ListPage {
    chrome: Chrome,
    statuses: Vec<ApprovalStatus>,
    status: String,
    app: String,
    rows_url: String,
    rows_html: String,
    next_url: Option<String>,
    error: Option<String>,
}

fn query_string(f: &ListFilter) -> String {
    let mut q = Vec::new();
    if !f.status.is_empty() {
        q.push(format!("status={}", urlencode(&f.status)));
    }
    if !f.app.is_empty() {
        q.push(format!("app={}", urlencode(&f.app)));
    }
    q.join("&")
}

async fn list_api(
    state: &AppState,
    principal: &Principal,
    status: Option<String>,
    app: Option<String>,
    limit: i64,
    cursor: Option<String>,
) -> Result<(Vec<Wire>, Option<String>), ApiError> {
    let Json(list) = read::list(
        State(state.clone()),
        principal.clone(),
        Query(ListQuery {
            status,
            app,
            git_commit_hash: None,
            limit: Some(limit),
            cursor,
        }),
    )
    .await?;
    Ok((list.deploy_approval_requests, list.next_cursor))
}

/// The rows for a filter: with no status filter, every pending request first (newest first),
/// then one page of the others.
async fn rows_for(
    state: &AppState,
    principal: &Principal,
    f: &ListFilter,
) -> Result<(Vec<RowView>, Option<String>), ApiError> {
    let app = Some(f.app.trim().to_owned()).filter(|a| !a.is_empty());
    if !f.status.is_empty() {
        let (rows, next) = list_api(
            state,
            principal,
            Some(f.status.clone()),
            app,
            100,
            f.cursor.clone(),
        )
        .await?;
        return Ok((rows.iter().map(RowView::from).collect(), next));
    }
    let mut rows = Vec::new();
    if f.cursor.is_none() {
        let (pending, _) = list_api(
            state,
            principal,
            Some("pending".into()),
            app.clone(),
            200,
            None,
        )
        .await?;
        rows.extend(pending.iter().map(RowView::from));
    }
    let (rest, next) = list_api(state, principal, None, app, 100, f.cursor.clone()).await?;
    rows.extend(
        rest.iter()
            .filter(|w| w.status != ApprovalStatus::Pending)
            .map(RowView::from),
    );
    Ok((rows, next))
}

/// `GET /deploy-approvals`.
pub async fn list(
    State(state): State<AppState>,
    WebUser { user, principal }: WebUser,
    Query(f): Query<ListFilter>,
) -> Result<Response, WebError> {
    let chrome = Chrome::for_user(&state, &user, "approvals");
    let qs = query_string(&f);
    let (rows, next, error, status) = match rows_for(&state, &principal, &f).await {
        Ok((rows, next)) => (rows, next, None, StatusCode::OK),
        // A bad filter is shown on the page, with the filter form to fix it.
        Err(e) if e.status().is_client_error() => {
            (Vec::new(), None, Some(e.to_string()), e.status())
        }
        Err(e) => return Err(e.into()),
    };
    let rows_html = Rows { rows }
        .render()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("rendering rows: {e}")))?;
    let next_url = next.map(|c| {
        let sep = if qs.is_empty() { "" } else { "&" };
        format!("/deploy-approvals?{qs}{sep}cursor={}", urlencode(&c))
    });
    Ok(render(
        status,
        &ListPage {
            chrome,
            statuses: ApprovalStatus::ALL.to_vec(),
            status: f.status.clone(),
            app: f.app.clone(),
            rows_url: format!("/deploy-approvals/rows?{qs}"),
            rows_html,
            next_url,
            error,
        },
    ))
}

/// `GET /deploy-approvals/rows`: the list's rows, for the live list to swap in.
pub async fn rows(
    State(state): State<AppState>,
    WebUser { principal, .. }: WebUser,
    Query(f): Query<ListFilter>,
) -> Result<Response, WebError> {
    let (rows, _) = rows_for(&state, &principal, &f).await?;
    Ok(fragment(&Rows { rows }))
}

/// The live parts of the detail page (state facts and audit trail), rendered together for
/// the page's script and split for the first render.
#[derive(Template)]
#[template(path = "approval_live.html")]
struct Live {
    d: DetailView,
    trail: Vec<TrailView>,
}

#[derive(Template)]
#[template(path = "approval_live.html", block = "facts")]
struct LiveFacts<'a> {
    d: &'a DetailView,
}

#[derive(Template)]
#[template(path = "approval_live.html", block = "trail")]
struct LiveTrail<'a> {
    trail: &'a [TrailView],
}

#[derive(Template)]
#[template(path = "approval.html")]
struct DetailPage {
    chrome: Chrome,
    d: DetailView,
    facts_html: String,
    trail_html: String,
    error: Option<String>,
    notice: Option<String>,
    can_approve: bool,
    can_reject: bool,
    cannot_approve: Option<String>,
    reject_label: &'static str,
    has_totp: bool,
    has_keys: bool,
}

async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<
    (
        rgw_store::DeployApprovalRequest,
        Wire,
        DetailView,
        Vec<TrailView>,
    ),
    ApiError,
> {
    principal.require(&Permission::DEPLOY_APPROVAL_REQUEST_READ)?;
    let row = load_visible(state, principal, id).await?;
    let approvals = state.store.list_approvals(row.id).await?;
    let mut names = Names::default();
    let wire = to_wire(state, &mut names, &row, &approvals).await?;
    let (_, token_name) = names.token(state, row.target_api_token_id).await?;
    let d = DetailView::build(state, &wire, &token_name).await;
    let t = trail(state, principal, row.public_id).await?;
    Ok((row, wire, d, t))
}

/// Shows the detail page of `id`, with an error or notice from a decision.
async fn detail_page(
    state: &AppState,
    user: &WebUser,
    id: &str,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let (row, wire, d, t) = load(state, &user.principal, id).await?;
    let admin = user
        .principal
        .allows(&Permission::DEPLOY_APPROVAL_REQUEST_APPROVE);
    let me = user.user.user_id;
    let mut cannot_approve = None;
    let mut can_approve = admin && wire.status == ApprovalStatus::Pending;
    if can_approve && row.created_by_user_id == Some(me) {
        can_approve = false;
        cannot_approve = Some("You created this request, so another admin must approve it.".into());
    }
    if can_approve && wire.approvals.iter().any(|a| a.user == user.user.email) {
        can_approve = false;
        cannot_approve = Some("You approved this request; it waits for more approvals.".into());
    }
    let can_reject = admin
        && matches!(
            wire.status,
            ApprovalStatus::Pending | ApprovalStatus::Approved
        );
    let has_totp = state
        .store
        .get_totp_credential(me)
        .await?
        .is_some_and(|c| c.confirmed_at.is_some());
    let has_keys = !state.store.list_webauthn_credentials(me).await?.is_empty();
    let failed = |e: askama::Error| ApiError::Internal(anyhow::anyhow!("rendering: {e}"));
    let facts_html = LiveFacts { d: &d }.render().map_err(failed)?;
    let trail_html = LiveTrail { trail: &t }.render().map_err(failed)?;
    let page = DetailPage {
        chrome: Chrome::for_user(state, &user.user, "approvals"),
        d,
        facts_html,
        trail_html,
        error,
        notice,
        can_approve,
        can_reject,
        cannot_approve,
        reject_label: if wire.status == ApprovalStatus::Approved {
            "Revoke approval"
        } else {
            "Reject"
        },
        has_totp,
        has_keys,
    };
    Ok(render(status, &page))
}

/// What the detail page was redirected with after a decision.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// `GET /deploy-approvals/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    let notice = match done.done.as_deref() {
        Some("approved") => Some("Your approval was recorded.".to_owned()),
        Some("rejected") => Some("The request was rejected.".to_owned()),
        _ => None,
    };
    detail_page(&state, &user, &id, StatusCode::OK, None, notice).await
}

/// `GET /deploy-approvals/{id}/live`: the state part of the detail page, for its live updates.
pub async fn live(
    State(state): State<AppState>,
    WebUser { principal, .. }: WebUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (_, _, d, trail) = load(&state, &principal, &id).await?;
    Ok(fragment(&Live { d, trail }))
}

/// The approve form.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub intent_digest: String,
    #[serde(default)]
    pub totp: String,
    #[serde(default)]
    pub backup_code: String,
}

fn nonempty(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `POST /deploy-approvals/{id}/approve`: approves with the code typed into the form.
pub async fn approve(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    WebForm { user, form }: WebForm<ApproveForm>,
) -> Result<Response, WebError> {
    let mfa = match (nonempty(&form.totp), nonempty(&form.backup_code)) {
        (Some(code), _) => MfaProof::Totp(code),
        (None, Some(code)) => MfaProof::BackupCode(code),
        (None, None) => {
            let msg = "Enter the code from your authenticator app (or a backup code) to approve.";
            return detail_page(
                &state,
                &user,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(msg.into()),
                None,
            )
            .await;
        }
    };
    let body = ApproveBody {
        notes: nonempty(&form.notes),
        intent_digest: form.intent_digest,
        mfa,
    };
    let result = decide::approve(
        State(state.clone()),
        user.principal.clone(),
        meta,
        Path(id.clone()),
        Json(body),
    )
    .await;
    decided(&state, &user, &id, result.map(|_| "approved")).await
}

/// The reject form.
#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    pub notes: String,
}

/// `POST /deploy-approvals/{id}/reject`: rejects a pending request or revokes an approved one.
pub async fn reject(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    WebForm { user, form }: WebForm<RejectForm>,
) -> Result<Response, WebError> {
    let result = decide::reject(
        State(state.clone()),
        user.principal.clone(),
        meta,
        Path(id.clone()),
        Json(RejectBody {
            notes: nonempty(&form.notes),
        }),
    )
    .await;
    decided(&state, &user, &id, result.map(|_| "rejected")).await
}

/// After a decision: back to the page (303), or the page again with the refusal.
async fn decided(
    state: &AppState,
    user: &WebUser,
    id: &str,
    result: Result<&'static str, ApiError>,
) -> Result<Response, WebError> {
    match result {
        Ok(done) => Ok(see_other(&format!(
            "/deploy-approvals/{}?done={done}",
            urlencode(id)
        ))),
        Err(e) if e.status().is_client_error() && e.status() != StatusCode::NOT_FOUND => {
            detail_page(state, user, id, e.status(), Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /` goes to the approvals list.
pub async fn home() -> impl IntoResponse {
    see_other("/deploy-approvals")
}
