//! `GET /api/v1/deploy-approval-requests/{id}/events`: Server-Sent Events, one event per state
//! change, the first one the current state; the stream ends after a final state.
//!
//! Changes made by this gateway wake the stream at once (the in-process notifier); changes made
//! by another replica on the same database are seen within [`POLL`], because the stream also
//! re-reads the request on that interval.
//!
//! A stream may stay open for as long as the request is open (a day by default), so the caller
//! is authenticated again at every read, not only when it subscribed: a revoked token, a
//! logged-out session or a suspended user ends the stream within [`POLL`].

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use rgw_core::rbac::Permission;
use rgw_store::DeployApprovalRequest;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::view::{Names, load_visible, may_see, to_wire};
use crate::app::AppState;
use crate::auth::{Principal, credential_headers, reauthenticate};
use crate::error::ApiError;

/// How often a stream re-reads its request (the cross-replica bound).
pub const POLL: Duration = Duration::from_secs(1);

struct Follow {
    state: AppState,
    /// The subscriber's credential headers, to authenticate it again at every read.
    credentials: HeaderMap,
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
            match self.changed().await {
                Step::Event(ev) => return Some(ev),
                Step::Ended => return None,
                Step::Same => {}
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

    /// Whether the subscriber, authenticated again now, may still read `row`.
    async fn still_allowed(&self, row: &DeployApprovalRequest) -> bool {
        match reauthenticate(&self.state, &self.credentials).await {
            Ok(p) => {
                p.require(&Permission::DEPLOY_APPROVAL_REQUEST_READ).is_ok() && may_see(&p, row)
            }
            Err(_) => false,
        }
    }

    async fn changed(&mut self) -> Step {
        let row = match self.state.store.get_request(self.id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "reading a deploy approval request for its event stream");
                return Step::Same;
            }
        };
        if !self.still_allowed(&row).await {
            self.done = true;
            return Step::Ended;
        }
        let Ok(approvals) = self.state.store.list_approvals(row.id).await else {
            return Step::Same;
        };
        let key = (row.status, row.updated_at, approvals.len());
        if self.last == Some(key) {
            return Step::Same;
        }
        let Ok(wire) = to_wire(&self.state, &mut Names::default(), &row, &approvals).await else {
            return Step::Same;
        };
        self.last = Some(key);
        self.done = row.status.is_terminal();
        let ev = Event::default()
            .event("deploy_approval_request")
            .id(format!(
                "{}-{}",
                row.status,
                row.updated_at.unix_timestamp_nanos()
            ))
            .json_data(&wire);
        match ev {
            Ok(ev) => Step::Event(ev),
            Err(_) => Step::Same,
        }
    }
}

/// What one read of the request gives the stream.
enum Step {
    Event(Event),
    Same,
    /// The subscriber may no longer see the request: the stream ends.
    Ended,
}

#[utoipa::path(get, path = "/api/v1/deploy-approval-requests/{id}/events", tag = "deploy-approvals",
    params(("id" = String, Path, description = "public id")),
    responses((status = 200, description = "text/event-stream of `deploy_approval_request` events"),
              (status = 404, description = "deploy_approval_request_not_found")))]
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    principal.require(&Permission::DEPLOY_APPROVAL_REQUEST_READ)?;
    let row = load_visible(&state, &principal, &id).await?;
    let follow = Follow {
        rx: state.approval_events.subscribe(),
        credentials: credential_headers(&headers),
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
