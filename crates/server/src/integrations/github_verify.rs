//! GitHub checks at request creation, for apps with `vcs_provider=github`: the commit must be
//! the branch head (`verify_git_commit_mode=latest`) or really contained in the branch history
//! (`branch`: the compare API must say the branch is ahead of or identical to the commit), the
//! default branch is refused unless `allow_deploy_from_default_branch`, and with
//! `require_pr_for_branch` another branch needs an open pull request, whose URL is stored.
//!
//! These checks decide whether the request may exist, so they run synchronously and fail
//! closed: what the caller can fix is a 422 naming it; a GitHub that cannot be reached or
//! answers 5xx, and a gateway that is not configured to ask (no token, bad `vcs_repo`), is a
//! 503 — the request is never created unverified.

use reqwest::{Method, StatusCode};
use rgw_core::wire::CreateDeployApprovalRequest;

use super::github::Api;
use super::http::Reply;
use super::{JobError, setting};
use crate::app::AppState;
use crate::error::ApiError;

fn unavailable(message: String) -> ApiError {
    ApiError::Unavailable {
        code: "github_unavailable",
        message: format!("{message}; the request was not created, retry when GitHub answers"),
    }
}

fn misconfigured(message: String) -> ApiError {
    ApiError::Unavailable {
        code: "github_misconfigured",
        message: format!("{message}; an admin must fix the gateway's GitHub settings"),
    }
}

fn job_error(e: JobError) -> ApiError {
    match e {
        JobError::Retry(m) => unavailable(m),
        JobError::Permanent(m) => misconfigured(m),
    }
}

fn unprocessable(code: &'static str, message: String) -> ApiError {
    ApiError::unprocessable(code, message)
}

/// Refuses branch names git itself refuses and anything that could move a URL path
/// (`..`, `\`, `?`, `#`, control characters).
pub fn valid_branch(b: &str) -> bool {
    !b.is_empty()
        && b.len() <= 255
        && !b.starts_with('/')
        && !b.ends_with('/')
        && !b.ends_with(".lock")
        && !b.ends_with('.')
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && !b.chars().any(|c| {
            c.is_control()
                || matches!(
                    c,
                    ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\' | '#' | '%'
                )
        })
}

/// A branch name for a URL path: each `/`-separated part percent-encoded.
fn path_branch(b: &str) -> String {
    b.split('/')
        .map(|p| {
            url::form_urlencoded::byte_serialize(p.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn error_for(reply: &Reply, what: &str) -> ApiError {
    match reply.error(what) {
        JobError::Retry(m) => unavailable(m),
        // 401/403: the token is wrong or lacks access; the caller cannot fix that.
        JobError::Permanent(m)
            if matches!(
                reply.status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) =>
        {
            misconfigured(m)
        }
        JobError::Permanent(m) => unprocessable("github_refused", m),
    }
}

async fn get(api: &Api<'_>, path: &str, what: &str) -> Result<Reply, ApiError> {
    api.call(Method::GET, path, None, what)
        .await
        .map_err(job_error)
}

/// Runs the checks for `req`; returns the PR URL to store, if one was found.
///
/// # Errors
/// 422 (`git_branch_required`, `invalid_git_branch`, `default_branch_not_allowed`,
/// `branch_not_found`, `commit_not_branch_head`, `commit_not_on_branch`,
/// `pull_request_required`), 503 (`github_unavailable`, `github_misconfigured`).
pub async fn verify(
    state: &AppState,
    req: &CreateDeployApprovalRequest,
) -> Result<Option<String>, ApiError> {
    let app = req.app.as_str();
    let api = match Api::for_app(state, app).await {
        Ok(Some(api)) => api,
        Ok(None) => return Ok(None),
        Err(Ok(why)) => return Err(misconfigured(why)),
        Err(Err(e)) => return Err(job_error(e)),
    };
    let slug = api.repo.slug();
    let text =
        |key: &'static str| async move { setting(state, key, Some(app)).await.map_err(job_error) };
    let Some(branch) = req.git_branch.as_deref() else {
        return Err(unprocessable(
            "git_branch_required",
            format!("app {app} verifies commits on GitHub ({slug}): send git_branch"),
        ));
    };
    if !valid_branch(branch) {
        return Err(unprocessable(
            "invalid_git_branch",
            format!("{branch:?} is not a valid git branch name"),
        ));
    }
    let default = match text("default_branch").await?.as_text().map(str::to_owned) {
        Some(d) if !d.trim().is_empty() => d,
        _ => {
            let reply = get(&api, "", "GitHub repository").await?;
            if !reply.status.is_success() {
                return Err(match reply.status {
                    StatusCode::NOT_FOUND => misconfigured(format!(
                        "GitHub repository {slug} not found or not visible to RGW_GITHUB_TOKEN"
                    )),
                    _ => error_for(&reply, "GitHub repository"),
                });
            }
            reply.json()["default_branch"]
                .as_str()
                .unwrap_or("main")
                .to_owned()
        }
    };
    let is_default = branch == default;
    if is_default && text("allow_deploy_from_default_branch").await?.as_bool() != Some(true) {
        return Err(unprocessable(
            "default_branch_not_allowed",
            format!(
                "deploying from the default branch {default:?} of {slug} is not allowed for app {app} (allow_deploy_from_default_branch=false)"
            ),
        ));
    }
    let reply = get(
        &api,
        &format!("branches/{}", path_branch(branch)),
        "GitHub branch",
    )
    .await?;
    if reply.status == StatusCode::NOT_FOUND {
        return Err(unprocessable(
            "branch_not_found",
            format!("branch {branch:?} not found in {slug}"),
        ));
    }
    if !reply.status.is_success() {
        return Err(error_for(&reply, "GitHub branch"));
    }
    let head = reply.json()["commit"]["sha"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let commit = req.git_commit_hash.as_str();
    match text("verify_git_commit_mode")
        .await?
        .as_text()
        .unwrap_or("latest")
    {
        "latest" if head == commit => {}
        "latest" => {
            return Err(unprocessable(
                "commit_not_branch_head",
                format!(
                    "commit {commit} is not the head of branch {branch:?} in {slug} (the head is {head}); push it or request the head"
                ),
            ));
        }
        "branch" => {
            // base...head: "ahead" or "identical" means the branch contains the commit.
            let reply = get(
                &api,
                &format!("compare/{commit}...{}", path_branch(branch)),
                "GitHub compare",
            )
            .await?;
            let status = reply.json()["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let contained =
                reply.status.is_success() && matches!(status.as_str(), "ahead" | "identical");
            if !contained {
                if reply.status.is_server_error() || reply.status == StatusCode::TOO_MANY_REQUESTS {
                    return Err(error_for(&reply, "GitHub compare"));
                }
                return Err(unprocessable(
                    "commit_not_on_branch",
                    format!("commit {commit} is not in the history of branch {branch:?} in {slug}"),
                ));
            }
        }
        other => {
            return Err(misconfigured(format!(
                "verify_git_commit_mode for app {app} is {other:?}; use latest or branch"
            )));
        }
    }
    let head_ref =
        url::form_urlencoded::byte_serialize(format!("{}:{branch}", api.repo.owner).as_bytes())
            .collect::<String>();
    let reply = get(
        &api,
        &format!("pulls?head={head_ref}&state=open&per_page=1"),
        "GitHub pull requests",
    )
    .await?;
    if !reply.status.is_success() {
        return Err(error_for(&reply, "GitHub pull requests"));
    }
    let pr = reply.json()[0]["html_url"]
        .as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_owned);
    if pr.is_none() && !is_default && text("require_pr_for_branch").await?.as_bool() == Some(true) {
        return Err(unprocessable(
            "pull_request_required",
            format!(
                "branch {branch:?} has no open pull request in {slug}; open one first (require_pr_for_branch=true)"
            ),
        ));
    }
    Ok(pr)
}
