//! `rack-gateway api-token create|list|revoke`. `create` prints the secret once: in text mode
//! only the token goes to stdout (details to stderr), so `TOKEN=$(rack-gateway api-token
//! create …)` works.

use anyhow::Result;
use clap::{ArgGroup, Args, Subcommand};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::api::{ApiToken, CreatedToken};
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::or_dash;

/// `api-token` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token; the secret is printed once.
    Create(CreateArgs),
    /// List your tokens (all tokens with the read permission).
    List,
    /// Revoke a token by public id or name.
    Revoke(RevokeArgs),
}

/// Arguments of `api-token create`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["role", "permissions"])))]
pub struct CreateArgs {
    /// A unique name, e.g. `circleci-deploy`.
    #[arg(long)]
    pub name: String,
    /// Scope the token by role (`viewer`, `ops`, `deployer`, `admin`, `cicd`).
    #[arg(long)]
    pub role: Option<String>,
    /// Scope the token by permission (`<scope>:<resource>:<action>`); repeat for several.
    #[arg(long = "permission", value_name = "PERMISSION")]
    pub permissions: Vec<String>,
    /// Expire the token after this many days.
    #[arg(long, value_name = "DAYS")]
    pub expires_in_days: Option<i64>,
    /// Owner of the token (default: you); needs the token-manage permission.
    #[arg(long, value_name = "EMAIL")]
    pub owner_email: Option<String>,
}

/// Arguments of `api-token revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's public id or its name.
    pub token: String,
}

/// Runs an `api-token` subcommand.
pub async fn run(ctx: &Ctx, cmd: ApiTokenCommand) -> Result<()> {
    match cmd {
        ApiTokenCommand::Create(args) => create(ctx, args).await,
        ApiTokenCommand::List => list(ctx).await,
        ApiTokenCommand::Revoke(args) => revoke(ctx, args).await,
    }
}

async fn create(ctx: &Ctx, args: CreateArgs) -> Result<()> {
    let target = ctx.target()?;
    let mut body = json!({ "name": args.name });
    if let Some(role) = &args.role {
        body["role"] = json!(role);
    } else {
        body["permissions"] = json!(args.permissions);
    }
    if let Some(d) = args.expires_in_days {
        body["expires_in_days"] = json!(d);
    }
    if let Some(e) = &args.owner_email {
        body["owner_email"] = json!(e);
    }
    let created: CreatedToken = target.client.post("/api/v1/api-tokens", &body).await?;
    let t = &created.api_token;
    if ctx.json() {
        crate::output::print_json(&json!({
            "token": created.token.expose_secret(),
            "api_token": t,
        }));
    } else {
        println!("{}", created.token.expose_secret());
        eprintln!(
            "Created API token {} ({}) for {}, {}, expires {}.",
            t.name,
            t.public_id,
            t.owner_email,
            t.scope(),
            t.expires_at.as_deref().unwrap_or("never")
        );
        eprintln!("Store it now: it is not shown again.");
    }
    Ok(())
}

async fn list(ctx: &Ctx) -> Result<()> {
    let target = ctx.target()?;
    let tokens: Vec<ApiToken> = target.client.get("/api/v1/api-tokens").await?;
    if ctx.json() {
        crate::output::print_json(&tokens);
        return Ok(());
    }
    if tokens.is_empty() {
        println!("No API tokens.");
        return Ok(());
    }
    let rows: Vec<[String; 7]> = tokens
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                t.public_id.clone(),
                t.owner_email.clone(),
                t.scope(),
                or_dash(t.expires_at.as_deref()).to_owned(),
                or_dash(t.last_used_at.as_deref()).to_owned(),
                if t.revoked_at.is_some() {
                    "revoked".to_owned()
                } else {
                    "active".to_owned()
                },
            ]
        })
        .collect();
    let header = [
        "NAME",
        "ID",
        "OWNER",
        "SCOPE",
        "EXPIRES",
        "LAST USED",
        "STATUS",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
    Ok(())
}

async fn revoke(ctx: &Ctx, args: RevokeArgs) -> Result<()> {
    let target = ctx.target()?;
    let id = if uuid::Uuid::parse_str(&args.token).is_ok() {
        args.token.clone()
    } else {
        let tokens: Vec<ApiToken> = target.client.get("/api/v1/api-tokens").await?;
        let mut matching: Vec<&ApiToken> = tokens.iter().filter(|t| t.name == args.token).collect();
        // Prefer a live token over a revoked one of the same name.
        matching.sort_by_key(|t| t.revoked_at.is_some());
        matching
            .first()
            .map(|t| t.public_id.clone())
            .ok_or_else(|| {
                CliError::new(
                    "token_not_found",
                    format!(
                        "no API token named {} among the tokens you can see",
                        args.token
                    ),
                )
            })?
    };
    let revoked: ApiToken = target
        .client
        .delete(&format!("/api/v1/api-tokens/{id}"))
        .await?;
    if ctx.json() {
        crate::output::print_json(&revoked);
    } else {
        println!(
            "Revoked API token {} ({}).",
            revoked.name, revoked.public_id
        );
    }
    Ok(())
}
