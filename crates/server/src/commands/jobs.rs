//! `rack-gateway-server jobs list|show|retry|discard`: operator view of the durable jobs in the
//! gateway's database (the same rows `GET /api/v1/jobs` shows). Retries and discards are
//! audited like the API's.

use std::process::ExitCode;

use anyhow::{Context, bail};
use rgw_store::{JobFilter, JobStatus};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{Actor, AuditEvent, Outcome};
use crate::commands::users::state;
use crate::config::Config;
use crate::jobs::api::JobView;

/// `jobs` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// queued, running, succeeded, failed, dead or discarded.
        #[arg(long)]
        status: Option<String>,
        /// A kind such as circleci.approve.
        #[arg(long)]
        kind: Option<String>,
        /// At most this many (1–500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one job as JSON.
    Show { id: Uuid },
    /// Re-queue a failed, dead or discarded job to run now.
    Retry { id: Uuid },
    /// Discard a job that has not succeeded.
    Discard { id: Uuid },
}

/// Runs a `jobs` subcommand.
pub async fn run(config: Config, cmd: JobsCommand) -> anyhow::Result<ExitCode> {
    let state = state(config).await?;
    let result = run_with(&state, cmd).await;
    state.auditor.shutdown().await;
    state.store.close().await;
    result
}

async fn run_with(state: &crate::app::AppState, cmd: JobsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        JobsCommand::List {
            status,
            kind,
            limit,
            json,
        } => {
            let status = status
                .as_deref()
                .map(|s| JobStatus::parse(s).ok_or_else(|| anyhow::anyhow!("--status {s:?}: use queued, running, succeeded, failed, dead or discarded")))
                .transpose()?;
            if !(1..=500).contains(&limit) {
                bail!("--limit must be between 1 and 500");
            }
            let jobs = state
                .store
                .list_jobs(&JobFilter {
                    status,
                    kind,
                    limit,
                    ..JobFilter::default()
                })
                .await?;
            if json {
                for j in &jobs {
                    println!("{}", serde_json::to_string(&JobView::from(j))?);
                }
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<36} {:<26} {:<9} {:>8} {:<22} LAST ERROR",
                "ID", "KIND", "STATUS", "ATTEMPTS", "RUN AT"
            );
            for j in &jobs {
                let error: String = j
                    .last_error
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect();
                println!(
                    "{:<36} {:<26} {:<9} {:>8} {:<22} {error}",
                    j.public_id,
                    j.kind,
                    j.status,
                    format!("{}/{}", j.attempts, j.max_attempts),
                    crate::api::ts(j.run_at),
                );
            }
        }
        JobsCommand::Show { id } => {
            let job = state
                .store
                .get_job_by_public_id(id)
                .await
                .map_err(|e| anyhow::anyhow!("no such job {id}: {e}"))?;
            println!("{}", serde_json::to_string_pretty(&JobView::from(&job))?);
        }
        JobsCommand::Retry { id } => return change(state, id, true).await,
        JobsCommand::Discard { id } => return change(state, id, false).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn change(state: &crate::app::AppState, id: Uuid, retry: bool) -> anyhow::Result<ExitCode> {
    let now = state.clock.now();
    let changed = if retry {
        state.store.retry_job(id, now).await?
    } else {
        state.store.discard_job(id, now).await?
    };
    let Some(job) = changed else {
        let current = state
            .store
            .get_job_by_public_id(id)
            .await
            .map_err(|e| anyhow::anyhow!("no such job {id}: {e}"))?;
        let what = if retry {
            "only failed, dead or discarded jobs can be retried"
        } else {
            "succeeded or discarded jobs cannot be discarded"
        };
        eprintln!("job {id} is {}; {what}", current.status);
        return Ok(ExitCode::FAILURE);
    };
    let view = JobView::from(&job);
    let action = if retry { "job.retry" } else { "job.discard" };
    let mut ev = AuditEvent::new(now, Actor::System, action, Outcome::Success)
        .resource(format!("job {id}"))
        .details(json!({"job_id": id, "kind": job.kind, "via": "operator_command"}));
    ev.deploy_approval_request_id = view.deploy_approval_request_id;
    state
        .auditor
        .record_and_wait(ev)
        .await
        .context("the job changed but its audit event was not stored")?;
    println!(
        "{} {} ({})",
        if retry { "queued" } else { "discarded" },
        id,
        job.kind
    );
    Ok(ExitCode::SUCCESS)
}
