//! What admins do with jobs: list them (filtered), read one, re-queue a job that stopped
//! (`failed`, `dead` or `discarded`) and discard one that should not run (again). Each change
//! is one guarded `UPDATE`, so it races safely with a worker: a discarded running job can no
//! longer be completed by the worker that held it.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;
use crate::jobs::{Job, JobStatus, job_columns};

/// Filters for [`Store::list_jobs`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// One status.
    pub status: Option<JobStatus>,
    /// One kind, e.g. `circleci.approve`.
    pub kind: Option<String>,
    /// Jobs about this request (internal id).
    pub deploy_approval_request_id: Option<i64>,
    /// Only jobs with an id below this (the previous page's last id).
    pub before_id: Option<i64>,
    /// Page size (clamped to 1–500).
    pub limit: i64,
}

impl Store {
    /// Lists jobs, newest first.
    ///
    /// # Errors
    /// Db.
    pub async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        // Each filter is `($n IS NULL OR column = $n)`, so one plain statement serves every
        // combination on both backends.
        const SQL: &str = concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR deploy_approval_request_id = $3) AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        );
        let status = filter.status.map(JobStatus::as_str);
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL)
            .bind(status).bind(filter.kind.as_deref()).bind(filter.deploy_approval_request_id)
            .bind(filter.before_id).bind(filter.limit.clamp(1, 500))
            .fetch_all(p).await?))
    }

    /// Gets a job by public id.
    ///
    /// # Errors
    /// NotFound, Db.
    pub async fn get_job_by_public_id(&self, public_id: Uuid) -> Result<Job, StoreError> {
        const SQL: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE public_id = $1");
        Ok(
            with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL).bind(public_id).fetch_one(p).await?),
        )
    }

    /// Re-queues a `failed`, `dead` or `discarded` job to run now with a fresh attempt budget.
    /// Returns the job, or `None` when it is not in one of those states (it is queued, running
    /// or succeeded: nothing to retry).
    ///
    /// # Errors
    /// Db.
    pub async fn retry_job(
        &self,
        public_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<Job>, StoreError> {
        const SQL: &str = concat!(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $2, finished_at = NULL, \
             locked_by = NULL, locked_until = NULL, updated_at = $2 \
             WHERE public_id = $1 AND status IN ('failed', 'dead', 'discarded') RETURNING ",
            job_columns!()
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL)
            .bind(public_id).bind(Ts(now)).fetch_optional(p).await?))
    }

    /// Discards a job that has not succeeded (queued, running, failed or dead). A running job's
    /// worker loses its claim: whatever it is doing is not recorded. Returns the job, or `None`
    /// when it already succeeded or was discarded.
    ///
    /// # Errors
    /// Db.
    pub async fn discard_job(
        &self,
        public_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<Job>, StoreError> {
        const SQL: &str = concat!(
            "UPDATE jobs SET status = 'discarded', locked_by = NULL, locked_until = NULL, \
             finished_at = $2, updated_at = $2 \
             WHERE public_id = $1 AND status IN ('queued', 'running', 'failed', 'dead') RETURNING ",
            job_columns!()
        );
        Ok(with_db!(&self.db, p => sqlx::query_as::<_, Job>(SQL)
            .bind(public_id).bind(Ts(now)).fetch_optional(p).await?))
    }

    /// How many jobs are in each status (for the admin overview and the CLI).
    ///
    /// # Errors
    /// Db.
    pub async fn count_jobs_by_status(&self) -> Result<Vec<(JobStatus, i64)>, StoreError> {
        const SQL: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status";
        let rows: Vec<(String, i64)> =
            with_db!(&self.db, p => sqlx::query_as(SQL).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| JobStatus::parse(&s).map(|s| (s, n)))
            .collect())
    }
}
