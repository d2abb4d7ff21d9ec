//! What the approval pages show, built from the API's own view of a request
//! (`approvals::view::to_wire`), the app's link settings and the request's audit trail.

use rgw_core::approval::ApprovalStatus;
use rgw_core::rbac::Permission;
use rgw_core::wire::DeployApprovalRequest as Wire;
use rgw_store::AuditFilter;
use time::OffsetDateTime;

use super::links;
use crate::app::AppState;
use crate::audit::view::AuditEventView;
use crate::auth::Principal;
use crate::error::ApiError;

/// RFC 3339 with seconds, UTC (what `<time datetime>` and the countdown script read).
pub fn iso(t: OffsetDateTime) -> String {
    rgw_core::wire::rfc3339(t)
}

/// A short human label such as `2026-12-02 18:40 UTC`.
pub fn label(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The deadline that matters in `status`: the pending TTL, or the approval window.
fn deadline(w: &Wire) -> Option<OffsetDateTime> {
    match w.status {
        ApprovalStatus::Pending => w.pending_expires_at,
        ApprovalStatus::Approved => w.approval_expires_at,
        _ => None,
    }
}

/// One line of the list.
pub struct RowView {
    pub id: String,
    pub app: String,
    pub commit_short: String,
    pub branch: String,
    pub message: String,
    pub status: String,
    pub approvals: usize,
    pub required: u32,
    pub created_at: String,
    pub created_label: String,
    pub expires_at: Option<String>,
}

impl From<&Wire> for RowView {
    fn from(w: &Wire) -> Self {
        RowView {
            id: w.public_id.to_string(),
            app: w.app.to_string(),
            commit_short: w.git_commit_hash.short().to_owned(),
            branch: w.git_branch.clone().unwrap_or_default(),
            message: w.message.clone(),
            status: w.status.to_string(),
            approvals: w.approvals.len(),
            required: w.required_approvals,
            created_at: iso(w.created_at),
            created_label: label(w.created_at),
            expires_at: deadline(w).map(iso),
        }
    }
}

/// One approval.
#[derive(Clone)]
pub struct ApproverView {
    pub user: String,
    pub at: String,
    pub notes: Option<String>,
    pub mfa_method: String,
}

/// One audit event on the request's timeline.
pub struct TrailView {
    pub at: String,
    pub action: String,
    pub actor: String,
    pub outcome: String,
    pub note: String,
}

/// The detail page's facts.
#[derive(Clone)]
pub struct DetailView {
    pub id: String,
    pub app: String,
    pub commit: String,
    pub commit_short: String,
    pub commit_url: Option<String>,
    pub branch: String,
    pub pr_url: Option<String>,
    pub pipeline_url: Option<String>,
    pub message: String,
    pub ci_metadata: Vec<(String, String)>,
    pub target_token: String,
    pub created_by: String,
    pub created_at: String,
    pub status: String,
    pub expires_label: &'static str,
    pub expires_at: Option<String>,
    pub expired_reason: Option<String>,
    pub approvals: Vec<ApproverView>,
    pub required: u32,
    pub object_url: Option<String>,
    pub build_id: Option<String>,
    pub release_id: Option<String>,
    pub deployed_at: Option<String>,
    pub rejected_by: Option<String>,
    pub rejection_notes: Option<String>,
    pub intent_digest: String,
}

async fn text_setting(state: &AppState, key: &str, app: &str) -> Option<String> {
    match crate::settings::resolve(state, key, Some(app)).await {
        Ok(r) => r
            .value
            .as_str()
            .map(str::to_owned)
            .filter(|s| !s.is_empty()),
        Err(e) => {
            tracing::warn!(error = %e, key, "reading a link setting for the approval page");
            None
        }
    }
}

impl DetailView {
    /// The detail view of `w`, with links from the app's settings.
    pub async fn build(state: &AppState, w: &Wire, target_token_name: &str) -> DetailView {
        let app = w.app.to_string();
        let vcs = text_setting(state, "vcs_provider", &app).await;
        let repo = text_setting(state, "vcs_repo", &app).await;
        let ci = text_setting(state, "ci_provider", &app).await;
        let commit = w.git_commit_hash.to_string();
        let ci_metadata = w
            .ci_metadata
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        DetailView {
            id: w.public_id.to_string(),
            commit_url: links::commit_url(vcs.as_deref(), repo.as_deref(), &commit),
            pipeline_url: links::pipeline_url(
                ci.as_deref(),
                vcs.as_deref(),
                repo.as_deref(),
                &w.ci_metadata,
            ),
            app,
            commit_short: w.git_commit_hash.short().to_owned(),
            commit,
            branch: w.git_branch.clone().unwrap_or_default(),
            pr_url: links::safe_href(w.pr_url.as_deref()),
            message: w.message.clone(),
            ci_metadata,
            target_token: format!(
                "{target_token_name} ({})",
                w.target_api_token_id.clone().unwrap_or_default()
            ),
            created_by: w.created_by.clone().unwrap_or_else(|| "unknown".into()),
            created_at: iso(w.created_at),
            status: w.status.to_string(),
            expires_label: if w.status == ApprovalStatus::Approved {
                "Approval expires"
            } else {
                "Pending until"
            },
            expires_at: deadline(w).map(iso),
            expired_reason: w.expired_reason.clone(),
            approvals: w
                .approvals
                .iter()
                .map(|a| ApproverView {
                    user: a.user.clone(),
                    at: iso(a.at),
                    notes: a.notes.clone(),
                    mfa_method: a.mfa_method.as_str().to_owned(),
                })
                .collect(),
            required: w.required_approvals,
            object_url: w.object_url.clone(),
            build_id: w.build_id.as_ref().map(ToString::to_string),
            release_id: w.release_id.as_ref().map(ToString::to_string),
            deployed_at: w.deployed_at.map(iso),
            rejected_by: w.rejected_by.clone(),
            rejection_notes: w.rejection_notes.clone(),
            intent_digest: w.intent_digest.clone(),
        }
    }
}

/// The request's audit trail, oldest first (for callers who may read the audit log).
pub async fn trail(
    state: &AppState,
    principal: &Principal,
    public_id: uuid::Uuid,
) -> Result<Vec<TrailView>, ApiError> {
    if !principal.allows(&Permission::AUDIT_READ) {
        return Ok(Vec::new());
    }
    let filter = AuditFilter {
        deploy_approval_request_id: Some(public_id),
        ..AuditFilter::default()
    };
    let page = state.store.list_audit_events(&filter, None, 200).await?;
    let mut out: Vec<TrailView> = page
        .events
        .into_iter()
        .map(AuditEventView::from)
        .map(|e| {
            let note = ["notes", "reason"]
                .iter()
                .find_map(|k| e.details.get(*k).and_then(|v| v.as_str()))
                .unwrap_or_default()
                .to_owned();
            TrailView {
                at: e.occurred_at.clone(),
                actor: e
                    .actor_email
                    .clone()
                    .or_else(|| e.actor_token_name.clone())
                    .unwrap_or_else(|| e.actor_type.clone()),
                action: e.action,
                outcome: e.outcome,
                note,
            }
        })
        .collect();
    out.reverse();
    Ok(out)
}
