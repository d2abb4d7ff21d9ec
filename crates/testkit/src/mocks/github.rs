//! GitHub REST (the parts the gateway uses), served under `/api/v3` like GitHub Enterprise:
//! repository, branches, compare, pull requests, commit statuses and issue comments. Requests
//! need `Authorization: Bearer <token>` and a `User-Agent` (GitHub refuses requests without
//! one); errors are `{"message": ..., "documentation_url": ...}`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use super::{Journal, serve};

/// A commit status the gateway set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: String,
    pub target_url: String,
}

#[derive(Debug, Default)]
struct Repo {
    default_branch: String,
    /// branch → commits in its history, oldest first (the last is the head).
    branches: HashMap<String, Vec<String>>,
    /// (number, head branch).
    open_prs: Vec<(u64, String)>,
    /// id → (issue number, body).
    comments: BTreeMap<u64, (u64, String)>,
    statuses: Vec<CommitStatus>,
}

#[derive(Debug, Default)]
struct Gh {
    token: String,
    owner: String,
    name: String,
    base: String,
    repo: Repo,
    next_comment: u64,
}

type Shared = Arc<Mutex<Gh>>;

/// A running mock GitHub with one repository.
#[derive(Clone)]
pub struct MockGitHub {
    /// `RGW_GITHUB_API_URL`: `http://127.0.0.1:PORT/api/v3`.
    pub api_url: String,
    /// Requests and faults.
    pub journal: Arc<Journal>,
    state: Shared,
}

fn error(status: StatusCode, m: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": m, "documentation_url": "https://docs.github.com/rest"})),
    )
        .into_response()
}

/// Checks auth and the repository; `Err` is the response GitHub would give.
#[expect(
    clippy::result_large_err,
    reason = "a test mock; the error is the response itself"
)]
fn check<'a>(
    gh: &'a mut Gh,
    headers: &HeaderMap,
    owner: &str,
    name: &str,
) -> Result<&'a mut Repo, Response> {
    if headers.get("user-agent").is_none() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        ));
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {}", gh.token) {
        return Err(error(StatusCode::UNAUTHORIZED, "Bad credentials"));
    }
    if owner != gh.owner || name != gh.name {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    Ok(&mut gh.repo)
}

async fn repo(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n)): Path<(String, String)>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    match check(&mut gh, &h, &o, &n) {
        Ok(r) => {
            axum::Json(json!({"full_name": format!("{o}/{n}"), "default_branch": r.default_branch}))
                .into_response()
        }
        Err(e) => e,
    }
}

async fn branch(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n, b)): Path<(String, String, String)>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match r.branches.get(&b).and_then(|c| c.last()) {
        Some(head) => axum::Json(json!({"name": b, "commit": {"sha": head}})).into_response(),
        None => error(StatusCode::NOT_FOUND, "Branch not found"),
    }
}

async fn compare(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n, spec)): Path<(String, String, String)>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some((base, head)) = spec.split_once("...") else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let Some(history) = r.branches.get(head) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let known: HashSet<&String> = r.branches.values().flatten().collect();
    if !known.contains(&base.to_owned()) {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let status = match history.iter().position(|c| c == base) {
        Some(i) if i + 1 == history.len() => "identical",
        Some(_) => "ahead",
        None => "diverged",
    };
    axum::Json(json!({"status": status, "ahead_by": 1, "behind_by": 0})).into_response()
}

async fn pulls(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    let base = gh.base.clone();
    let owner = gh.owner.clone();
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let head = q.get("head").cloned().unwrap_or_default();
    let items: Vec<Value> = r
        .open_prs
        .iter()
        .filter(|(_, b)| head.is_empty() || format!("{owner}:{b}") == head)
        .map(|(num, b)| json!({"number": num, "state": "open", "html_url": format!("{base}/{o}/{n}/pull/{num}"), "head": {"ref": b}}))
        .collect();
    axum::Json(Value::Array(items)).into_response()
}

async fn status(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n, sha)): Path<(String, String, String)>,
    axum::Json(b): axum::Json<Value>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let st = b["state"].as_str().unwrap_or_default().to_owned();
    if !["error", "failure", "pending", "success"].contains(&st.as_str())
        || b["description"]
            .as_str()
            .is_some_and(|d| d.chars().count() > 140)
    {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    }
    r.statuses.push(CommitStatus {
        sha: sha.clone(),
        state: st.clone(),
        context: b["context"].as_str().unwrap_or("default").into(),
        description: b["description"].as_str().unwrap_or_default().into(),
        target_url: b["target_url"].as_str().unwrap_or_default().into(),
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({"state": st, "context": b["context"]})),
    )
        .into_response()
}

async fn list_comments(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n, issue)): Path<(String, String, u64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let per: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let items: Vec<Value> = r
        .comments
        .iter()
        .filter(|(_, (i, _))| *i == issue)
        .skip(per * (page.max(1) - 1))
        .take(per)
        .map(|(id, (_, body))| json!({"id": id, "body": body}))
        .collect();
    axum::Json(Value::Array(items)).into_response()
}

async fn post_comment(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n, issue)): Path<(String, String, u64)>,
    axum::Json(b): axum::Json<Value>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    gh.next_comment += 1;
    let id = 1000 + gh.next_comment;
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if !r.open_prs.iter().any(|(num, _)| *num == issue) {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let body = b["body"].as_str().unwrap_or_default().to_owned();
    r.comments.insert(id, (issue, body.clone()));
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "body": body})),
    )
        .into_response()
}

async fn edit_comment(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n, id)): Path<(String, String, u64)>,
    axum::Json(b): axum::Json<Value>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match r.comments.get_mut(&id) {
        Some(c) => {
            c.1 = b["body"].as_str().unwrap_or_default().to_owned();
            axum::Json(json!({"id": id, "body": c.1})).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn delete_comment(
    State(s): State<Shared>,
    h: HeaderMap,
    Path((o, n, id)): Path<(String, String, u64)>,
) -> Response {
    let mut gh = s.lock().unwrap_or_else(PoisonError::into_inner);
    let r = match check(&mut gh, &h, &o, &n) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match r.comments.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

impl MockGitHub {
    /// Starts a mock for repository `owner/name` (default branch `main`) accepting `token`.
    pub async fn start(token: &str, owner: &str, name: &str) -> MockGitHub {
        let state: Shared = Arc::new(Mutex::new(Gh {
            token: token.to_owned(),
            owner: owner.to_owned(),
            name: name.to_owned(),
            repo: Repo {
                default_branch: "main".into(),
                ..Repo::default()
            },
            ..Gh::default()
        }));
        let journal = Arc::new(Journal::default());
        let api = Router::new()
            .route("/repos/{o}/{n}", get(repo))
            .route("/repos/{o}/{n}/branches/{*b}", get(branch))
            .route("/repos/{o}/{n}/compare/{*spec}", get(compare))
            .route("/repos/{o}/{n}/pulls", get(pulls))
            .route("/repos/{o}/{n}/statuses/{sha}", post(status))
            .route(
                "/repos/{o}/{n}/issues/{i}/comments",
                get(list_comments).post(post_comment),
            )
            .route(
                "/repos/{o}/{n}/issues/comments/{id}",
                patch(edit_comment).delete(delete_comment),
            )
            .with_state(state.clone());
        let url = serve(Router::new().nest("/api/v3", api), journal.clone()).await;
        state.lock().unwrap_or_else(PoisonError::into_inner).base = url.clone();
        MockGitHub {
            api_url: format!("{url}/api/v3"),
            journal,
            state,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Repo) -> T) -> T {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .repo)
    }

    /// Sets branch `name`'s history (oldest first; the last commit is the head).
    pub fn set_branch(&self, name: &str, history: &[&str]) {
        self.with(|r| {
            r.branches.insert(
                name.to_owned(),
                history.iter().map(|c| (*c).to_owned()).collect(),
            )
        });
    }

    /// Opens PR `number` for branch `head`; returns its html URL.
    pub fn open_pr(&self, number: u64, head: &str) -> String {
        self.with(|r| r.open_prs.push((number, head.to_owned())));
        let gh = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        format!("{}/{}/{}/pull/{number}", gh.base, gh.owner, gh.name)
    }

    /// The comments on issue/PR `number`: `(id, body)`.
    pub fn comments(&self, number: u64) -> Vec<(u64, String)> {
        self.with(|r| {
            r.comments
                .iter()
                .filter(|(_, (i, _))| *i == number)
                .map(|(id, (_, b))| (*id, b.clone()))
                .collect()
        })
    }

    /// Deletes a comment as a user would.
    pub fn delete_comment(&self, id: u64) {
        self.with(|r| r.comments.remove(&id));
    }

    /// Every commit status set, in order.
    pub fn statuses(&self) -> Vec<CommitStatus> {
        self.with(|r| r.statuses.clone())
    }
}
