//! `rack-gateway deploy-approval request|approve|reject|list|show|wait` (PRODUCT.md §3, §13):
//! one file per subcommand; this module holds what they share: resolving an id or a unique
//! prefix, the text rendering of a request, and the exit code of a request's outcome
//! (approved/deployed 0, rejected 3, expired 4).

pub mod approve;
pub mod browser;
pub mod list;
pub mod reject;
pub mod request;
pub mod show;
pub mod wait;

use std::fmt::Write as _;

use anyhow::Result;
use clap::Subcommand;
use rgw_core::RequestId;
use rgw_core::approval::ApprovalStatus;
use rgw_core::wire::{DeployApprovalRequest, DeployApprovalRequestList};
use time::OffsetDateTime;

use crate::client::Client;
use crate::context::Ctx;
use crate::error::{CliError, EXIT_EXPIRED, EXIT_REJECTED};
use crate::output::or_dash;

/// `--help` examples of the group (the seed's commands).
pub const EXAMPLES: &str = "\
Examples:
  rack-gateway deploy-approval request --app myapp --git-commit \"$SHA\" --branch \"$BRANCH\" \\
    --ci-metadata '{\"workflow_id\":\"abc-123\",\"pipeline_number\":\"42\"}' --message \"Deploy to production\"
  rack-gateway deploy-approval request --git-commit abc123f --message \"Deploy\" --wait --timeout 20m
  rack-gateway deploy-approval approve <request-id> --notes \"Reviewed diff, LGTM\"
  rack-gateway deploy-approval list --status pending

Exit codes: 0 success or approved, 1 error, 2 usage, 3 rejected, 4 expired, 5 timed out.";

/// `deploy-approval` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeployApprovalCommand {
    /// Ask admins to approve deploying a commit (CI runs this).
    #[command(after_help = request::EXAMPLES)]
    Request(request::RequestArgs),
    /// Approve a request (admin login session + MFA).
    #[command(after_help = approve::EXAMPLES)]
    Approve(approve::ApproveArgs),
    /// Reject a request (admin login session).
    Reject(reject::RejectArgs),
    /// List requests, newest first.
    #[command(after_help = "Example:\n  rack-gateway deploy-approval list --status pending")]
    List(list::ListArgs),
    /// Show one request.
    Show(show::ShowArgs),
    /// Wait until a request is approved, rejected or expired.
    #[command(
        after_help = "Example:\n  rack-gateway deploy-approval wait 3f2a --timeout 20m\n\n\
        Exit codes: 0 approved or deployed, 1 error, 3 rejected, 4 expired, 5 timed out."
    )]
    Wait(wait::WaitArgs),
}

/// Runs a `deploy-approval` subcommand.
pub async fn run(ctx: &Ctx, cmd: DeployApprovalCommand) -> Result<()> {
    match cmd {
        DeployApprovalCommand::Request(args) => request::run(ctx, args).await,
        DeployApprovalCommand::Approve(args) => approve::run(ctx, args).await,
        DeployApprovalCommand::Reject(args) => reject::run(ctx, args).await,
        DeployApprovalCommand::List(args) => list::run(ctx, args).await,
        DeployApprovalCommand::Show(args) => show::run(ctx, args).await,
        DeployApprovalCommand::Wait(args) => wait::run(ctx, args).await,
    }
}

/// The API path of request `id` (plus `suffix`, e.g. `/approve`).
pub fn path(id: &RequestId, suffix: &str) -> String {
    format!("/api/v1/deploy-approval-requests/{id}{suffix}")
}

/// Environment variable naming the gateway's public URL, when CI reaches it at another
/// address (links printed for humans use it).
pub const PUBLIC_URL_ENV: &str = "RGW_PUBLIC_URL";

/// The request's page in the web UI: under `RGW_PUBLIC_URL` when set, else under the gateway
/// URL the CLI talks to.
pub fn web_link(gateway: &str, id: &RequestId) -> String {
    let base = std::env::var(PUBLIC_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| gateway.to_owned());
    format!(
        "{}/deploy-approvals/{id}",
        base.trim().trim_end_matches('/')
    )
}

/// `GET` request `id`.
pub async fn fetch(client: &Client, id: &RequestId) -> Result<DeployApprovalRequest> {
    client.get(&path(id, "")).await
}

/// Most list pages read while resolving a prefix (200 requests each).
const PREFIX_PAGES: usize = 25;

/// The request named by a full public id or a unique prefix of one (looked up in the list of
/// requests the caller may see).
pub async fn resolve(client: &Client, given: &str) -> Result<DeployApprovalRequest> {
    let given = given.trim();
    if let Ok(id) = RequestId::parse(given) {
        return fetch(client, &id).await;
    }
    let prefix = given.to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(CliError::usage(
            "invalid_request_id",
            format!(
                "{given:?} is not a request id: pass the full public id or at least its first 4 characters"
            ),
        )
        .into());
    }
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..PREFIX_PAGES {
        let mut query = String::from("/api/v1/deploy-approval-requests?limit=200");
        if let Some(c) = &cursor {
            let _ = write!(query, "&cursor={c}");
        }
        let page: DeployApprovalRequestList = client.get(&query).await?;
        found.extend(
            page.deploy_approval_requests
                .into_iter()
                .filter(|r| r.public_id.to_string().starts_with(&prefix)),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    pick(found, &prefix)
}

/// The one request among those whose id starts with `prefix`, or an error naming them.
fn pick(mut found: Vec<DeployApprovalRequest>, prefix: &str) -> Result<DeployApprovalRequest> {
    match found.len() {
        0 => Err(CliError::new(
            "deploy_approval_request_not_found",
            format!("no deploy approval request you can see has an id starting with {prefix}"),
        )
        .into()),
        1 => Ok(found.remove(0)),
        _ => {
            let list: Vec<String> = found
                .iter()
                .map(|r| {
                    format!(
                        "{} ({}, {}, {})",
                        r.public_id,
                        r.app,
                        r.git_commit_hash.short(),
                        r.status
                    )
                })
                .collect();
            Err(CliError::usage(
                "ambiguous_request_id",
                format!(
                    "{prefix} matches {} requests; pass more of the id: {}",
                    found.len(),
                    list.join("; ")
                ),
            )
            .into())
        }
    }
}

/// When the request's current state lapses: the pending TTL or the approval window.
pub fn expires_at(r: &DeployApprovalRequest) -> Option<OffsetDateTime> {
    match r.status {
        ApprovalStatus::Pending => r.pending_expires_at,
        ApprovalStatus::Approved => r.approval_expires_at,
        _ => None,
    }
}

/// `in 14m05s` / `5m00s ago` relative to now.
pub fn relative(t: OffsetDateTime) -> String {
    let d = t - OffsetDateTime::now_utc();
    let secs = d.whole_seconds();
    let human = crate::duration::human(std::time::Duration::from_secs(secs.unsigned_abs()));
    if secs >= 0 {
        format!("in {human}")
    } else {
        format!("{human} ago")
    }
}

/// The multi-line text rendering of a request (for `show`, `approve`, and results).
pub fn details(r: &DeployApprovalRequest, base: &str) -> String {
    let mut s = String::new();
    let t = |t: Option<OffsetDateTime>| match t {
        Some(t) => format!("{} ({})", rgw_core::wire::rfc3339(t), relative(t)),
        None => "-".to_owned(),
    };
    let _ = writeln!(s, "id:          {}", r.public_id);
    let _ = writeln!(s, "status:      {}", r.status);
    let _ = writeln!(s, "app:         {}", r.app);
    let _ = writeln!(s, "commit:      {}", r.git_commit_hash);
    let _ = writeln!(s, "branch:      {}", or_dash(r.git_branch.as_deref()));
    let _ = writeln!(s, "message:     {}", r.message);
    let _ = writeln!(s, "pr:          {}", or_dash(r.pr_url.as_deref()));
    let meta = if r.ci_metadata.is_empty() {
        "-".to_owned()
    } else {
        r.ci_metadata
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(s, "ci metadata: {meta}");
    if let Some(link) = ci_link(r) {
        let _ = writeln!(s, "ci link:     {link}");
    }
    let _ = writeln!(
        s,
        "created:     {} by {}",
        t(Some(r.created_at)),
        or_dash(r.created_by.as_deref())
    );
    let _ = writeln!(
        s,
        "target:      {}",
        or_dash(r.target_api_token_id.as_deref())
    );
    let _ = writeln!(
        s,
        "approvals:   {}/{}",
        r.approvals.len(),
        r.required_approvals.max(1)
    );
    for a in &r.approvals {
        let _ = writeln!(
            s,
            "  - {} at {} ({}){}",
            a.user,
            rgw_core::wire::rfc3339(a.at),
            a.mfa_method,
            a.notes
                .as_deref()
                .filter(|n| !n.is_empty())
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    match r.status {
        ApprovalStatus::Pending => {
            let _ = writeln!(s, "expires:     {}", t(r.pending_expires_at));
        }
        ApprovalStatus::Approved => {
            let _ = writeln!(s, "expires:     {}", t(r.approval_expires_at));
        }
        ApprovalStatus::Rejected => {
            let _ = writeln!(
                s,
                "rejected by: {}{}",
                or_dash(r.rejected_by.as_deref()),
                r.rejection_notes
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
        }
        ApprovalStatus::Expired => {
            let _ = writeln!(s, "expired:     {}", or_dash(r.expired_reason.as_deref()));
        }
        ApprovalStatus::Deployed => {
            let _ = writeln!(s, "deployed:    {}", t(r.deployed_at));
            let _ = writeln!(
                s,
                "release:     {}",
                or_dash(r.release_id.as_ref().map(|x| x.as_str()))
            );
        }
    }
    let _ = writeln!(s, "link:        {}", web_link(base, &r.public_id));
    s
}

/// The CI pipeline's page, when the CI metadata names one (a `…url` key with an http(s) value,
/// e.g. `build_url` or `run_url`).
fn ci_link(r: &DeployApprovalRequest) -> Option<&str> {
    r.ci_metadata.iter().find_map(|(k, v)| {
        let v = v.as_str()?;
        (k.to_ascii_lowercase().ends_with("url")
            && (v.starts_with("https://") || v.starts_with("http://")))
        .then_some(v)
    })
}

/// The outcome of a request that reached `status`: `Ok` for approved and deployed, an error
/// with exit 3 (rejected) or 4 (expired) otherwise. `None` while it is still pending.
pub fn outcome(r: &DeployApprovalRequest) -> Option<Result<()>> {
    match r.status {
        ApprovalStatus::Pending => None,
        ApprovalStatus::Approved | ApprovalStatus::Deployed => Some(Ok(())),
        ApprovalStatus::Rejected => Some(Err(CliError::new(
            "deploy_approval_rejected",
            format!(
                "deploy approval request {} was rejected by {}{}",
                r.public_id,
                or_dash(r.rejected_by.as_deref()),
                r.rejection_notes
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
        )
        .with_exit(EXIT_REJECTED)
        .with_json_printed()
        .into())),
        ApprovalStatus::Expired => Some(Err(CliError::new(
            "deploy_approval_expired",
            format!(
                "deploy approval request {} expired ({})",
                r.public_id,
                or_dash(r.expired_reason.as_deref())
            ),
        )
        .with_exit(EXIT_EXPIRED)
        .with_json_printed()
        .into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(id: &str) -> DeployApprovalRequest {
        serde_json::from_value(json!({
            "public_id": id, "app": "myapp",
            "git_commit_hash": "0123456789abcdef0123456789abcdef01234567",
            "git_branch": null, "pr_url": null, "ci_metadata": {}, "message": "m",
            "status": "pending", "target_api_token_id": null, "approvals": [],
            "approval_expires_at": null, "created_at": "2026-05-01T11:00:00Z",
            "updated_at": "2026-05-01T11:00:00Z", "object_url": null, "build_id": null,
            "release_id": null
        }))
        .unwrap()
    }

    #[test]
    fn the_ci_link_comes_from_a_url_in_the_ci_metadata() {
        let mut r = req("3f2a0000-0000-4000-8000-000000000001");
        assert!(!details(&r, "https://gw").contains("ci link:"));
        r.ci_metadata.insert("workflow_id".into(), json!("abc-123"));
        r.ci_metadata.insert(
            "run_url".into(),
            json!("https://github.com/o/r/actions/runs/1"),
        );
        r.ci_metadata
            .insert("next_url".into(), json!("javascript:alert(1)"));
        let text = details(&r, "https://gw");
        assert!(
            text.contains("ci link:     https://github.com/o/r/actions/runs/1"),
            "{text}"
        );
    }

    #[test]
    fn an_ambiguous_prefix_is_a_usage_error_listing_the_candidates() {
        let a = "3f2a0000-0000-4000-8000-000000000001";
        let b = "3f2a0000-0000-4000-8000-000000000002";
        let e = crate::error::classify(&pick(vec![req(a), req(b)], "3f2a").unwrap_err());
        assert_eq!((e.code.as_str(), e.exit), ("ambiguous_request_id", 2));
        assert!(
            e.message.contains(a) && e.message.contains(b),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("(myapp, 0123456, pending)"),
            "{}",
            e.message
        );

        let one = pick(vec![req(a)], "3f2a").unwrap();
        assert_eq!(one.public_id.to_string(), a);
        let none = crate::error::classify(&pick(vec![], "3f2a").unwrap_err());
        assert_eq!(
            (none.code.as_str(), none.exit),
            ("deploy_approval_request_not_found", 1)
        );
    }
}
