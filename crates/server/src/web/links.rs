//! Links from a request to the systems around it: the commit on the VCS host and the CI
//! pipeline. Pure functions of the app's settings (`vcs_provider`, `vcs_repo`, `ci_provider`)
//! and the request's CI metadata, so they are table-tested.

use serde_json::{Map, Value};

/// Whether `repo` looks like `owner/name` (more segments for GitLab groups) and is safe to put
/// in a URL path as is.
fn repo_ok(repo: &str) -> bool {
    let parts: Vec<&str> = repo.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// The commit's page on the VCS host, when the provider is known.
pub fn commit_url(provider: Option<&str>, repo: Option<&str>, sha: &str) -> Option<String> {
    let repo = repo.filter(|r| repo_ok(r))?;
    match provider?.to_ascii_lowercase().as_str() {
        "github" => Some(format!("https://github.com/{repo}/commit/{sha}")),
        "gitlab" => Some(format!("https://gitlab.com/{repo}/-/commit/{sha}")),
        "bitbucket" => Some(format!("https://bitbucket.org/{repo}/commits/{sha}")),
        _ => None,
    }
}

/// The CircleCI pipeline page: `https://app.circleci.com/pipelines/<vcs>/<repo>/<number>`
/// from `ci_metadata.pipeline_number`, when CI is CircleCI (or unset and a pipeline number is
/// present) and the VCS is one CircleCI knows.
pub fn pipeline_url(
    ci_provider: Option<&str>,
    vcs_provider: Option<&str>,
    repo: Option<&str>,
    ci_metadata: &Map<String, Value>,
) -> Option<String> {
    if ci_provider.is_some_and(|c| !c.eq_ignore_ascii_case("circleci")) {
        return None;
    }
    let number = match ci_metadata.get("pipeline_number")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let repo = repo.filter(|r| repo_ok(r))?;
    let vcs = match vcs_provider?.to_ascii_lowercase().as_str() {
        "github" => "github",
        "bitbucket" => "bitbucket",
        _ => return None,
    };
    Some(format!(
        "https://app.circleci.com/pipelines/{vcs}/{repo}/{number}"
    ))
}

/// A link target that is safe to render as `href`: only `https://` and `http://` URLs.
pub fn safe_href(url: Option<&str>) -> Option<String> {
    let url = url?;
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "https" | "http").then(|| parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn commits_link_to_their_vcs_host() {
        let cases = [
            (
                Some("github"),
                Some("acme/api"),
                Some(format!("https://github.com/acme/api/commit/{SHA}")),
            ),
            (
                Some("GitLab"),
                Some("acme/team/api"),
                Some(format!("https://gitlab.com/acme/team/api/-/commit/{SHA}")),
            ),
            (
                Some("bitbucket"),
                Some("acme/api"),
                Some(format!("https://bitbucket.org/acme/api/commits/{SHA}")),
            ),
            (Some("github"), Some("acme"), None),
            (Some("github"), Some("acme/../x"), None),
            (Some("github"), Some("acme/a\"b"), None),
            (Some("svn"), Some("acme/api"), None),
            (None, Some("acme/api"), None),
        ];
        for (provider, repo, want) in cases {
            assert_eq!(
                commit_url(provider, repo, SHA),
                want,
                "{provider:?} {repo:?}"
            );
        }
    }

    #[test]
    fn circleci_pipelines_link_from_the_pipeline_number() {
        let meta = |v: Value| v.as_object().unwrap().clone();
        let m = meta(json!({"pipeline_number": "42"}));
        assert_eq!(
            pipeline_url(Some("circleci"), Some("github"), Some("acme/api"), &m).as_deref(),
            Some("https://app.circleci.com/pipelines/github/acme/api/42")
        );
        let n = meta(json!({"pipeline_number": 7}));
        assert_eq!(
            pipeline_url(None, Some("github"), Some("acme/api"), &n).as_deref(),
            Some("https://app.circleci.com/pipelines/github/acme/api/7")
        );
        assert_eq!(
            pipeline_url(Some("github-actions"), Some("github"), Some("acme/api"), &m),
            None
        );
        let bad = meta(json!({"pipeline_number": "42/../../x"}));
        assert_eq!(
            pipeline_url(None, Some("github"), Some("acme/api"), &bad),
            None
        );
        assert_eq!(
            pipeline_url(None, Some("github"), Some("acme/api"), &meta(json!({}))),
            None
        );
    }

    #[test]
    fn only_web_urls_become_links() {
        assert_eq!(safe_href(Some("javascript:alert(1)")), None);
        assert_eq!(safe_href(Some("data:text/html,x")), None);
        assert_eq!(
            safe_href(Some("https://github.com/acme/api/pull/1")).as_deref(),
            Some("https://github.com/acme/api/pull/1")
        );
    }
}
