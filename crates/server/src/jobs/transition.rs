//! One job per state change of a request: [`enqueue`] writes it in the transaction of the
//! change; when it runs, [`fan_out`] asks every integration which jobs the change needs (its
//! settings decide) and enqueues them in the transaction that completes the fan-out job, so each
//! change produces its integration jobs exactly once, even across a crash.

use rgw_store::{DeployApprovalRequest, Job, NewJob, StoreTx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::policy::JobError;
use crate::app::AppState;
use crate::error::ApiError;
use crate::integrations::{self, Subject};

/// Kind of the fan-out job.
pub const KIND: &str = "deploy_approval.transition";

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Created (pending).
    Created,
    /// An approval was recorded but the quorum is not reached yet.
    Voted,
    /// pending → approved.
    Approved,
    /// pending → rejected.
    Rejected,
    /// approved → rejected (an admin revoked the unused approval).
    Revoked,
    /// → expired (TTL, window or superseded).
    Expired,
    /// approved → deployed.
    Deployed,
}

impl Transition {
    /// The name in payloads and webhook events.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Created => "created",
            Transition::Voted => "voted",
            Transition::Approved => "approved",
            Transition::Rejected => "rejected",
            Transition::Revoked => "revoked",
            Transition::Expired => "expired",
            Transition::Deployed => "deployed",
        }
    }
}

/// Payload of every request job: the request's public id and the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestPayload {
    /// Public id of the request.
    pub request_id: Uuid,
    /// The change that caused the job.
    pub event: Transition,
}

impl RequestPayload {
    /// Reads the payload of `job`.
    ///
    /// # Errors
    /// Permanent when the payload is not one (a job from a newer or older gateway).
    pub fn of(job: &Job) -> Result<RequestPayload, JobError> {
        serde_json::from_value(job.payload.0.clone())
            .map_err(|e| JobError::permanent(format!("unreadable job payload: {e}")))
    }
}

/// Enqueues the fan-out job for `event` on `row` in the caller's transaction. Call
/// `state.jobs.wake()` after the commit.
///
/// # Errors
/// Database errors (the caller's transaction must roll back).
pub async fn enqueue(
    tx: &mut StoreTx,
    state: &AppState,
    row: &DeployApprovalRequest,
    event: Transition,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    // A request reaches each state once, so (request, event) is unique; votes repeat, so each
    // gets its own key.
    let key = match event {
        Transition::Voted => format!("{KIND}:{}:voted:{}", row.public_id, Uuid::now_v7()),
        other => format!("{KIND}:{}:{}", row.public_id, other.as_str()),
    };
    let payload = RequestPayload {
        request_id: row.public_id,
        event,
    };
    tx.enqueue_job(
        &NewJob {
            kind: KIND.into(),
            payload: json!(payload),
            idempotency_key: Some(key),
            run_at: now,
            max_attempts: state.config.jobs.max_attempts,
            deploy_approval_request_id: Some(row.id),
        },
        now,
    )
    .await?;
    Ok(())
}

/// Runs a fan-out job: plans every integration's jobs and enqueues them with the completion.
/// Returns how many jobs it enqueued; `Ok(None)` when the claim was lost meanwhile.
///
/// # Errors
/// [`JobError`] from planning (settings unreadable) or the database.
pub async fn fan_out(
    state: &AppState,
    job: &Job,
    subject: &Subject,
    event: Transition,
) -> Result<Option<usize>, JobError> {
    let mut planned = Vec::new();
    for integration in integrations::registry() {
        planned.extend(integration.plan(state, subject, event).await?);
    }
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    for p in &planned {
        tx.enqueue_job(
            &NewJob {
                kind: p.kind.into(),
                payload: p.payload.clone(),
                idempotency_key: Some(p.key.clone()),
                run_at: now,
                max_attempts: state.config.jobs.max_attempts,
                deploy_approval_request_id: Some(subject.row.id),
            },
            now,
        )
        .await?;
    }
    if !tx.complete_job(job, now).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(planned.len()))
}
