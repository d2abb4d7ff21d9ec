//! CircleCI API v2: workflows (with reruns by name in one pipeline), their jobs and approvals.
//! Auth is the `Circle-Token` header; errors are `{"message": "..."}` as CircleCI sends them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Journal, message, serve};

/// A job of a workflow.
#[derive(Debug, Clone)]
pub struct CiJob {
    pub id: Uuid,
    pub name: String,
    /// `approval` or `build`.
    pub kind: String,
    /// `on_hold`, `blocked`, `success`, `running`, ...
    pub status: String,
}

#[derive(Debug, Clone)]
struct Workflow {
    id: Uuid,
    name: String,
    pipeline_id: Uuid,
    status: String,
    created_at: String,
    jobs: Vec<CiJob>,
}

#[derive(Debug, Default)]
struct Ci {
    token: String,
    workflows: HashMap<Uuid, Workflow>,
    /// Each pipeline's commit (`vcs.revision`); unset is a pipeline without one.
    commits: HashMap<Uuid, String>,
    seq: u32,
}

/// A running mock CircleCI.
#[derive(Clone)]
pub struct MockCircleCi {
    /// Base URL of the API (`RGW_CIRCLECI_API_URL`), e.g. `http://127.0.0.1:PORT/api/v2`.
    pub api_url: String,
    /// Requests and faults.
    pub journal: Arc<Journal>,
    state: Arc<Mutex<Ci>>,
}

type Shared = Arc<Mutex<Ci>>;

fn authorized(ci: &Ci, headers: &HeaderMap) -> bool {
    headers.get("circle-token").and_then(|v| v.to_str().ok()) == Some(ci.token.as_str())
}

fn unauthorized() -> Response {
    message(StatusCode::UNAUTHORIZED, "You must log in first.")
}

async fn workflow(State(s): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let ci = s.lock().unwrap_or_else(PoisonError::into_inner);
    if !authorized(&ci, &headers) {
        return unauthorized();
    }
    match Uuid::parse_str(&id)
        .ok()
        .and_then(|id| ci.workflows.get(&id))
    {
        Some(w) => axum::Json(json!({
            "id": w.id, "name": w.name, "pipeline_id": w.pipeline_id, "status": w.status,
            "created_at": w.created_at, "pipeline_number": 42, "project_slug": "gh/acme/myapp",
        }))
        .into_response(),
        None => message(StatusCode::NOT_FOUND, "Workflow not found"),
    }
}

async fn pipeline(State(s): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let ci = s.lock().unwrap_or_else(PoisonError::into_inner);
    if !authorized(&ci, &headers) {
        return unauthorized();
    }
    let Some(id) = Uuid::parse_str(&id)
        .ok()
        .filter(|id| ci.workflows.values().any(|w| w.pipeline_id == *id))
    else {
        return message(StatusCode::NOT_FOUND, "Pipeline not found");
    };
    let vcs = match ci.commits.get(&id) {
        Some(c) => json!({"revision": c, "branch": "main", "provider_name": "GitHub"}),
        None => json!({}),
    };
    axum::Json(json!({
        "id": id, "number": 42, "project_slug": "gh/acme/myapp", "state": "created", "vcs": vcs,
    }))
    .into_response()
}

async fn pipeline_workflows(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ci = s.lock().unwrap_or_else(PoisonError::into_inner);
    if !authorized(&ci, &headers) {
        return unauthorized();
    }
    let pid = Uuid::parse_str(&id).ok();
    let mut items: Vec<&Workflow> = ci
        .workflows
        .values()
        .filter(|w| Some(w.pipeline_id) == pid)
        .collect();
    items.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let items: Vec<Value> = items
        .iter()
        .map(|w| json!({"id": w.id, "name": w.name, "pipeline_id": w.pipeline_id, "status": w.status, "created_at": w.created_at}))
        .collect();
    axum::Json(json!({"items": items, "next_page_token": null})).into_response()
}

async fn workflow_jobs(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ci = s.lock().unwrap_or_else(PoisonError::into_inner);
    if !authorized(&ci, &headers) {
        return unauthorized();
    }
    let Some(w) = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| ci.workflows.get(&id))
    else {
        return message(StatusCode::NOT_FOUND, "Workflow not found");
    };
    let items: Vec<Value> = w
        .jobs
        .iter()
        .map(|j| {
            let mut v = json!({"id": j.id, "name": j.name, "type": j.kind, "status": j.status, "dependencies": []});
            if j.kind == "approval" {
                v["approval_request_id"] = json!(j.id);
            } else {
                v["job_number"] = json!(7);
            }
            v
        })
        .collect();
    axum::Json(json!({"items": items, "next_page_token": null})).into_response()
}

async fn approve(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((wid, aid)): Path<(String, String)>,
) -> Response {
    let mut ci = s.lock().unwrap_or_else(PoisonError::into_inner);
    if !authorized(&ci, &headers) {
        return unauthorized();
    }
    let Some(w) = Uuid::parse_str(&wid)
        .ok()
        .and_then(|id| ci.workflows.get_mut(&id))
    else {
        return message(StatusCode::NOT_FOUND, "Workflow not found");
    };
    let Some(job) = Uuid::parse_str(&aid).ok().and_then(|a| {
        w.jobs
            .iter_mut()
            .find(|j| j.id == a && j.kind == "approval")
    }) else {
        return message(StatusCode::NOT_FOUND, "Approval job not found");
    };
    if job.status != "on_hold" {
        return message(StatusCode::BAD_REQUEST, "Invalid approval job state");
    }
    job.status = "success".into();
    w.status = "running".into();
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"message": "Accepted."})),
    )
        .into_response()
}

impl MockCircleCi {
    /// Starts a mock that accepts `token`.
    pub async fn start(token: &str) -> MockCircleCi {
        let state: Shared = Arc::new(Mutex::new(Ci {
            token: token.to_owned(),
            ..Ci::default()
        }));
        let journal = Arc::new(Journal::default());
        let api = Router::new()
            .route("/workflow/{id}", get(workflow))
            .route("/workflow/{id}/job", get(workflow_jobs))
            .route("/workflow/{id}/approve/{approval}", post(approve))
            .route("/pipeline/{id}", get(pipeline))
            .route("/pipeline/{id}/workflow", get(pipeline_workflows))
            .with_state(state.clone());
        let url = serve(Router::new().nest("/api/v2", api), journal.clone()).await;
        MockCircleCi {
            api_url: format!("{url}/api/v2"),
            journal,
            state,
        }
    }

    /// Adds a workflow `name` (status `on_hold`) in a new pipeline with the given jobs; returns
    /// its id. Each job is `(name, type, status)`.
    pub fn add_workflow(&self, name: &str, jobs: &[(&str, &str, &str)]) -> Uuid {
        self.add(name, Uuid::new_v4(), jobs)
    }

    /// Reruns workflow `id`: a new workflow with the same name in the same pipeline, created
    /// later, with fresh job ids. The original becomes `failed`.
    pub fn rerun(&self, id: Uuid, jobs: &[(&str, &str, &str)]) -> Uuid {
        let (name, pipeline) = {
            let mut ci = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let w = ci.workflows.get_mut(&id).expect("workflow to rerun");
            w.status = "failed".into();
            (w.name.clone(), w.pipeline_id)
        };
        self.add(&name, pipeline, jobs)
    }

    fn add(&self, name: &str, pipeline_id: Uuid, jobs: &[(&str, &str, &str)]) -> Uuid {
        let mut ci = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        ci.seq += 1;
        let id = Uuid::new_v4();
        let w = Workflow {
            id,
            name: name.to_owned(),
            pipeline_id,
            status: "on_hold".into(),
            created_at: format!("2026-01-01T00:00:{:02}Z", ci.seq),
            jobs: jobs
                .iter()
                .map(|(n, k, s)| CiJob {
                    id: Uuid::new_v4(),
                    name: (*n).into(),
                    kind: (*k).into(),
                    status: (*s).into(),
                })
                .collect(),
        };
        ci.workflows.insert(id, w);
        id
    }

    /// Sets the commit the workflow's pipeline built (reruns share it).
    pub fn set_commit(&self, workflow: Uuid, commit: &str) {
        let mut ci = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let pipeline = ci.workflows.get(&workflow).expect("workflow").pipeline_id;
        ci.commits.insert(pipeline, commit.to_owned());
    }

    /// Sets a workflow's status (e.g. `canceled`).
    pub fn set_workflow_status(&self, id: Uuid, status: &str) {
        let mut ci = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        ci.workflows.get_mut(&id).expect("workflow").status = status.into();
    }

    /// Sets the status of job `name` in a workflow (e.g. a `blocked` hold becomes `on_hold`).
    pub fn set_job_status(&self, workflow: Uuid, name: &str, status: &str) {
        let mut ci = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let w = ci.workflows.get_mut(&workflow).expect("workflow");
        for j in w.jobs.iter_mut().filter(|j| j.name == name) {
            j.status = status.into();
        }
    }

    /// The jobs of a workflow now.
    pub fn jobs(&self, id: Uuid) -> Vec<CiJob> {
        let ci = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        ci.workflows
            .get(&id)
            .map(|w| w.jobs.clone())
            .unwrap_or_default()
    }

    /// How many approve calls arrived.
    pub fn approve_calls(&self) -> usize {
        self.journal.matching("/approve/").len()
    }
}
