//! GitHub: on every state change of a request for an app with `vcs_provider=github`, set the
//! commit status `rack-gateway/deploy-approval` (linked to the approval page) and, with
//! `github_post_pr_comment`, keep one PR comment up to date, edited in place.
//!
//! The comment's id is recorded in `integration_refs` (first writer wins); a comment posted by
//! a worker that died before recording it is found again by its hidden marker, and a duplicate
//! from two workers racing is deleted. Each job renders the request as it is when the job runs
//! and re-renders if it changed meanwhile, so the last job leaves the current state.

use futures_util::future::BoxFuture;
use reqwest::{Method, StatusCode};
use rgw_store::Job;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::http::{Reply, send};
use super::message::{Summary, comment_marker, commit_status, pr_comment};
use super::{Integration, JobError, Planned, Subject, Transition, setting};
use crate::app::AppState;

/// Job kind: commit status and PR comment.
pub const SYNC: &str = "github.sync";
/// The commit status context.
pub const STATUS_CONTEXT: &str = "rack-gateway/deploy-approval";
const COMMENT_REF: &str = "github.pr_comment";
const MAX_COMMENT_PAGES: u32 = 10;

/// An `owner/name` repository whose parts are safe in a URL path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    /// Parses `owner/name` (letters, digits, `-`, `_`, `.`; not `.` or `..`).
    pub fn parse(s: &str) -> Option<Repo> {
        let (owner, name) = s.trim().split_once('/')?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 100
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (ok(owner) && ok(name)).then(|| Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `owner/name`.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// The GitHub REST API with the configured token.
pub struct Api<'a> {
    pub state: &'a AppState,
    pub token: &'a SecretString,
    pub repo: Repo,
}

impl<'a> Api<'a> {
    /// The API for `app`'s repository: `None` unless `vcs_provider=github`.
    ///
    /// # Errors
    /// `Err(message)` when GitHub is selected but the gateway cannot use it (no token, bad
    /// `vcs_repo`), naming what to fix.
    pub async fn for_app(
        state: &'a AppState,
        app: &str,
    ) -> Result<Option<Api<'a>>, Result<String, JobError>> {
        let app_ref = Some(app);
        let provider = setting(state, "vcs_provider", app_ref).await.map_err(Err)?;
        if provider.as_text() != Some("github") {
            return Ok(None);
        }
        let repo_raw = setting(state, "vcs_repo", app_ref).await.map_err(Err)?;
        let repo = repo_raw.as_text().and_then(Repo::parse).ok_or_else(|| {
            Ok(format!(
                "app {app} has vcs_provider=github but vcs_repo is not owner/name"
            ))
        })?;
        let token = state
            .config
            .integrations
            .github_token
            .as_ref()
            .ok_or_else(|| {
                Ok(format!(
                    "app {app} has vcs_provider=github but RGW_GITHUB_TOKEN is not set"
                ))
            })?;
        Ok(Some(Api { state, token, repo }))
    }

    /// Calls `path` below `repos/{owner}/{name}/` (`path` is already URL-safe).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Reply, JobError> {
        let full = match path {
            "" => format!("repos/{}/{}", self.repo.owner, self.repo.name),
            p => format!("repos/{}/{}/{p}", self.repo.owner, self.repo.name),
        };
        let url = self
            .state
            .config
            .integrations
            .github_api_url
            .join(&full)
            .map_err(|e| JobError::permanent(format!("{what}: bad URL: {e}")))?;
        let mut req = self
            .state
            .jobs
            .http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(b) = body {
            req = req.json(&b);
        }
        send(req, what).await
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, JobError> {
        let reply = self.call(method, path, body, what).await?;
        if !reply.status.is_success() {
            return Err(reply.error(what));
        }
        Ok(reply.json())
    }
}

/// The PR number at the end of a `…/pull/N` URL.
pub fn pr_number(pr_url: &str) -> Option<u64> {
    let (_, n) = pr_url.trim_end_matches('/').rsplit_once("/pull/")?;
    n.parse().ok()
}

/// Makes the PR comment say `body`: edits the recorded comment, adopts one found by its marker,
/// or posts one, so there is exactly one.
async fn upsert_comment(
    api: &Api<'_>,
    subject: &Subject,
    pr: u64,
    marker: &str,
    body: &str,
) -> Result<(), JobError> {
    let store = &api.state.store;
    let rid = subject.row.id;
    let edit = |id: String| async move {
        api.call(
            Method::PATCH,
            &format!("issues/comments/{id}"),
            Some(json!({"body": body})),
            "GitHub edit PR comment",
        )
        .await
    };
    if let Some(id) = store.get_integration_ref(rid, COMMENT_REF).await? {
        let reply = edit(id.clone()).await?;
        if reply.status.is_success() {
            return Ok(());
        }
        if reply.status != StatusCode::NOT_FOUND {
            return Err(reply.error("GitHub edit PR comment"));
        }
        // Someone deleted the comment: post a new one and record it instead.
        let new = post_comment(api, pr, body).await?;
        let now = api.state.clock.now();
        if !store
            .replace_integration_ref(rid, COMMENT_REF, &id, &new, now)
            .await?
        {
            delete_comment(api, &new).await?;
            return Err(JobError::retry(
                "the PR comment changed meanwhile; editing again",
            ));
        }
        return Ok(());
    }
    let id = match find_comment(api, pr, marker).await? {
        Some(found) => found,
        None => post_comment(api, pr, body).await?,
    };
    let now = api.state.clock.now();
    let winner = store
        .put_integration_ref_once(rid, COMMENT_REF, &id, now)
        .await?;
    if winner != id {
        // Another worker posted first: keep one comment.
        delete_comment(api, &id).await?;
    }
    let reply = edit(winner).await?;
    if !reply.status.is_success() {
        return Err(reply.error("GitHub edit PR comment"));
    }
    Ok(())
}

async fn find_comment(api: &Api<'_>, pr: u64, marker: &str) -> Result<Option<String>, JobError> {
    for page in 1..=MAX_COMMENT_PAGES {
        let list = api
            .expect(
                Method::GET,
                &format!("issues/{pr}/comments?per_page=100&page={page}"),
                None,
                "GitHub list PR comments",
            )
            .await?;
        let items = list.as_array().cloned().unwrap_or_default();
        if let Some(c) = items
            .iter()
            .find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)))
        {
            return Ok(c["id"].as_u64().map(|i| i.to_string()));
        }
        if items.len() < 100 {
            break;
        }
    }
    Ok(None)
}

async fn post_comment(api: &Api<'_>, pr: u64, body: &str) -> Result<String, JobError> {
    let created = api
        .expect(
            Method::POST,
            &format!("issues/{pr}/comments"),
            Some(json!({"body": body})),
            "GitHub post PR comment",
        )
        .await?;
    created["id"]
        .as_u64()
        .map(|i| i.to_string())
        .ok_or_else(|| JobError::retry("GitHub returned a comment without an id"))
}

async fn delete_comment(api: &Api<'_>, id: &str) -> Result<(), JobError> {
    let reply = api
        .call(
            Method::DELETE,
            &format!("issues/comments/{id}"),
            None,
            "GitHub delete PR comment",
        )
        .await?;
    if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
        return Ok(());
    }
    Err(reply.error("GitHub delete PR comment"))
}

async fn sync(state: &AppState, first: &Subject) -> Result<(), JobError> {
    let api = match Api::for_app(state, &first.row.app).await {
        Ok(Some(api)) => api,
        Ok(None) => return Ok(()),
        Err(Ok(why)) => return Err(JobError::Permanent(why)),
        Err(Err(e)) => return Err(e),
    };
    let comment = setting(state, "github_post_pr_comment", Some(&first.row.app))
        .await?
        .as_bool()
        == Some(true);
    let mut subject = first.clone();
    for _ in 0..3 {
        let summary = Summary::build(state, &subject).await?;
        let (st, description) = commit_status(&summary);
        api.expect(
            Method::POST,
            &format!("statuses/{}", subject.row.git_commit_hash),
            Some(json!({"state": st, "target_url": summary.link, "description": description, "context": STATUS_CONTEXT})),
            "GitHub commit status",
        )
        .await?;
        if comment && let Some(pr) = subject.row.pr_url.as_deref().and_then(pr_number) {
            let marker = comment_marker(&subject);
            upsert_comment(&api, &subject, pr, &marker, &pr_comment(&marker, &summary)).await?;
        }
        // Another change may have been rendered by a job that finished before this one.
        let now = Subject::load(state, subject.row.public_id).await?;
        if now.row.updated_at == subject.row.updated_at
            && now.approvals.len() == subject.approvals.len()
        {
            return Ok(());
        }
        subject = now;
    }
    Ok(())
}

/// The GitHub integration.
#[derive(Debug, Clone, Copy)]
pub struct GitHub;

impl Integration for GitHub {
    fn handles(&self, kind: &str) -> bool {
        kind == SYNC
    }

    fn plan<'a>(
        &'a self,
        state: &'a AppState,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<Vec<Planned>, JobError>> {
        Box::pin(async move {
            if setting(state, "vcs_provider", Some(&subject.row.app))
                .await?
                .as_text()
                != Some("github")
            {
                return Ok(Vec::new());
            }
            let suffix = match event {
                Transition::Voted => format!(":{}", uuid::Uuid::now_v7()),
                _ => String::new(),
            };
            Ok(vec![Planned::new(SYNC, subject, event, &suffix, json!({}))])
        })
    }

    fn run<'a>(
        &'a self,
        state: &'a AppState,
        _job: &'a Job,
        subject: &'a Subject,
        _event: Transition,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(sync(state, subject))
    }
}
