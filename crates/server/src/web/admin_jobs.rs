//! The jobs admin page: durable integration jobs (state, attempts, last error) with status and
//! kind filters, cursor paging, and retry / discard. Reads and changes call the jobs API's own
//! handlers, so `gateway:job:read` / `gateway:job:manage` and the audit stay theirs; the page
//! only hides the buttons a caller may not use.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use rgw_core::rbac::Permission;
use serde::Deserialize;

use super::context::{Chrome, WebError, WebForm, WebUser, see_other};
use super::pages::render;
use crate::app::AppState;
use crate::auth::RequestMeta;
use crate::jobs::api::{JobQuery, JobView, discard_job, list_jobs, retry_job};

/// Statuses offered in the filter, in lifecycle order.
const STATUSES: [&str; 6] = [
    "queued",
    "running",
    "succeeded",
    "failed",
    "dead",
    "discarded",
];

/// Rows per page: small enough to scan, the API allows up to 500.
const PAGE: i64 = 50;

/// The page's query string; empty fields mean "any".
#[derive(Debug, Default, Deserialize)]
pub struct JobsFilter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cursor: String,
}

#[derive(Template)]
#[template(path = "admin_jobs.html")]
struct JobsPage {
    chrome: Chrome,
    jobs: Vec<JobView>,
    f: JobsFilter,
    statuses: [&'static str; 6],
    can_manage: bool,
    next_url: Option<String>,
    error: Option<String>,
}

fn some(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn jobs_page(
    state: &AppState,
    u: &WebUser,
    f: JobsFilter,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, WebError> {
    let q = JobQuery {
        status: some(&f.status),
        kind: some(&f.kind),
        deploy_approval_request_id: None,
        limit: Some(PAGE),
        cursor: some(&f.cursor),
    };
    let Json(list) = list_jobs(u.principal.clone(), State(state.clone()), Query(q)).await?;
    let next_url = list.next_cursor.map(|c| {
        let qs = serde_urlencoded::to_string([
            ("status", f.status.as_str()),
            ("kind", f.kind.as_str()),
            ("cursor", c.as_str()),
        ])
        .unwrap_or_default();
        format!("/admin/jobs?{qs}")
    });
    Ok(render(
        status,
        &JobsPage {
            chrome: Chrome::for_user(state, &u.user, "jobs"),
            jobs: list.jobs,
            f,
            statuses: STATUSES,
            can_manage: u.principal.allows(&Permission::JOB_MANAGE),
            next_url,
            error,
        },
    ))
}

/// `GET /admin/jobs`.
pub async fn jobs(
    State(state): State<AppState>,
    u: WebUser,
    Query(f): Query<JobsFilter>,
) -> Result<Response, WebError> {
    jobs_page(&state, &u, f, StatusCode::OK, None).await
}

/// `POST /admin/jobs/{id}/{action}`: retry or discard; the API refuses callers without
/// `gateway:job:manage` and jobs in a state that does not allow it.
pub async fn act(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path((id, action)): Path<(String, String)>,
    WebForm { user, .. }: WebForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let (s, p) = (State(state.clone()), user.principal.clone());
    let r = match action.as_str() {
        "retry" => retry_job(p, meta, s, Path(id)).await,
        "discard" => discard_job(p, meta, s, Path(id)).await,
        _ => Err(crate::error::ApiError::not_found(
            "unknown_action",
            "no such job action",
        )),
    };
    match r {
        Ok(_) => Ok(see_other("/admin/jobs")),
        Err(e) if e.status().is_client_error() => {
            let err = Some(e.to_string());
            jobs_page(&state, &user, JobsFilter::default(), e.status(), err).await
        }
        Err(e) => Err(e.into()),
    }
}
