//! CircleCI: when a request is approved and the app has `ci_provider=circleci` with
//! `circleci_auto_approve_on_approval=true`, approve the approval job named
//! `circleci_approval_job_name` in the workflow `ci_metadata.workflow_id` — or in the newest
//! rerun of that workflow (same name, same pipeline) — through the CircleCI v2 API.
//!
//! Idempotent: the approval is recorded (`integration_refs`) before it is sent, so a retry after
//! a crash that finds the job already approved knows the approval was its own and succeeds;
//! a job approved by someone else, a missing job, a job that is not an approval job and a
//! cancelled workflow are permanent failures, shown on the request's trail.

use futures_util::future::BoxFuture;
use reqwest::Method;
use rgw_store::Job;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::http::{Reply, send};
use super::{Integration, JobError, Planned, Subject, Transition, setting};
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::error::ApiError;

/// Job kind.
pub const APPROVE: &str = "circleci.approve";
/// Pages of jobs or workflows read at most.
const MAX_PAGES: usize = 10;

/// The CircleCI integration.
#[derive(Debug, Clone, Copy)]
pub struct CircleCi;

/// The approval job name when auto-approval is on for `app`.
async fn approval_job(state: &AppState, app: &str) -> Result<Option<String>, JobError> {
    let app = Some(app);
    if setting(state, "ci_provider", app).await?.as_text() != Some("circleci")
        || setting(state, "circleci_auto_approve_on_approval", app)
            .await?
            .as_bool()
            != Some(true)
    {
        return Ok(None);
    }
    Ok(setting(state, "circleci_approval_job_name", app)
        .await?
        .as_text()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned))
}

/// A CircleCI workflow id from CI metadata (a UUID; anything else never reaches a URL).
fn workflow_id(meta: &Value) -> Result<uuid::Uuid, String> {
    let raw = meta["workflow_id"].as_str().unwrap_or_default();
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| {
        "ci_metadata.workflow_id must be the CircleCI workflow id (a UUID, $CIRCLE_WORKFLOW_ID)"
            .to_owned()
    })
}

/// Refuses a request that could never be auto-approved: the workflow id is missing or bad, or
/// `pipeline_number` is neither a number nor a string of digits.
pub async fn precheck(
    state: &AppState,
    req: &rgw_core::wire::CreateDeployApprovalRequest,
) -> Result<(), ApiError> {
    let enabled = approval_job(state, req.app.as_str())
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    if enabled.is_none() {
        return Ok(());
    }
    let meta = Value::Object(req.ci_metadata.clone());
    let bad = |why: String| {
        ApiError::unprocessable(
            "invalid_ci_metadata",
            format!(
                "app {} approves its CircleCI approval job automatically, so {why}",
                req.app
            ),
        )
    };
    workflow_id(&meta).map_err(bad)?;
    if !meta["pipeline_number"].is_null() && super::message::pipeline_number(&meta).is_none() {
        return Err(bad(
            "ci_metadata.pipeline_number must be a number or a string of digits".into(),
        ));
    }
    Ok(())
}

struct Api<'a> {
    state: &'a AppState,
    token: &'a secrecy::SecretString,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, what: &str) -> Result<Reply, JobError> {
        let url = self
            .state
            .config
            .integrations
            .circleci_api_url
            .join(path)
            .map_err(|e| JobError::permanent(format!("{what}: bad URL: {e}")))?;
        let req = self
            .state
            .jobs
            .http
            .request(method, url)
            .header("Circle-Token", self.token.expose_secret())
            .header("Accept", "application/json");
        send(req, what).await
    }

    async fn get(&self, path: &str, what: &str) -> Result<Value, JobError> {
        let reply = self.call(Method::GET, path, what).await?;
        if !reply.status.is_success() {
            return Err(reply.error(what));
        }
        Ok(reply.json())
    }

    /// Every item of a paged listing.
    async fn items(&self, path: &str, what: &str) -> Result<Vec<Value>, JobError> {
        let mut items = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let p = match &page {
                Some(t) => format!(
                    "{path}?page-token={}",
                    url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
                ),
                None => path.to_owned(),
            };
            let body = self.get(&p, what).await?;
            items.extend(body["items"].as_array().cloned().unwrap_or_default());
            page = body["next_page_token"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if page.is_none() {
                break;
            }
        }
        Ok(items)
    }
}

/// The newest workflow of the pipeline with the original's name (reruns keep the name).
fn newest_rerun<'a>(original: &'a Value, siblings: &'a [Value]) -> &'a Value {
    let name = original["name"].as_str();
    siblings
        .iter()
        .filter(|w| w["name"].as_str() == name && w["id"].is_string())
        // RFC 3339 times in one format compare as text.
        .max_by(|a, b| {
            a["created_at"]
                .as_str()
                .unwrap_or("")
                .cmp(b["created_at"].as_str().unwrap_or(""))
        })
        .unwrap_or(original)
}

/// Whether `slug` (`gh/acme/myapp`, `github/acme/myapp`, `bb/…`) names repository `repo`
/// (`acme/myapp`). Slugs of CircleCI's own VCS-less projects (`circleci/<org>/<project>`) name
/// no repository: `None`, nothing to compare.
fn slug_names_repo(slug: &str, repo: &str) -> Option<bool> {
    let (vcs, path) = slug.split_once('/')?;
    matches!(vcs, "gh" | "github" | "bb" | "bitbucket").then(|| path.eq_ignore_ascii_case(repo))
}

/// The workflow's pipeline must have been built from the approved commit of the app's
/// repository. Otherwise a caller who names any workflow the gateway's CircleCI token can see
/// (`ci_metadata.workflow_id` is the caller's word) would have an admin's approval of one
/// commit release the hold of another commit's pipeline, or another project's.
async fn check_pipeline(
    api: &Api<'_>,
    subject: &Subject,
    pipeline: uuid::Uuid,
) -> Result<(), JobError> {
    let p = api
        .get(&format!("pipeline/{pipeline}"), "CircleCI pipeline")
        .await?;
    let revision = p["vcs"]["revision"].as_str().unwrap_or_default();
    if !revision.eq_ignore_ascii_case(&subject.row.git_commit_hash) {
        return Err(JobError::permanent(format!(
            "CircleCI pipeline {pipeline} built commit {}, not the approved {}; its hold is left alone",
            if revision.is_empty() {
                "(none)"
            } else {
                rgw_core::text::clip(revision, 64)
            },
            subject.row.git_commit_hash
        )));
    }
    let repo = setting(api.state, "vcs_repo", Some(&subject.row.app)).await?;
    let slug = p["project_slug"].as_str().unwrap_or_default();
    if let Some(repo) = repo.as_text().map(str::trim).filter(|r| !r.is_empty())
        && slug_names_repo(slug, repo) == Some(false)
    {
        return Err(JobError::permanent(format!(
            "CircleCI pipeline {pipeline} belongs to project {}, not the app's repository {repo}; its hold is left alone",
            rgw_core::text::clip(slug, 200)
        )));
    }
    Ok(())
}

async fn approve(state: &AppState, subject: &Subject) -> Result<(), JobError> {
    let Some(job_name) = approval_job(state, &subject.row.app).await? else {
        // Turned off since the approval: nothing to do.
        return Ok(());
    };
    // The job may run long after the approval (retries back off up to 30 min while the hold
    // is not reached): a revoked or expired approval must not unblock CI.
    if subject.row.status != rgw_store::ApprovalStatus::Approved {
        return Err(JobError::permanent(format!(
            "deploy approval {} is {} now, so its CircleCI hold is left alone",
            subject.row.public_id,
            subject.row.status.as_str()
        )));
    }
    let token = state
        .config
        .integrations
        .circleci_token
        .as_ref()
        .ok_or_else(|| {
            JobError::permanent(
                "RGW_CIRCLECI_TOKEN is not set, so the CircleCI approval job cannot be approved",
            )
        })?;
    let api = Api { state, token };
    let original_id = workflow_id(&subject.row.ci_metadata.0).map_err(JobError::Permanent)?;
    let original = match api
        .call(
            Method::GET,
            &format!("workflow/{original_id}"),
            "CircleCI workflow",
        )
        .await?
    {
        r if r.status.is_success() => r.json(),
        r if r.status == reqwest::StatusCode::NOT_FOUND => {
            return Err(JobError::permanent(format!(
                "CircleCI workflow {original_id} not found ({})",
                r.message()
            )));
        }
        r => return Err(r.error("CircleCI workflow")),
    };
    let pipeline = original["pipeline_id"]
        .as_str()
        .and_then(|p| uuid::Uuid::parse_str(p).ok())
        .ok_or_else(|| {
            JobError::permanent(format!(
                "CircleCI workflow {original_id} has no pipeline, so its commit cannot be checked"
            ))
        })?;
    check_pipeline(&api, subject, pipeline).await?;
    let siblings = api
        .items(
            &format!("pipeline/{pipeline}/workflow"),
            "CircleCI pipeline workflows",
        )
        .await?;
    let workflow = newest_rerun(&original, &siblings);
    let wid = workflow["id"]
        .as_str()
        .and_then(|w| uuid::Uuid::parse_str(w).ok())
        .ok_or_else(|| JobError::permanent("CircleCI returned a workflow without an id"))?;
    if workflow["status"].as_str() == Some("canceled") {
        return Err(JobError::permanent(format!(
            "CircleCI workflow {wid} was cancelled; nothing to approve"
        )));
    }
    let jobs = api
        .items(&format!("workflow/{wid}/job"), "CircleCI workflow jobs")
        .await?;
    let job = jobs
        .iter()
        .find(|j| j["name"].as_str() == Some(job_name.as_str()))
        .ok_or_else(|| {
            JobError::permanent(format!(
                "CircleCI approval job {job_name:?} not found in workflow {wid}"
            ))
        })?;
    if job["type"].as_str() != Some("approval") {
        return Err(JobError::permanent(format!(
            "CircleCI job {job_name:?} in workflow {wid} is not an approval job"
        )));
    }
    let approval = job["approval_request_id"]
        .as_str()
        .or(job["id"].as_str())
        .and_then(|a| uuid::Uuid::parse_str(a).ok())
        .ok_or_else(|| JobError::permanent("CircleCI returned an approval job without an id"))?;
    let sent_ref = format!("circleci.approve:{wid}:{approval}");
    let ours = state
        .store
        .get_integration_ref(subject.row.id, &sent_ref)
        .await?
        .is_some();
    match job["status"].as_str().unwrap_or_default() {
        "on_hold" => {}
        "success" if ours => return Ok(()),
        "success" => {
            return Err(JobError::permanent(format!(
                "CircleCI approval job {job_name:?} in workflow {wid} was already approved by someone else"
            )));
        }
        "blocked" => {
            return Err(JobError::retry(format!(
                "CircleCI approval job {job_name:?} is not reached yet (blocked)"
            )));
        }
        other => {
            return Err(JobError::permanent(format!(
                "CircleCI approval job {job_name:?} is {other}, not on hold"
            )));
        }
    }
    let now = state.clock.now();
    state
        .store
        .put_integration_ref_once(
            subject.row.id,
            &sent_ref,
            &rgw_core::wire::rfc3339(now),
            now,
        )
        .await?;
    let reply = api
        .call(
            Method::POST,
            &format!("workflow/{wid}/approve/{approval}"),
            "CircleCI approve",
        )
        .await?;
    if !reply.status.is_success() {
        if reply
            .message()
            .to_ascii_lowercase()
            .contains("invalid approval job state")
        {
            return Err(JobError::permanent(format!(
                "CircleCI refused the approval of {job_name:?}: {}",
                reply.message()
            )));
        }
        return Err(reply.error("CircleCI approve"));
    }
    let mut ev = AuditEvent::new(now, Actor::System, "integration.circleci.approve", Outcome::Success)
        .resource(format!("circleci workflow {wid} job {job_name}"))
        .app(subject.row.app.clone())
        .details(json!({"workflow_id": wid, "original_workflow_id": original_id, "approval_request_id": approval, "job_name": job_name}));
    ev.deploy_approval_request_id = Some(subject.row.public_id);
    state.auditor.record(ev).await;
    Ok(())
}

impl Integration for CircleCi {
    fn handles(&self, kind: &str) -> bool {
        kind == APPROVE
    }

    fn plan<'a>(
        &'a self,
        state: &'a AppState,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<Vec<Planned>, JobError>> {
        Box::pin(async move {
            if event != Transition::Approved
                || approval_job(state, &subject.row.app).await?.is_none()
            {
                return Ok(Vec::new());
            }
            Ok(vec![Planned::new(APPROVE, subject, event, "", json!({}))])
        })
    }

    fn run<'a>(
        &'a self,
        state: &'a AppState,
        _job: &'a Job,
        subject: &'a Subject,
        _event: Transition,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(approve(state, subject))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_project_slug_names_a_repository_only_for_a_vcs_host() {
        for (slug, repo, want) in [
            ("gh/acme/myapp", "acme/myapp", Some(true)),
            ("github/Acme/MyApp", "acme/myapp", Some(true)),
            ("bb/acme/myapp", "acme/other", Some(false)),
            ("gh/evil/myapp", "acme/myapp", Some(false)),
            ("circleci/8f1e/77ab", "acme/myapp", None),
            ("", "acme/myapp", None),
        ] {
            assert_eq!(super::slug_names_repo(slug, repo), want, "{slug}");
        }
    }
}
