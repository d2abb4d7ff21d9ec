//! `rack-gateway logout`: ends the saved session on the gateway, then forgets it locally even
//! when the gateway could not be told. Exits 1 when the gateway may still hold a live session
//! (network or server error); a session the gateway already considers ended is fine.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::client::Client;
use crate::context::Ctx;
use crate::error::{CliError, classify};

/// Arguments of `logout` (the rack comes from the global `--rack`, default: current).
#[derive(Debug, Args)]
pub struct LogoutArgs {}

/// Runs `logout`.
pub async fn run(ctx: &Ctx, _args: LogoutArgs) -> Result<()> {
    let mut config = ctx.load_config()?;
    let Some((rack, login)) = config.get(ctx.rack.as_deref()) else {
        return Err(match &ctx.rack {
            Some(r) => CliError::new("rack_not_found", format!("no saved login for rack {r}")),
            None => CliError::new("not_logged_in", "not logged in"),
        }
        .into());
    };
    let rack = rack.to_owned();
    let client = Client::new(&login.url, Some(login.session_token.clone()))?;
    let server = client.post_empty("/api/v1/auth/logout").await;
    config.remove(&rack);
    ctx.save_config(&config)?;

    let (ended_on_server, failure) = match &server {
        Ok(()) => (true, None),
        Err(e) => {
            let c = classify(e);
            // 401: unknown, expired or already ended; nothing is left to end on the server.
            if c.status == Some(401) {
                (true, None)
            } else {
                (false, Some(c))
            }
        }
    };
    if ctx.json() {
        crate::output::print_json(&json!({
            "rack": rack,
            "removed_locally": true,
            "ended_on_server": ended_on_server,
        }));
    }
    match failure {
        None => {
            if !ctx.json() {
                println!("Logged out of {rack}.");
            }
            Ok(())
        }
        Some(c) => {
            eprintln!(
                "The saved session of {rack} was removed, but the gateway could not end it: it may stay valid until it expires."
            );
            Err(CliError::new(c.code, c.message).into())
        }
    }
}
