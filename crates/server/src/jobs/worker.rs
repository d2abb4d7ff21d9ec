//! The worker: [`run_once`] claims one due job under a lease, keeps the lease renewed while the
//! job runs, and records how it ended; [`run`] loops over it, sleeping until the next job is due,
//! a local enqueue wakes it, or the poll interval passes (jobs enqueued by other replicas).
//!
//! A worker that dies holding a job leaves its lease to expire; the next claim after that takes
//! the job over (with the attempt counted), and the dead worker's claim can no longer record
//! anything. Integrations make their outbound effects idempotent (see `integrations`), so a
//! job taken over after its call reached the remote does not act twice.

use std::future::Future;
use std::time::Duration;

use rgw_store::{Job, JobFailure, JobStatus};
use serde_json::json;
use uuid::Uuid;

use super::policy::{JobError, backoff, jitter};
use super::transition::{self, RequestPayload};
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::error::ApiError;
use crate::integrations::{self, Subject};

/// Longest one job may run, whatever its lease renewals say.
pub const MAX_RUN: Duration = Duration::from_secs(300);

/// What [`run_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The job's public id.
    pub job: Uuid,
    /// Its kind.
    pub kind: String,
    /// Its status afterwards (`running` when another worker took it over meanwhile).
    pub status: JobStatus,
    /// The error of this attempt, if any.
    pub error: Option<String>,
}

enum Done {
    /// The handler succeeded; the job is still ours to complete.
    Ran,
    /// The handler completed the job itself (fan-out).
    Completed,
    /// The claim was lost (taken over or discarded).
    Lost,
}

fn span(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MINUTE)
}

/// Claims and runs one due job. `Ok(None)` when nothing is due.
///
/// # Errors
/// Database errors while claiming or recording.
pub async fn run_once(state: &AppState) -> Result<Option<Ran>, ApiError> {
    let now = state.clock.now();
    for dead in state.store.bury_abandoned_jobs(now).await? {
        report_stopped(state, &dead).await;
    }
    let lease = span(state.config.jobs.lease);
    let Some(job) = state
        .store
        .claim_job(&state.jobs.worker_id, now + lease, now)
        .await?
    else {
        return Ok(None);
    };
    let outcome =
        match tokio::time::timeout(MAX_RUN, with_lease(state, &job, execute(state, &job))).await {
            Ok(o) => o,
            Err(_) => Err(JobError::retry(format!(
                "the job ran longer than {} s",
                MAX_RUN.as_secs()
            ))),
        };
    settle(state, job, outcome).await.map(Some)
}

/// Runs `work` while renewing `job`'s lease every third of it; gives up (`Lost`) when a renewal
/// finds the claim gone.
async fn with_lease(
    state: &AppState,
    job: &Job,
    work: impl Future<Output = Result<Done, JobError>>,
) -> Result<Done, JobError> {
    let every = (state.config.jobs.lease / 3).max(Duration::from_millis(100));
    let renew = async {
        loop {
            tokio::time::sleep(every).await;
            let now = state.clock.now();
            match state
                .store
                .renew_job_lease(job, now + span(state.config.jobs.lease), now)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                // A database hiccup: keep working; the lease may still hold.
                Err(e) => tracing::warn!(error = %e, job = %job.public_id, "renewing a job lease"),
            }
        }
    };
    tokio::select! {
        out = work => out,
        () = renew => Ok(Done::Lost),
    }
}

async fn execute(state: &AppState, job: &Job) -> Result<Done, JobError> {
    let payload = RequestPayload::of(job)?;
    let subject = Subject::load(state, payload.request_id).await?;
    if job.kind == transition::KIND {
        return Ok(
            match transition::fan_out(state, job, &subject, payload.event).await? {
                Some(_) => Done::Completed,
                None => Done::Lost,
            },
        );
    }
    let integration = integrations::registry()
        .iter()
        .find(|i| i.handles(&job.kind))
        .ok_or_else(|| {
            JobError::permanent(format!("no integration runs jobs of kind {}", job.kind))
        })?;
    integration.run(state, job, &subject, payload.event).await?;
    Ok(Done::Ran)
}

async fn settle(
    state: &AppState,
    job: Job,
    outcome: Result<Done, JobError>,
) -> Result<Ran, ApiError> {
    let now = state.clock.now();
    let (status, error) = match outcome {
        Ok(Done::Completed) => (Some(JobStatus::Succeeded), None),
        Ok(Done::Lost) => (None, None),
        Ok(Done::Ran) => (
            state
                .store
                .complete_job(&job, now)
                .await?
                .then_some(JobStatus::Succeeded),
            None,
        ),
        Err(e) => {
            let failure = match &e {
                JobError::Retry(_) => {
                    JobFailure::RetryAt(now + span(backoff(job.attempts, jitter())))
                }
                JobError::Permanent(_) => JobFailure::Permanent,
            };
            let msg = e.to_string();
            (
                state.store.fail_job(&job, &msg, failure, now).await?,
                Some(msg),
            )
        }
    };
    let status = match status {
        Some(s) => s,
        // Lost: report what the job is now.
        None => state.store.get_job(job.id).await?.status,
    };
    if let Some(msg) = &error {
        tracing::warn!(job = %job.public_id, kind = %job.kind, attempt = job.attempts, %status, error = %msg, "job attempt failed");
    }
    if matches!(status, JobStatus::Failed | JobStatus::Dead) && error.is_some() {
        let mut stopped = job.clone();
        stopped.status = status;
        stopped.last_error = error.clone();
        report_stopped(state, &stopped).await;
    }
    Ok(Ran {
        job: job.public_id,
        kind: job.kind,
        status,
        error,
    })
}

/// Audits a job that stopped for good, on the request's trail, so the approval page shows it.
async fn report_stopped(state: &AppState, job: &Job) {
    let request = RequestPayload::of(job).ok().map(|p| p.request_id);
    let mut ev = AuditEvent::new(
        state.clock.now(),
        Actor::System,
        "integration.failed",
        Outcome::Failed,
    )
    .resource(format!("job {}", job.public_id))
    .details(json!({
        "job_id": job.public_id,
        "kind": job.kind,
        "status": job.status.as_str(),
        "attempts": job.attempts,
        "error": job.last_error,
    }));
    ev.deploy_approval_request_id = request;
    if let Some(id) = job.deploy_approval_request_id
        && let Ok(row) = state.store.get_request(id).await
    {
        ev = ev.app(row.app);
    }
    state.auditor.record(ev).await;
}

/// Runs jobs until the task is dropped.
pub async fn run(state: AppState) {
    let poll = state.config.jobs.poll;
    loop {
        match run_once(&state).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "job worker step failed; retrying"),
        }
        let wait = match state.store.next_job_due().await {
            Ok(Some(due)) => {
                let secs = (due - state.clock.now()).as_seconds_f64().max(0.05);
                Duration::from_secs_f64(secs).min(poll)
            }
            _ => poll,
        };
        tokio::select! {
            () = state.jobs.woken() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
