//! The durable job outbox: jobs are enqueued in the caller's transaction (with the state change
//! they follow from), claimed by one worker at a time under a lease that the worker renews while
//! it runs, and then end `succeeded`, re-queued for a retry at a time the caller chose, `failed`
//! (a permanent error) or `dead` (retries used up). Admin operations (list, retry, discard) live
//! in `jobs_admin.rs`.
//!
//! Every update of a claimed job names the claim (`locked_by` and `attempts`), so a worker whose
//! lease expired and was taken over can no longer record anything: the job ends once.
//! Policy (how long to back off, how many attempts) is the caller's; this module only stores it.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for `run_at`.
    Queued,
    /// Claimed by a worker until `locked_until`.
    Running,
    /// Done.
    Succeeded,
    /// Stopped on a permanent error (retrying cannot help until something is fixed).
    Failed,
    /// Gave up after `max_attempts` transient errors.
    Dead,
    /// An admin gave up on it.
    Discarded,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Dead,
        JobStatus::Discarded,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Discarded => "discarded",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for JobStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        JobStatus::parse(&s).ok_or_else(|| format!("unknown job status {s:?}"))
    }
}

/// A row of `jobs`.
#[derive(Debug, Clone, FromRow)]
pub struct Job {
    /// Internal id.
    pub id: i64,
    /// External id (admin API, webhook delivery id).
    pub public_id: Uuid,
    /// Handler name, e.g. `circleci.approve`.
    pub kind: String,
    /// Handler input: ids only, never a secret.
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
    /// When it reached a final state.
    pub finished_at: Option<OffsetDateTime>,
    /// Last lease renewal.
    pub heartbeat_at: Option<OffsetDateTime>,
}

/// Input for [`StoreTx::enqueue_job`].
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Handler name.
    pub kind: String,
    /// Handler input (ids, never secrets).
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

/// How a claimed attempt ended badly, for [`Store::fail_job`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure {
    /// Transient: run again at this time (or end `dead` when no attempt is left).
    RetryAt(OffsetDateTime),
    /// Permanent: end `failed`.
    Permanent,
}

macro_rules! job_columns {
    () => {
        "id, public_id, kind, payload, idempotency_key, status, attempts, max_attempts, run_at, \
         locked_by, locked_until, last_error, deploy_approval_request_id, created_at, updated_at, \
         finished_at, heartbeat_at"
    };
}
pub(crate) use job_columns;

/// Longest stored error text; remote error bodies can be large.
const MAX_ERROR: usize = 2000;

fn clip(error: &str) -> String {
    let kept = rgw_core::text::clip(error, MAX_ERROR);
    if kept.len() == error.len() {
        return error.to_owned();
    }
    format!("{kept}…")
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

    /// Marks a claimed job done, in this transaction (with whatever the job's last step wrote,
    /// e.g. the jobs it fans out to). False if the claim was lost to another worker.
    ///
    /// # Errors
    /// Db.
    pub async fn complete_job(
        &mut self,
        job: &Job,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET status = 'succeeded', locked_by = NULL, locked_until = NULL, \
            finished_at = $3, updated_at = $3 WHERE id = $1 AND status = 'running' AND locked_by = $2 \
            AND attempts = $4";
        let n = with_tx!(self, c => sqlx::query(SQL)
            .bind(job.id).bind(&job.locked_by).bind(Ts(now)).bind(job.attempts)
            .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records a failed attempt in this transaction: re-queued at the given time, `dead` when
    /// it has used `max_attempts`, or `failed` for a permanent error. Returns the new status,
    /// or `None` if the claim was lost.
    ///
    /// # Errors
    /// Db.
    pub async fn fail_job(
        &mut self,
        job: &Job,
        error: &str,
        failure: JobFailure,
        now: OffsetDateTime,
    ) -> Result<Option<JobStatus>, StoreError> {
        const SQL: &str = "UPDATE jobs SET status = $5, run_at = $6, last_error = $7, locked_by = NULL, \
            locked_until = NULL, finished_at = $8, updated_at = $3 WHERE id = $1 AND status = 'running' \
            AND locked_by = $2 AND attempts = $4";
        let (status, run_at) = match failure {
            JobFailure::Permanent => (JobStatus::Failed, job.run_at),
            JobFailure::RetryAt(_) if job.attempts >= job.max_attempts => {
                (JobStatus::Dead, job.run_at)
            }
            JobFailure::RetryAt(at) => (JobStatus::Queued, at),
        };
        let finished = (status != JobStatus::Queued).then_some(Ts(now));
        let n = with_tx!(self, c => sqlx::query(SQL)
            .bind(job.id).bind(&job.locked_by).bind(Ts(now)).bind(job.attempts)
            .bind(status.as_str()).bind(Ts(run_at)).bind(clip(error)).bind(finished)
            .execute(&mut *c).await?.rows_affected());
        Ok((n == 1).then_some(status))
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
    /// a queued job whose `run_at` passed, or a running one whose lease expired with attempts
    /// left (its worker died). Two workers never get the same job.
    ///
    /// # Errors
    /// Db.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<Job>, StoreError> {
        // PostgreSQL: row locks with SKIP LOCKED let concurrent claimers pass each other, and
        // the outer UPDATE re-checks the status on the locked row.
        // SQLite: one writer at a time, so the single UPDATE is already atomic.
        const PG: &str = concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, heartbeat_at = $3, updated_at = $3 WHERE id = (SELECT id FROM jobs \
             WHERE (status = 'queued' AND run_at <= $3) \
             OR (status = 'running' AND locked_until <= $3 AND attempts < max_attempts) \
             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             AND (status = 'queued' OR (status = 'running' AND locked_until <= $3)) RETURNING ",
            job_columns!()
        );
        const SQLITE: &str = concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until = $2, heartbeat_at = $3, updated_at = $3 WHERE id = (SELECT id FROM jobs \
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

    /// Extends the lease of a claimed job that is still running. False if the claim was lost
    /// (the job was taken over or discarded): the worker should stop caring about it.
    ///
    /// # Errors
    /// Db.
    pub async fn renew_job_lease(
        &self,
        job: &Job,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET locked_until = $5, heartbeat_at = $3, updated_at = $3 \
            WHERE id = $1 AND status = 'running' AND locked_by = $2 AND attempts = $4";
        let n = with_db!(&self.db, p => sqlx::query(SQL)
            .bind(job.id).bind(&job.locked_by).bind(Ts(now)).bind(job.attempts).bind(Ts(lease_until))
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// [`StoreTx::complete_job`] in its own transaction.
    ///
    /// # Errors
    /// Db.
    pub async fn complete_job(&self, job: &Job, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = tx.complete_job(job, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// [`StoreTx::fail_job`] in its own transaction.
    ///
    /// # Errors
    /// Db.
    pub async fn fail_job(
        &self,
        job: &Job,
        error: &str,
        failure: JobFailure,
        now: OffsetDateTime,
    ) -> Result<Option<JobStatus>, StoreError> {
        let mut tx = self.begin().await?;
        let status = tx.fail_job(job, error, failure, now).await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Marks `dead` the running jobs whose lease expired after their last allowed attempt
    /// (a worker died on it, so it cannot be retried), returning them.
    ///
    /// # Errors
    /// Db.
    pub async fn bury_abandoned_jobs(&self, now: OffsetDateTime) -> Result<Vec<Job>, StoreError> {
        const SQL: &str = concat!(
            "UPDATE jobs SET status = 'dead', last_error = 'the worker stopped during the last allowed attempt', \
             locked_by = NULL, locked_until = NULL, finished_at = $1, updated_at = $1 \
             WHERE status = 'running' AND locked_until <= $1 AND attempts >= max_attempts RETURNING ",
            job_columns!()
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL).bind(Ts(now)).fetch_all(p).await?))
    }

    /// When the next job becomes claimable (a queued job's `run_at` or a running job's lease
    /// end), so an idle worker can sleep until then.
    ///
    /// # Errors
    /// Db.
    pub async fn next_job_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        const SQL: &str = "SELECT MIN(t) FROM (\
            SELECT MIN(run_at) AS t FROM jobs WHERE status = 'queued' \
            UNION ALL SELECT MIN(locked_until) AS t FROM jobs WHERE status = 'running') AS due";
        let t: Option<OffsetDateTime> =
            with_db!(&self.db, p => sqlx::query_scalar(SQL).fetch_one(p).await?);
        Ok(t)
    }

    /// Gets a job by internal id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_job(&self, id: i64) -> Result<Job, StoreError> {
        const SQL: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL).bind(id).fetch_one(p).await?))
    }
}
