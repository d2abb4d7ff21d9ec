//! Jobs over HTTP, for admins: list (filtered, cursor-paged), read one, retry one that stopped
//! and discard one. `GET /deploy-approval-requests/{id}/jobs` shows a request's integration
//! jobs to whoever may read the request, so its page can show a failed CircleCI approval.
//! Retries and discards are audited.

use axum::Json;
use axum::extract::{Path, Query, State};
use rgw_core::rbac::Permission;
use rgw_store::{Job, JobFilter, JobStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::{Principal, RequestMeta};
use crate::error::ApiError;

/// Largest page.
const MAX_LIMIT: i64 = 500;

/// The routes, for `app::api_routes`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
        .routes(routes!(discard_job))
        .routes(routes!(request_jobs))
}

/// A job as admins see it. The payload holds ids only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub public_id: Uuid,
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` (permanent error), `dead` (retries used up)
    /// or `discarded`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: String,
    pub last_error: Option<String>,
    /// The request's public id.
    pub deploy_approval_request_id: Option<Uuid>,
    /// The state change that caused it.
    pub event: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub locked_by: Option<String>,
    pub locked_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        let t = rgw_core::wire::rfc3339;
        let p = &j.payload.0;
        JobView {
            public_id: j.public_id,
            kind: j.kind.clone(),
            status: j.status.as_str().into(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: t(j.run_at),
            last_error: j.last_error.clone(),
            deploy_approval_request_id: p["request_id"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok()),
            event: p["event"].as_str().map(str::to_owned),
            payload: p.clone(),
            locked_by: j.locked_by.clone(),
            locked_until: j.locked_until.map(t),
            created_at: t(j.created_at),
            updated_at: t(j.updated_at),
            finished_at: j.finished_at.map(t),
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next (older) page; absent at the end.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct JobQuery {
    /// `queued`, `running`, `succeeded`, `failed`, `dead` or `discarded`.
    pub status: Option<String>,
    /// A kind such as `circleci.approve`.
    pub kind: Option<String>,
    /// A request's public id.
    pub deploy_approval_request_id: Option<Uuid>,
    /// 1–500 (default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn parse_status(s: &str) -> Result<JobStatus, ApiError> {
    JobStatus::parse(s).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_status",
            "status must be one of queued, running, succeeded, failed, dead, discarded",
        )
    })
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.trim()).map_err(|_| {
        ApiError::not_found(
            "job_not_found",
            "no such job; list them with GET /api/v1/jobs",
        )
    })
}

/// Lists jobs with filters (admins).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = JobList), (status = 400), (status = 401), (status = 403)))]
pub async fn list_jobs(
    principal: Principal,
    State(state): State<AppState>,
    Query(q): Query<JobQuery>,
) -> Result<Json<JobList>, ApiError> {
    principal.require(&Permission::JOB_READ)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let request = match q.deploy_approval_request_id {
        Some(p) => match state.store.get_request_by_public_id(p).await {
            Ok(r) => Some(r.id),
            Err(rgw_store::StoreError::NotFound) => {
                return Ok(Json(JobList {
                    jobs: Vec::new(),
                    next_cursor: None,
                }));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let before_id = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "cursor must be a next_cursor from a previous page",
                )
            })
        })
        .transpose()?;
    let filter = JobFilter {
        status: q.status.as_deref().map(parse_status).transpose()?,
        kind: q.kind.filter(|k| !k.is_empty()),
        deploy_approval_request_id: request,
        before_id,
        limit: limit + 1,
    };
    let mut rows = state.store.list_jobs(&filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(100));
    let next_cursor = if more {
        rows.last().map(|j| j.id.to_string())
    } else {
        None
    };
    Ok(Json(JobList {
        jobs: rows.iter().map(JobView::from).collect(),
        next_cursor,
    }))
}

/// One job (admins).
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "public id")),
    responses((status = 200, body = JobView), (status = 404)))]
pub async fn get_job(
    principal: Principal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    principal.require(&Permission::JOB_READ)?;
    let job = match state.store.get_job_by_public_id(parse_id(&id)?).await {
        Err(rgw_store::StoreError::NotFound) => return Err(parse_id("").unwrap_err()),
        other => other?,
    };
    Ok(Json(JobView::from(&job)))
}

async fn change(
    state: &AppState,
    principal: &Principal,
    meta: RequestMeta,
    id: &str,
    retry: bool,
) -> Result<Json<JobView>, ApiError> {
    principal.require(&Permission::JOB_MANAGE)?;
    let public = parse_id(id)?;
    let now = state.clock.now();
    let changed = if retry {
        state.store.retry_job(public, now).await?
    } else {
        state.store.discard_job(public, now).await?
    };
    let job = match changed {
        Some(j) => j,
        None => {
            let current = match state.store.get_job_by_public_id(public).await {
                Err(rgw_store::StoreError::NotFound) => return Err(parse_id("").unwrap_err()),
                other => other?,
            };
            let what = if retry {
                "only failed, dead or discarded jobs can be retried"
            } else {
                "succeeded or discarded jobs cannot be discarded"
            };
            return Err(ApiError::conflict(
                "invalid_job_state",
                format!("job {public} is {}; {what}", current.status),
            ));
        }
    };
    let action = if retry { "job.retry" } else { "job.discard" };
    let view = JobView::from(&job);
    let mut ev = AuditEvent::new(now, principal.audit_actor(), action, Outcome::Success)
        .resource(format!("job {public}"))
        .details(json!({"job_id": public, "kind": job.kind, "last_error": job.last_error}));
    ev.deploy_approval_request_id = view.deploy_approval_request_id;
    state.auditor.record(meta.apply(ev)).await;
    if retry {
        state.jobs.wake();
    }
    Ok(Json(view))
}

/// Re-queues a failed, dead or discarded job to run now (admins).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs", params(("id" = String, Path, description = "public id")),
    responses((status = 200, body = JobView), (status = 404), (status = 409, description = "invalid_job_state")))]
pub async fn retry_job(
    principal: Principal,
    meta: RequestMeta,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    change(&state, &principal, meta, &id, true).await
}

/// Discards a job that has not succeeded (admins); a running job's result is then ignored.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/discard", tag = "jobs", params(("id" = String, Path, description = "public id")),
    responses((status = 200, body = JobView), (status = 404), (status = 409, description = "invalid_job_state")))]
pub async fn discard_job(
    principal: Principal,
    meta: RequestMeta,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    change(&state, &principal, meta, &id, false).await
}

/// The integration jobs of one request, for whoever may read the request.
#[utoipa::path(get, path = "/api/v1/deploy-approval-requests/{id}/jobs", tag = "jobs",
    params(("id" = String, Path, description = "request public id")),
    responses((status = 200, body = JobList), (status = 404)))]
pub async fn request_jobs(
    principal: Principal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobList>, ApiError> {
    let row = crate::approvals::view::load_visible(&state, &principal, &id).await?;
    let rows = state
        .store
        .list_jobs(&JobFilter {
            deploy_approval_request_id: Some(row.id),
            limit: 200,
            ..JobFilter::default()
        })
        .await?;
    Ok(Json(JobList {
        jobs: rows.iter().map(JobView::from).collect(),
        next_cursor: None,
    }))
}
