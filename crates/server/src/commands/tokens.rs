//! `rack-gateway-server tokens create|list|revoke`: operator commands for API tokens.
//! `create` prints only the token on standard output (scripts capture it); everything else
//! goes to standard error.

use std::process::ExitCode;

use anyhow::{Context, bail};
use rgw_core::TokenName;
use rgw_store::ApiToken;
use secrecy::ExposeSecret;
use serde_json::json;
use time::Duration;
use uuid::Uuid;

use crate::api::tokens::{TokenScope, TokenSpec, create_and_audit};
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::RequestMeta;
use crate::commands::users::{find, state};
use crate::config::Config;

/// `tokens` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (only the token) on standard output.
    Create {
        #[arg(long)]
        name: String,
        /// Role of the token (viewer, ops, deployer, admin, cicd); or use --permission.
        #[arg(long)]
        role: Option<String>,
        /// Explicit permission (repeatable) instead of a role.
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Owner's email.
        #[arg(long)]
        owner: String,
        /// Lifetime such as 90d or 12h (default: no expiry).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List tokens.
    List,
    /// Revoke a token by name or public id.
    Revoke {
        #[arg(long, conflicts_with = "id", required_unless_present = "id")]
        name: Option<String>,
        #[arg(long)]
        id: Option<Uuid>,
    },
}

/// Parses `90d`, `12h` or a plain number of days.
pub fn parse_lifetime(raw: &str) -> anyhow::Result<Duration> {
    let raw = raw.trim();
    let (num, unit) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], c),
        _ => (raw, 'd'),
    };
    let n: i64 = num.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        anyhow::anyhow!("--expires-in {raw:?}: use a positive number with d or h, e.g. 90d")
    })?;
    let d = match unit {
        'd' => Duration::days(n),
        'h' => Duration::hours(n),
        _ => bail!("--expires-in {raw:?}: the unit is d (days) or h (hours)"),
    };
    if d > Duration::days(crate::api::tokens::MAX_EXPIRY_DAYS) {
        bail!(
            "--expires-in {raw:?}: at most {} days",
            crate::api::tokens::MAX_EXPIRY_DAYS
        );
    }
    Ok(d)
}

/// Runs a `tokens` subcommand.
pub async fn run(config: Config, cmd: TokensCommand) -> anyhow::Result<ExitCode> {
    let state = state(config).await?;
    let result = run_with(&state, cmd).await;
    // Every audit event must be stored before the process exits.
    state.auditor.shutdown().await;
    state.store.close().await;
    result
}

async fn run_with(state: &crate::app::AppState, cmd: TokensCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokensCommand::Create {
            name,
            role,
            permissions,
            owner,
            expires_in,
        } => {
            let name = TokenName::parse(name.trim()).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let perms = (!permissions.is_empty()).then_some(permissions.as_slice());
            let scope =
                TokenScope::parse(role.as_deref(), perms).map_err(|e| anyhow::anyhow!("{e}"))?;
            let lifetime = expires_in.as_deref().map(parse_lifetime).transpose()?;
            let owner = find(state, &owner).await?;
            if !owner.is_active() {
                bail!("{} is suspended, locked or deleted", owner.email);
            }
            let (secret, row) = create_and_audit(
                state,
                Actor::System,
                TokenSpec {
                    name: &name,
                    scope: &scope,
                    owner: &owner,
                    expires_in: lifetime,
                    created_by: None,
                },
                &RequestMeta::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "created API token {} ({}) owned by {}; it is shown only once",
                row.name, row.public_id, owner.email
            );
            println!("{}", secret.expose_secret());
        }
        TokensCommand::List => {
            println!(
                "{:<30} {:<36} {:<30} {:<9} {:<20} {:<20} STATUS",
                "NAME", "ID", "OWNER", "ROLE", "EXPIRES", "LAST USED"
            );
            let now = state.clock.now();
            for t in state.store.list_api_tokens().await? {
                let owner = state
                    .store
                    .get_user(t.owner_user_id)
                    .await
                    .map(|u| u.email)
                    .unwrap_or_default();
                println!(
                    "{:<30} {:<36} {:<30} {:<9} {:<20} {:<20} {}",
                    t.name,
                    t.public_id,
                    owner,
                    t.role.as_deref().unwrap_or("custom"),
                    t.expires_at
                        .map(crate::api::ts)
                        .unwrap_or_else(|| "never".into()),
                    t.last_used_at
                        .map(crate::api::ts)
                        .unwrap_or_else(|| "never".into()),
                    status(&t, now),
                );
            }
        }
        TokensCommand::Revoke { name, id } => {
            let token = match (name, id) {
                (_, Some(id)) => state.store.get_api_token_by_public_id(id).await,
                (Some(name), None) => state.store.get_api_token_by_name(&name).await,
                (None, None) => bail!("give --name or --id"),
            }
            .map_err(|e| anyhow::anyhow!("no such token: {e}"))?;
            let now = state.clock.now();
            if state.store.revoke_api_token(token.id, now).await? {
                let event =
                    AuditEvent::new(now, Actor::System, "api_token.revoke", Outcome::Success)
                        .resource(token.public_id.to_string())
                        .details(json!({ "name": token.name, "via": "operator_command" }));
                // Revocation is already in effect; exit non-zero if its event is not stored.
                state
                    .auditor
                    .record_and_wait(event)
                    .await
                    .context("the token is revoked but its audit event was not stored")?;
                println!("revoked {} ({})", token.name, token.public_id);
            } else {
                println!("{} ({}) was already revoked", token.name, token.public_id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(t: &ApiToken, now: time::OffsetDateTime) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}
