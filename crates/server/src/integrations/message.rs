//! What notifications say, so that an approver woken at 2 a.m. can decide from the message
//! alone: app, commit (short, linked), branch, PR, message, requester, expiry, approvers and a
//! link straight to the approval page. [`Summary::build`] gathers it; the render functions are
//! pure. Text that comes from the requester is escaped for each target (Slack mrkdwn control
//! sequences, GitHub mentions and HTML), so a message cannot ping a channel or forge a link.

use rgw_core::approval::ApprovalStatus;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{JobError, Subject, Transition, setting};
use crate::app::AppState;

/// Marks the gateway's PR comment so it can be found again (and edited, never duplicated).
pub fn comment_marker(subject: &Subject) -> String {
    format!(
        "<!-- rack-gateway:deploy-approval:{} -->",
        subject.row.public_id
    )
}

/// The facts every notification carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub app: String,
    pub commit: String,
    pub commit_url: Option<String>,
    pub branch: Option<String>,
    pub pr_url: Option<String>,
    pub pipeline_url: Option<String>,
    pub message: String,
    pub requester: String,
    pub status: ApprovalStatus,
    /// When the pending request or the approval expires (while open).
    pub expires_at: Option<OffsetDateTime>,
    /// `(email, time)` of each approval.
    pub approvers: Vec<(String, OffsetDateTime)>,
    pub rejection_notes: Option<String>,
    pub required_approvals: i64,
    /// The approval page.
    pub link: String,
}

impl Summary {
    /// Gathers the summary of `subject`.
    ///
    /// # Errors
    /// Retry when settings cannot be read.
    pub async fn build(state: &AppState, subject: &Subject) -> Result<Summary, JobError> {
        let row = &subject.row;
        let app = Some(row.app.as_str());
        let vcs = setting(state, "vcs_provider", app)
            .await?
            .as_text()
            .map(str::to_owned);
        let repo = setting(state, "vcs_repo", app)
            .await?
            .as_text()
            .map(str::to_owned);
        let ci = setting(state, "ci_provider", app)
            .await?
            .as_text()
            .map(str::to_owned);
        let commit_url = match (vcs.as_deref(), repo.as_deref()) {
            (Some("github"), Some(repo)) => Some(format!(
                "{}{repo}/commit/{}",
                github_web_base(&state.config.integrations.github_api_url),
                row.git_commit_hash
            )),
            _ => None,
        };
        let meta = &row.ci_metadata.0;
        let pipeline_url = meta["build_url"]
            .as_str()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(str::to_owned)
            .or_else(
                || match (ci.as_deref(), repo.as_deref(), pipeline_number(meta)) {
                    (Some("circleci"), Some(repo), Some(n)) => {
                        Some(format!("https://app.circleci.com/pipelines/gh/{repo}/{n}"))
                    }
                    _ => None,
                },
            );
        let expires_at = match row.status {
            ApprovalStatus::Pending => Some(row.pending_expires_at),
            ApprovalStatus::Approved => row.approval_expires_at,
            _ => None,
        };
        Ok(Summary {
            app: row.app.clone(),
            commit: row.git_commit_hash.clone(),
            commit_url,
            branch: row.git_branch.clone(),
            pr_url: row.pr_url.clone(),
            pipeline_url,
            message: row.message.clone(),
            requester: subject.requester.clone(),
            status: row.status,
            expires_at,
            approvers: subject
                .approvals
                .iter()
                .map(|a| (a.user_email.clone(), a.approved_at))
                .collect(),
            rejection_notes: row.rejection_notes.clone(),
            required_approvals: row.required_approvals,
            link: approval_link(state, row.public_id),
        })
    }

    /// The first 7 characters of the commit.
    pub fn short(&self) -> &str {
        self.commit.get(..7).unwrap_or(&self.commit)
    }
}

/// The approval page of request `id`.
pub fn approval_link(state: &AppState, id: uuid::Uuid) -> String {
    let base = state.config.public_url.as_str().trim_end_matches('/');
    format!("{base}/deploy-approvals/{id}")
}

/// `pipeline_number` from CI metadata, as a string or a number.
pub fn pipeline_number(meta: &Value) -> Option<String> {
    match &meta["pipeline_number"] {
        Value::String(s)
            if !s.trim().is_empty() && s.trim().chars().all(|c| c.is_ascii_digit()) =>
        {
            Some(s.trim().to_owned())
        }
        Value::Number(n) if n.as_u64().is_some() => Some(n.to_string()),
        _ => None,
    }
}

/// The web base of a GitHub API base: `https://github.com/` for `api.github.com`, and the host
/// for GitHub Enterprise's `https://HOST/api/v3/`.
pub fn github_web_base(api: &url::Url) -> String {
    let mut web = api.clone();
    if web.host_str() == Some("api.github.com") {
        let _ = web.set_host(Some("github.com"));
        web.set_path("/");
    } else if let Some(p) = web.path().strip_suffix("api/v3/") {
        let p = p.to_owned();
        web.set_path(&p);
    }
    web.to_string()
}

fn when(t: OffsetDateTime) -> String {
    rgw_core::wire::rfc3339(t)
}

/// One line saying what happened.
pub fn headline(event: Transition, s: &Summary) -> String {
    let what = match event {
        Transition::Created => "Deploy approval needed",
        Transition::Voted => "Deploy approval: approval recorded",
        Transition::Approved => "Deploy approved",
        Transition::Rejected => "Deploy rejected",
        Transition::Revoked => "Deploy approval revoked",
        Transition::Expired => "Deploy approval expired",
        Transition::Deployed => "Deployed",
    };
    format!("{what}: {} @ {}", s.app, s.short())
}

/// Escapes text for Slack mrkdwn: `&`, `<` and `>` are its only control characters.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for a GitHub comment: no HTML, no @mentions, no references that notify.
pub fn github_escape(text: &str) -> String {
    let html = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    // A zero-width joiner after `@` keeps the text readable but stops the mention.
    html.replace('@', "@\u{200d}")
}

/// The Slack incoming-webhook body.
pub fn slack_payload(event: Transition, s: &Summary) -> Value {
    let e = slack_escape;
    let commit = match &s.commit_url {
        Some(u) => format!("<{}|`{}`>", e(u), s.short()),
        None => format!("`{}`", s.short()),
    };
    let mut fields = vec![
        format!("*App:* {}", e(&s.app)),
        format!("*Commit:* {commit}"),
        format!(
            "*Branch:* {}",
            s.branch
                .as_deref()
                .map(e)
                .unwrap_or_else(|| "(none)".into())
        ),
        format!("*Requested by:* {}", e(&s.requester)),
        format!("*Status:* {}", s.status),
    ];
    if let Some(t) = s.expires_at {
        fields.push(format!("*Expires:* {}", when(t)));
    }
    if !s.approvers.is_empty() {
        let names: Vec<String> = s.approvers.iter().map(|(a, _)| e(a)).collect();
        fields.push(format!("*Approved by:* {}", names.join(", ")));
    }
    let mut links = vec![format!("<{}|Open the approval page>", e(&s.link))];
    if let Some(pr) = &s.pr_url {
        links.push(format!("<{}|Pull request>", e(pr)));
    }
    if let Some(p) = &s.pipeline_url {
        links.push(format!("<{}|CI pipeline>", e(p)));
    }
    let title = headline(event, s);
    json!({
        "text": format!("{} — {}", e(&title), e(&s.link)),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title.chars().take(150).collect::<String>()}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("> {}", e(&s.message).replace('\n', "\n> "))}},
            {"type": "section", "fields": fields.iter().map(|f| json!({"type": "mrkdwn", "text": f})).collect::<Vec<_>>()},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": links.join(" · ")}]},
        ],
    })
}

/// The PR comment (Markdown), showing the current state, the approvers and the expiry.
pub fn pr_comment(marker: &str, s: &Summary) -> String {
    let g = github_escape;
    let state = match s.status {
        ApprovalStatus::Pending => "⏳ **pending** — waiting for an admin to approve",
        ApprovalStatus::Approved => "✅ **approved** — CI may deploy this commit once",
        ApprovalStatus::Rejected => "❌ **rejected**",
        ApprovalStatus::Expired => "⌛ **expired**",
        ApprovalStatus::Deployed => "🚀 **deployed**",
    };
    let mut out = format!(
        "{marker}\n### Deploy approval for `{}`\n\n{state}\n\n",
        g(&s.app)
    );
    out.push_str(&format!("| | |\n|---|---|\n| Commit | `{}` |\n", s.commit));
    if let Some(b) = &s.branch {
        out.push_str(&format!("| Branch | `{}` |\n", g(b)));
    }
    out.push_str(&format!("| Requested by | {} |\n", g(&s.requester)));
    let approvers = if s.approvers.is_empty() {
        format!("none yet (needs {})", s.required_approvals)
    } else {
        s.approvers
            .iter()
            .map(|(a, t)| format!("{} at {}", g(a), when(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!("| Approvers | {approvers} |\n"));
    if let Some(t) = s.expires_at {
        out.push_str(&format!("| Expires | {} |\n", when(t)));
    }
    if let Some(n) = &s.rejection_notes {
        out.push_str(&format!(
            "| Notes | {} |\n",
            g(n).replace('\n', " ").replace('|', "\\|")
        ));
    }
    out.push_str(&format!(
        "\n> {}\n\n[Open the approval page]({})\n",
        g(&s.message).replace('\n', "\n> "),
        s.link
    ));
    out
}

/// The commit status for the request's state: `(state, description)`.
pub fn commit_status(s: &Summary) -> (&'static str, String) {
    let (state, text) = match s.status {
        ApprovalStatus::Pending => (
            "pending",
            format!(
                "Waiting for deploy approval ({} of {})",
                s.approvers.len(),
                s.required_approvals
            ),
        ),
        ApprovalStatus::Approved => (
            "success",
            format!(
                "Deploy approved by {}",
                s.approvers
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        ApprovalStatus::Rejected => ("failure", "Deploy approval rejected".to_owned()),
        ApprovalStatus::Expired => ("error", "Deploy approval expired".to_owned()),
        ApprovalStatus::Deployed => ("success", "Deployed".to_owned()),
    };
    // GitHub refuses descriptions over 140 characters.
    (state, text.chars().take(140).collect())
}

/// The generic webhook body.
pub fn webhook_body(
    event: Transition,
    s: &Summary,
    id: uuid::Uuid,
    delivery: uuid::Uuid,
    now: OffsetDateTime,
) -> Value {
    json!({
        "event": format!("deploy_approval.{}", event.as_str()),
        "delivery_id": delivery,
        "occurred_at": when(now),
        "summary": headline(event, s),
        "deploy_approval_request": {
            "public_id": id,
            "app": s.app,
            "git_commit_hash": s.commit,
            "git_commit_url": s.commit_url,
            "git_branch": s.branch,
            "pr_url": s.pr_url,
            "ci_pipeline_url": s.pipeline_url,
            "message": s.message,
            "requested_by": s.requester,
            "status": s.status.as_str(),
            "expires_at": s.expires_at.map(when),
            "approvals": s.approvers.iter().map(|(a, t)| json!({"user": a, "at": when(*t)})).collect::<Vec<_>>(),
            "rejection_notes": s.rejection_notes,
            "url": s.link,
        },
    })
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
