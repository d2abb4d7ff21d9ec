//! Sessions: list and revoke. Users see and end their own; with `gateway:session:read` /
//! `gateway:session:revoke` (admins) anyone's.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use rgw_core::rbac::Permission;
use rgw_store::StoreError;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use super::SessionView;
use crate::app::AppState;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::{Principal, RequestMeta, audit_event};
use crate::error::ApiError;

/// Query of `GET /sessions`.
#[derive(Deserialize, IntoParams)]
pub struct SessionsQuery {
    /// Another user's email (needs `gateway:session:read`).
    pub user: Option<String>,
}

/// Lists live sessions: the caller's own, or another user's.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(SessionsQuery),
    responses((status = 200, body = [SessionView]), (status = 403), (status = 404)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<SessionsQuery>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let current = principal.as_user().map(|u| u.session_id);
    let user_id = match (&q.user, principal.as_user()) {
        (None, Some(u)) => u.user_id,
        (Some(email), Some(u)) if u.email == email.trim().to_lowercase() => u.user_id,
        (Some(email), _) => {
            principal.require(&Permission::SESSION_READ)?;
            state
                .store
                .get_user_by_email(email)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => {
                        ApiError::not_found("user_not_found", format!("no user {email}"))
                    }
                    other => other.into(),
                })?
                .id
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "user_required",
                "API tokens have no sessions; pass ?user=EMAIL",
            ));
        }
    };
    let sessions = state
        .store
        .list_live_sessions(user_id, state.clock.now())
        .await?;
    Ok(Json(
        sessions
            .iter()
            .map(|s| SessionView::new(s, current))
            .collect(),
    ))
}

/// Ends a session (own, or anyone's with `gateway:session:revoke`).
#[utoipa::path(delete, path = "/api/v1/sessions/{public_id}", tag = "sessions", params(("public_id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(public_id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found("session_not_found", format!("no session {public_id}"));
    let session = state
        .store
        .get_session_by_public_id(public_id)
        .await
        .map_err(|_| not_found())?;
    let own = principal
        .as_user()
        .is_some_and(|u| u.user_id == session.user_id);
    if !own && !principal.allows(&Permission::SESSION_REVOKE) {
        // Do not reveal other users' session ids to callers who may not see them.
        return Err(if principal.allows(&Permission::SESSION_READ) {
            principal
                .require(&Permission::SESSION_REVOKE)
                .err()
                .unwrap_or_else(not_found)
        } else {
            not_found()
        });
    }
    let now = state.clock.now();
    if state
        .store
        .revoke_session(session.id, Some(principal.acting_user_id()), now)
        .await?
    {
        let event = AuditEvent::new(
            now,
            principal.audit_actor(),
            "session.revoke",
            Outcome::Success,
        )
        .resource(public_id.to_string())
        .details(json!({ "user_id": session.user_id }));
        audit_event(&state, meta.apply(event)).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
