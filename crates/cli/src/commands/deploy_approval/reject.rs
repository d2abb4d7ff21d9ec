//! `rack-gateway deploy-approval reject <id> [--notes N]`: rejects a pending or approved
//! request (admin login session).

use anyhow::Result;
use clap::Args;
use rgw_core::wire::{DeployApprovalRequest, RejectBody};

use super::path;
use crate::context::Ctx;

/// Arguments of `deploy-approval reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The request's public id, or a unique prefix of it.
    pub id: String,
    /// Why, shown to the requester.
    #[arg(long)]
    pub notes: Option<String>,
}

/// Runs `deploy-approval reject`.
pub async fn run(ctx: &Ctx, args: RejectArgs) -> Result<()> {
    let target = ctx.target()?;
    let req = super::resolve(&target.client, &args.id).await?;
    let body = RejectBody {
        notes: args.notes.filter(|n| !n.trim().is_empty()),
    };
    let rejected: DeployApprovalRequest = target
        .client
        .post(&path(&req.public_id, "/reject"), &body)
        .await?;
    if ctx.json() {
        crate::output::print_json(&rejected);
    } else {
        println!("Rejected deploy approval request {}", rejected.public_id);
    }
    Ok(())
}
