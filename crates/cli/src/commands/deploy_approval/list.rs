//! `rack-gateway deploy-approval list [--status S] [--app A] [--limit N]`: a table, newest
//! first; `--output json` prints the API's list object.

use std::fmt::Write as _;

use anyhow::Result;
use clap::Args;
use rgw_core::AppName;
use rgw_core::approval::ApprovalStatus;
use rgw_core::wire::DeployApprovalRequestList;

use super::{expires_at, relative};
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::or_dash;

/// Arguments of `deploy-approval list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only requests in this status (pending, approved, rejected, expired, deployed).
    #[arg(long, value_parser = parse_status)]
    pub status: Option<ApprovalStatus>,
    /// Only this app.
    #[arg(long)]
    pub app: Option<String>,
    /// At most this many requests (1–200).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub limit: u16,
}

fn parse_status(s: &str) -> Result<ApprovalStatus, String> {
    s.parse::<ApprovalStatus>().map_err(|e| e.to_string())
}

/// Widest MESSAGE column.
const MESSAGE_WIDTH: usize = 48;

/// Runs `deploy-approval list`.
pub async fn run(ctx: &Ctx, args: ListArgs) -> Result<()> {
    let mut query = format!("/api/v1/deploy-approval-requests?limit={}", args.limit);
    if let Some(s) = args.status {
        let _ = write!(query, "&status={s}");
    }
    if let Some(a) = &args.app {
        let app =
            AppName::parse(a).map_err(|e| CliError::usage("invalid_app", format!("--app: {e}")))?;
        let _ = write!(query, "&app={app}");
    }
    let target = ctx.target()?;
    let list: DeployApprovalRequestList = target.client.get(&query).await?;
    if ctx.json() {
        crate::output::print_json(&list);
        return Ok(());
    }
    if list.deploy_approval_requests.is_empty() {
        eprintln!("No deploy approval requests.");
        return Ok(());
    }
    let rows: Vec<[String; 8]> = list
        .deploy_approval_requests
        .iter()
        .map(|r| {
            [
                r.public_id.to_string(),
                r.app.to_string(),
                r.status.to_string(),
                r.git_commit_hash.short().to_owned(),
                or_dash(r.git_branch.as_deref()).to_owned(),
                relative(r.created_at).trim_end_matches(" ago").to_owned(),
                expires_at(r).map_or_else(|| "-".to_owned(), relative),
                truncate(&r.message.replace('\n', " "), MESSAGE_WIDTH),
            ]
        })
        .collect();
    let header = [
        "ID", "APP", "STATUS", "COMMIT", "BRANCH", "AGE", "EXPIRES", "MESSAGE",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        s
    };
    println!("{}", line(header.to_vec()));
    for row in &rows {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
    if list.next_cursor.is_some() {
        eprintln!("(more requests exist; raise --limit or narrow with --status/--app)");
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}
