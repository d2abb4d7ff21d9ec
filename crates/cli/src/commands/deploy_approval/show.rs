//! `rack-gateway deploy-approval show <id>`: one request, in full.

use anyhow::Result;
use clap::Args;

use super::details;
use crate::context::Ctx;

/// Arguments of `deploy-approval show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The request's public id, or a unique prefix of it.
    pub id: String,
}

/// Runs `deploy-approval show`.
pub async fn run(ctx: &Ctx, args: ShowArgs) -> Result<()> {
    let target = ctx.target()?;
    let req = super::resolve(&target.client, &args.id).await?;
    if ctx.json() {
        crate::output::print_json(&req);
    } else {
        print!("{}", details(&req, &target.url));
    }
    Ok(())
}
