//! The durable job outbox: jobs are enqueued in the caller's transaction (with the state change
//! they follow from), claimed by one worker at a time under a lease, retried with exponential
//! backoff and marked `dead` after `max_attempts`.

use std::time::Duration;

use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::Ts;
use crate::db::{Db, Store, with_db};
use crate::error::StoreError;
use crate::tx::{StoreTx, with_tx};

/// Job state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for `run_at`.
    Queued,
    /// Claimed by a worker until `locked_until`.
    Running,
    /// Done.
    Succeeded,
    /// Gave up after `max_attempts`.
    Dead,
}

impl TryFrom<String> for JobStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ok(match s.as_str() {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "dead" => JobStatus::Dead,
            _ => return Err(format!("unknown job status {s:?}")),
        })
    }
}

/// A row of `jobs`.
#[derive(Debug, Clone, FromRow)]
pub struct Job {
    /// Internal id.
    pub id: i64,
    /// External id (admin UI).
    pub public_id: Uuid,
    /// Handler name, e.g. `circleci.approve_job`.
    pub kind: String,
    /// Handler input.
    pub payload: Json<Value>,
    /// Deduplication key.
    pub idempotency_key: Option<String>,
    /// State.
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    /// Claims so far (including the current one).
    pub attempts: i64,
    /// Claims allowed before the job is dead.
    pub max_attempts: i64,
    /// Not before.
    pub run_at: OffsetDateTime,
    /// Worker holding the lease.
    pub locked_by: Option<String>,
    /// Lease end; after it another worker may reclaim the job.
    pub locked_until: Option<OffsetDateTime>,
    /// Last failure.
    pub last_error: Option<String>,
    /// Related request, if any.
    pub deploy_approval_request_id: Option<i64>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// Input for [`StoreTx::enqueue_job`].
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Handler name.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// A second enqueue with the same key is ignored.
    pub idempotency_key: Option<String>,
    /// Not before.
    pub run_at: OffsetDateTime,
    /// Claims allowed.
    pub max_attempts: i64,
    /// Related request.
    pub deploy_approval_request_id: Option<i64>,
}

/// Delay before retry number `attempts` (1-based): 10 s doubling, capped at one hour.
#[must_use]
pub fn job_backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    Duration::from_secs(10u64.saturating_mul(1u64 << exp).min(3600))
}

macro_rules! job_columns {
    () => {
        "id, public_id, kind, payload, idempotency_key, status, attempts, max_attempts, run_at, \
         locked_by, locked_until, last_error, deploy_approval_request_id, created_at, updated_at"
    };
}

impl StoreTx {
    /// Enqueues a job in this transaction. Returns `None` when a job with the same
    /// idempotency key already exists.
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn enqueue_job(
        &mut self,
        new: &NewJob,
        now: OffsetDateTime,
    ) -> Result<Option<Job>, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO jobs (public_id, kind, payload, idempotency_key, max_attempts, run_at, \
             deploy_approval_request_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING ",
            job_columns!()
        );
        Ok(with_tx!(self, c => sqlx::query_as::<_, Job>(SQL)
            .bind(Uuid::now_v7())
            .bind(&new.kind)
            .bind(Json(&new.payload))
            .bind(&new.idempotency_key)
            .bind(new.max_attempts)
            .bind(Ts(new.run_at))
            .bind(new.deploy_approval_request_id)
            .bind(Ts(now))
            .fetch_optional(&mut *c)
            .await?))
    }
}

impl Store {
    /// Enqueues a job on its own (prefer [`StoreTx::enqueue_job`] next to a state change).
    ///
    /// # Errors
    /// Invariant, Db.
    pub async fn enqueue_job(
        &self,
        new: &NewJob,
        now: OffsetDateTime,
    ) -> Result<Option<Job>, StoreError> {
        let mut tx = self.begin().await?;
        let job = tx.enqueue_job(new, now).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Atomically claims the next due job for `worker` with a lease until `lease_until`:
    /// a queued job whose `run_at` passed, or a running one whose lease expired. Two workers
    /// never get the same job.
    ///
    /// # Errors
    /// Db.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<Job>, StoreError> {
        // PostgreSQL: row locks with SKIP LOCKED let concurrent claimers pass each other.
        // SQLite: one writer at a time, so the single UPDATE is already atomic.
        const PG: &str = concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, updated_at = $3 WHERE id = (SELECT id FROM jobs \
             WHERE (status = 'queued' AND run_at <= $3) \
             OR (status = 'running' AND locked_until <= $3 AND attempts < max_attempts) \
             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ",
            job_columns!()
        );
        const SQLITE: &str = concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, updated_at = $3 WHERE id = (SELECT id FROM jobs \
             WHERE (status = 'queued' AND run_at <= $3) \
             OR (status = 'running' AND locked_until <= $3 AND attempts < max_attempts) \
             ORDER BY run_at, id LIMIT 1) RETURNING ",
            job_columns!()
        );
        let sql = match self.db {
            Db::Sqlite(_) => SQLITE,
            Db::Pg(_) => PG,
        };
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(sql)
            .bind(worker).bind(Ts(lease_until)).bind(Ts(now)).fetch_optional(p).await?))
    }

    /// Marks a claimed job done. False if the lease was lost to another worker.
    ///
    /// # Errors
    /// Db.
    pub async fn complete_job(&self, job: &Job, now: OffsetDateTime) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET status = 'succeeded', locked_by = NULL, locked_until = NULL, \
            last_error = NULL, updated_at = $3 WHERE id = $1 AND status = 'running' AND locked_by = $2 \
            AND attempts = $4";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(job.id).bind(&job.locked_by).bind(Ts(now)).bind(job.attempts)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records a failed attempt: re-queues with [`job_backoff`], or marks the job `dead` when
    /// it has used `max_attempts`. Returns the new status, or `None` if the lease was lost.
    ///
    /// # Errors
    /// Db.
    pub async fn fail_job(
        &self,
        job: &Job,
        error: &str,
        now: OffsetDateTime,
    ) -> Result<Option<JobStatus>, StoreError> {
        const SQL: &str = "UPDATE jobs SET status = $5, run_at = $6, last_error = $7, locked_by = NULL, \
            locked_until = NULL, updated_at = $3 WHERE id = $1 AND status = 'running' AND locked_by = $2 \
            AND attempts = $4";
        let status = if job.attempts >= job.max_attempts {
            JobStatus::Dead
        } else {
            JobStatus::Queued
        };
        let run_at = now + job_backoff(job.attempts);
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(job.id).bind(&job.locked_by).bind(Ts(now)).bind(job.attempts)
            .bind(if status == JobStatus::Dead { "dead" } else { "queued" })
            .bind(Ts(run_at)).bind(error)
            .execute(p).await?.rows_affected());
        Ok((n == 1).then_some(status))
    }

    /// Marks `dead` the running jobs whose lease expired after their last allowed attempt
    /// (a worker crashed on it). Returns how many.
    ///
    /// # Errors
    /// Db.
    pub async fn bury_abandoned_jobs(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE jobs SET status = 'dead', last_error = 'lease expired on the last attempt', \
            locked_by = NULL, locked_until = NULL, updated_at = $1 \
            WHERE status = 'running' AND locked_until <= $1 AND attempts >= max_attempts";
        Ok(
            with_db!(&self.db, p => sqlx::query(SQL).bind(Ts(now)).execute(p).await?.rows_affected()),
        )
    }

    /// Gets a job by id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_job(&self, id: i64) -> Result<Job, StoreError> {
        const SQL: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL).bind(id).fetch_one(p).await?))
    }

    /// Lists jobs, newest first (admin view).
    ///
    /// # Errors
    /// Db.
    pub async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs ORDER BY id DESC LIMIT $1"
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL)
            .bind(limit.clamp(1, 1000)).fetch_all(p).await?))
    }
}
