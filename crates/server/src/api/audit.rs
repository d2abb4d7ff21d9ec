//! Reading the audit log over HTTP: a filtered, cursor-paged listing and a streamed export
//! (JSON Lines or CSV). Both need an audit permission; the export never loads the whole table.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::Response;
use rgw_core::rbac::Permission;
use rgw_store::AuditFilter;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::view::{AuditEventView, CSV_HEADER};
use crate::auth::Principal;
use crate::error::ApiError;

/// Largest page of `GET /audit-events`.
const MAX_LIMIT: u32 = 500;

/// Filters shared by the listing and the export.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// A user's email, a token owner's email, or a token's name.
    pub actor: Option<String>,
    /// An exact action (`api_token.create`) or a prefix ending in `.` (`login.`).
    pub action: Option<String>,
    pub app: Option<String>,
    pub request_id: Option<String>,
    pub deploy_approval_request_id: Option<Uuid>,
    /// Inclusive lower bound, RFC 3339.
    pub since: Option<String>,
    /// Exclusive upper bound, RFC 3339.
    pub until: Option<String>,
    /// `success`, `denied`, `failed` or `error`.
    pub outcome: Option<String>,
    /// Page size, 1–500 (default 100). Listing only.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page. Listing only.
    pub cursor: Option<String>,
    /// `jsonl` (default) or `csv`. Export only.
    pub format: Option<String>,
}

/// One page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    pub audit_events: Vec<AuditEventView>,
    /// Pass as `cursor` for the next (older) page; absent at the end.
    pub next_cursor: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        let time = |name: &str, v: &Option<String>| -> Result<Option<OffsetDateTime>, ApiError> {
            v.as_deref()
                .map(|t| {
                    OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
                        ApiError::bad_request(
                            "invalid_time",
                            format!("{name} must be an RFC 3339 time such as 2026-01-01T00:00:00Z"),
                        )
                    })
                })
                .transpose()
        };
        if let Some(o) = &self.outcome
            && !matches!(o.as_str(), "success" | "denied" | "failed" | "error")
        {
            return Err(ApiError::bad_request(
                "invalid_outcome",
                "outcome must be one of success, denied, failed, error",
            ));
        }
        Ok(AuditFilter {
            actor: self.actor.clone().filter(|s| !s.is_empty()),
            action: self.action.clone().filter(|s| !s.is_empty()),
            app: self.app.clone().filter(|s| !s.is_empty()),
            request_id: self.request_id.clone().filter(|s| !s.is_empty()),
            deploy_approval_request_id: self.deploy_approval_request_id,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            outcome: self.outcome.clone(),
        })
    }
}

/// Lists audit events, newest first, with filters and cursor paging.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditEventList), (status = 400), (status = 401), (status = 403)))]
pub async fn list_audit_events(
    principal: Principal,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditEventList>, ApiError> {
    principal.require(&Permission::AUDIT_READ)?;
    let filter = q.filter()?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let cursor = q
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
    let page = state
        .store
        .list_audit_events(&filter, cursor, limit)
        .await?;
    Ok(Json(AuditEventList {
        audit_events: page.events.into_iter().map(AuditEventView::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

/// Streams every matching event, oldest first, as JSON Lines or CSV.
#[utoipa::path(get, path = "/api/v1/audit-events/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "application/x-ndjson or text/csv stream"),
        (status = 400), (status = 401), (status = 403)))]
pub async fn export_audit_events(
    principal: Principal,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    principal.require(&Permission::AUDIT_EXPORT)?;
    let filter = q.filter()?;
    let csv = match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_format",
                "format must be jsonl or csv",
            ));
        }
    };
    let pager = state.store.audit_pager(filter, 500);
    let header_line = csv.then(|| Bytes::from_static(CSV_HEADER.as_bytes()));
    let pages = futures_util::stream::unfold(Some(pager), move |pager| async move {
        let mut pager = pager?;
        match pager.next_page().await {
            Ok(Some(events)) => {
                let mut chunk = Vec::with_capacity(events.len() * 256);
                for event in events {
                    let view = AuditEventView::from(event);
                    if csv {
                        chunk.extend_from_slice(view.csv_line().as_bytes());
                    } else if serde_json::to_writer(&mut chunk, &view).is_ok() {
                        chunk.push(b'\n');
                    }
                }
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), Some(pager)))
            }
            Ok(None) => None,
            Err(e) => {
                // The status line is already sent; cutting the stream tells the client it is
                // incomplete, and the log says why.
                tracing::error!(error = %e, "audit export failed mid-stream");
                Some((Err(std::io::Error::other("audit export failed")), None))
            }
        }
    });
    let stream =
        futures_util::StreamExt::chain(futures_util::stream::iter(header_line.map(Ok)), pages);
    let (content_type, name) = if csv {
        ("text/csv; charset=utf-8", "audit-events.csv")
    } else {
        ("application/x-ndjson", "audit-events.jsonl")
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("building the export response: {e}")))
}
