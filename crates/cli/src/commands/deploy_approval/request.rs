//! `rack-gateway deploy-approval request`: asks for approval to deploy a commit. Defaults come
//! from the working directory (app: `.convox/app`, else the directory's name; commit and
//! branch: git), and each default used is named on stderr. An abbreviated SHA is expanded
//! with the local repository, since the gateway binds approvals only to full SHAs.
//!
//! In text mode stdout carries only the request id (`ID=$(rack-gateway deploy-approval
//! request …)`); the web link and details go to stderr. When an open request already exists
//! for the commit, `--wait` waits on it; without `--wait` its id is printed and the exit is 1.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use reqwest::StatusCode;
use rgw_core::wire::{CreateDeployApprovalRequest, DeployApprovalRequest};
use serde_json::{Map, Value};

use super::web_link;
use crate::context::Ctx;
use crate::error::CliError;
use crate::local;

/// `--help` examples.
pub const EXAMPLES: &str = "\
Examples:
  rack-gateway deploy-approval request --app myapp --git-commit \"$SHA\" --branch \"$BRANCH\" \\
    --ci-metadata '{\"workflow_id\":\"abc-123\",\"pipeline_number\":\"42\"}' --message \"Deploy to production\"
  rack-gateway deploy-approval request --git-commit abc123f --message \"Deploy\" --wait --timeout 20m

With --wait, exits 0 approved, 3 rejected, 4 expired, 5 timed out.";

/// Arguments of `deploy-approval request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The app (default: `.convox/app` in the current directory, else the directory's name).
    #[arg(long)]
    pub app: Option<String>,
    /// The commit: a full SHA, or an abbreviation the local git repository expands
    /// (default: `git rev-parse HEAD`).
    #[arg(long, value_name = "SHA")]
    pub git_commit: Option<String>,
    /// The branch (default: the current git branch).
    #[arg(long)]
    pub branch: Option<String>,
    /// CI metadata as a JSON object, e.g. '{"workflow_id":"abc-123"}'.
    #[arg(long, value_name = "JSON", value_parser = parse_metadata)]
    pub ci_metadata: Option<Map<String, Value>>,
    /// What is deployed and why, shown to the approvers.
    #[arg(long)]
    pub message: String,
    /// Public id of the API token that may deploy with the approval (default: the calling
    /// token).
    #[arg(long, value_name = "ID")]
    pub target_token: Option<String>,
    /// Wait until the request is approved (exit 0), rejected (3) or expired (4).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 90s, 20m, 1h) and exit 5.
    #[arg(long, value_parser = crate::duration::parse, default_value = "30m", requires = "wait")]
    pub timeout: Duration,
}

fn parse_metadata(s: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("must be a JSON object, e.g. '{\"workflow_id\":\"abc-123\"}'".to_owned()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// Runs `deploy-approval request`.
pub async fn run(ctx: &Ctx, args: RequestArgs) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::new("error", format!("reading the current directory: {e}")))?;
    let mut defaults = Vec::new();
    let app = local::app_name(args.app.as_deref(), &cwd, &mut defaults)?;
    let commit = local::commit(args.git_commit.as_deref(), &cwd, &mut defaults)?;
    let branch = local::branch(args.branch, &cwd, &mut defaults);
    if !defaults.is_empty() {
        eprintln!("Using {}", defaults.join(", "));
    }
    let body = CreateDeployApprovalRequest {
        app,
        git_commit_hash: commit,
        git_branch: branch,
        ci_metadata: args.ci_metadata.unwrap_or_default(),
        message: args.message,
        target_api_token_id: args.target_token,
    };
    let target = ctx.target()?;
    let (status, answer) = target
        .client
        .post_allowing(
            "/api/v1/deploy-approval-requests",
            &body,
            StatusCode::CONFLICT,
        )
        .await?;
    let conflict = status == StatusCode::CONFLICT;
    let req_value = if conflict {
        answer
            .get("deploy_approval_request")
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        answer.clone()
    };
    let conflict_error = || {
        let code = answer["error"]["code"].as_str().unwrap_or("http_409");
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("the gateway answered 409 Conflict");
        let mut e = CliError::new(code, message);
        e.status = Some(409);
        e
    };
    let req: DeployApprovalRequest = match serde_json::from_value(req_value) {
        Ok(r) => r,
        // A 409 without a request (e.g. approvals_disabled) is a plain error.
        Err(_) if conflict => return Err(conflict_error().into()),
        Err(e) => {
            return Err(CliError::new(
                "invalid_response",
                format!("unexpected answer from the gateway: {e}"),
            )
            .into());
        }
    };
    let link = web_link(&target.url, &req.public_id);
    if conflict {
        if !args.wait {
            if ctx.json() {
                crate::output::print_json(&answer);
            } else {
                println!("{}", req.public_id);
            }
            eprintln!("An open request already exists for this commit: {link}");
            return Err(conflict_error().with_json_printed().into());
        }
        eprintln!(
            "An open request already exists for this commit ({}); waiting on it.",
            req.status
        );
    } else {
        eprintln!(
            "Created deploy approval request {} for {} at {}",
            req.public_id,
            req.app,
            req.git_commit_hash.short()
        );
    }
    eprintln!("Review it at {link}");
    if args.wait {
        let last = super::wait::follow(ctx, &target.client, req, args.timeout).await?;
        return super::wait::finish(ctx, &last);
    }
    if ctx.json() {
        crate::output::print_json(&req);
    } else {
        println!("{}", req.public_id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_metadata_must_be_a_json_object() {
        assert!(parse_metadata(r#"{"workflow_id":"abc-123","pipeline_number":"42"}"#).is_ok());
        assert!(
            parse_metadata("[1, 2]")
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            parse_metadata("{oops")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }
}
