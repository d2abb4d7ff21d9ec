//! `GET /api/v1/deploy-approval-requests/{id}/events`: Server-Sent Events, one event per state
//! change, the first one the current state; the stream ends after a final state.
//!
//! Changes made by this gateway wake the stream at once (the in-process notifier); changes made
//! by another replica on the same database are seen within [`POLL`], because the stream also
//! re-reads the request on that interval.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use rgw_core::rbac::Permission;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::view::{Names, load_visible, to_wire};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// How often a stream re-reads its request (the cross-replica bound).
pub const POLL: Duration = Duration::from_secs(1);

struct Follow {
    state: AppState,
    id: i64,
    public_id: Uuid,
    last: Option<(rgw_core::approval::ApprovalStatus, OffsetDateTime, usize)>,
    rx: broadcast::Receiver<Uuid>,
    done: bool,
}

impl Follow {
    /// The next event: the request as it is now, once it differs from the last one sent.
    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        loop {
            if let Some(ev) = self.changed().await {
                return Some(ev);
            }
            let wait = tokio::time::sleep(POLL);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    got = self.rx.recv() => match got {
                        Ok(id) if id != self.public_id => continue,
                        Err(broadcast::error::RecvError::Closed) => {
                            (&mut wait).await;
                            break;
                        }
                        _ => break,
                    },
                }
            }
        }
    }

    async fn changed(&mut self) -> Option<Event> {
        let row = match self.state.store.get_request(self.id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "reading a deploy approval request for its event stream");
                return None;
            }
        };
        let approvals = self.state.store.list_approvals(row.id).await.ok()?;
        let key = (row.status, row.updated_at, approvals.len());
        if self.last == Some(key) {
            return None;
        }
        let wire = to_wire(&self.state, &mut Names::default(), &row, &approvals)
            .await
            .ok()?;
        self.last = Some(key);
        self.done = row.status.is_terminal();
        Event::default()
            .event("deploy_approval_request")
            .id(format!(
                "{}-{}",
                row.status,
                row.updated_at.unix_timestamp_nanos()
            ))
            .json_data(&wire)
            .ok()
    }
}

#[utoipa::path(get, path = "/api/v1/deploy-approval-requests/{id}/events", tag = "deploy-approvals",
    params(("id" = String, Path, description = "public id")),
    responses((status = 200, description = "text/event-stream of `deploy_approval_request` events"),
              (status = 404, description = "deploy_approval_request_not_found")))]
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    principal.require(&Permission::DEPLOY_APPROVAL_REQUEST_READ)?;
    let row = load_visible(&state, &principal, &id).await?;
    let follow = Follow {
        rx: state.approval_events.subscribe(),
        state,
        id: row.id,
        public_id: row.public_id,
        last: None,
        done: false,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        f.next().await.map(|ev| (Ok(ev), f))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
