//! `rack-gateway-server users add|list|suspend|unlock|unlink-sso`: operator commands working
//! directly on the database (configuration from `RGW_*` and the optional file). Changes are
//! audited with the system actor.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rgw_store::{NewUser, StoreError};
use secrecy::SecretString;
use serde_json::json;

use crate::api::users::{parse_email, parse_user_role};
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::{password, throttle};
use crate::config::Config;

/// `users` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user (an invitation for single sign-on, or a local account with --password-stdin).
    Add {
        #[arg(long)]
        email: String,
        /// viewer, ops, deployer or admin.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List users.
    List,
    /// Suspend a user: sessions end, API tokens stop working.
    Suspend {
        #[arg(long)]
        email: String,
    },
    /// Unlock a locked user and clear the temporary login lockout.
    Unlock {
        #[arg(long)]
        email: String,
    },
    /// Forget a user's single sign-on binding, so that the next SSO login with this email binds
    /// the account again (after the identity provider account was re-created or moved).
    UnlinkSso {
        #[arg(long)]
        email: String,
    },
}

/// Opens the database and wires state for an operator command.
pub(crate) async fn state(config: Config) -> anyhow::Result<AppState> {
    let store = rgw_store::Store::connect(&config.database_url)
        .await
        .context("opening the database (RGW_DATABASE_URL)")?;
    AppState::new(config, store)
}

/// Reads a secret line from standard input (the trailing newline is dropped).
pub(crate) fn read_stdin_secret() -> anyhow::Result<SecretString> {
    let mut raw = String::new();
    std::io::stdin()
        .read_to_string(&mut raw)
        .context("reading the password from standard input")?;
    let line = raw.strip_suffix('\n').unwrap_or(&raw);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(SecretString::from(line.to_owned()))
}

/// Records an operator change and waits until its event is stored: the command exits
/// non-zero when it is not.
async fn audit(
    state: &AppState,
    action: &str,
    resource: String,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let event = AuditEvent::new(state.clock.now(), Actor::System, action, Outcome::Success)
        .resource(resource)
        .details(details);
    state
        .auditor
        .record_and_wait(event)
        .await
        .with_context(|| {
            format!("the change is made but its audit event ({action}) was not stored")
        })?;
    Ok(())
}

/// Runs a `users` subcommand.
pub async fn run(config: Config, cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    let state = state(config).await?;
    let result = run_with(&state, cmd).await;
    // Every audit event must be stored before the process exits.
    state.auditor.shutdown().await;
    state.store.close().await;
    result
}

async fn run_with(state: &AppState, cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    let now = state.clock.now();
    match cmd {
        UsersCommand::Add {
            email,
            role,
            password_stdin,
            name,
        } => {
            let email = parse_email(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let role = parse_user_role(&role).map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let password_hash = if password_stdin {
                let pw = read_stdin_secret()?;
                password::validate_new(&pw).map_err(|m| anyhow::anyhow!("password: {m}"))?;
                Some(password::hash_async(pw).await?)
            } else {
                None
            };
            let new = NewUser {
                email: email.to_string(),
                name,
                role: role.as_str().to_owned(),
                password_hash,
                is_service: false,
                mfa_enforced: true,
            };
            let user = match state.store.create_user(&new, now).await {
                Err(StoreError::Conflict { .. }) => {
                    bail!("a user with email {email} already exists")
                }
                other => other?,
            };
            audit(
                state,
                "user.create",
                user.public_id.to_string(),
                json!({ "email": user.email, "role": user.role, "via": "operator_command" }),
            )
            .await?;
            println!("{} {} {}", user.email, user.role, user.public_id);
        }
        UsersCommand::List => {
            println!("{:<40} {:<9} {:<10} NAME", "EMAIL", "ROLE", "STATUS");
            for u in state.store.list_users().await? {
                let status = if u.suspended_at.is_some() {
                    "suspended"
                } else if u.locked_at.is_some() {
                    "locked"
                } else if u.is_service {
                    "service"
                } else {
                    "active"
                };
                println!("{:<40} {:<9} {:<10} {}", u.email, u.role, status, u.name);
            }
        }
        UsersCommand::Suspend { email } => {
            let user = find(state, &email).await?;
            state
                .store
                .set_user_suspended(user.id, Some(now), now)
                .await?;
            let ended = state.store.revoke_user_sessions(user.id, None, now).await?;
            audit(
                state,
                "user.suspend",
                user.public_id.to_string(),
                json!({ "email": user.email, "via": "operator_command" }),
            )
            .await?;
            println!(
                "suspended {} ({ended} session(s) ended; API tokens stop working)",
                user.email
            );
        }
        UsersCommand::Unlock { email } => {
            let user = find(state, &email).await?;
            state.store.unlock_user(user.id, now).await?;
            throttle::clear(state, &throttle::password_key(&user.email))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            audit(
                state,
                "user.unlock",
                user.public_id.to_string(),
                json!({ "email": user.email, "via": "operator_command" }),
            )
            .await?;
            println!("unlocked {}", user.email);
        }
        UsersCommand::UnlinkSso { email } => {
            let user = find(state, &email).await?;
            let changed = state.store.clear_user_oidc_subject(user.id, now).await?;
            if changed {
                audit(
                    state,
                    "user.oidc_unlink",
                    user.public_id.to_string(),
                    json!({
                        "email": user.email,
                        "issuer": user.oidc_issuer,
                        "subject": user.oidc_subject,
                        "via": "operator_command",
                    }),
                )
                .await?;
                println!(
                    "{} is no longer linked to a single sign-on identity",
                    user.email
                );
            } else {
                println!("{} was not linked to a single sign-on identity", user.email);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Finds a live user by email, with an operator-friendly error.
pub(crate) async fn find(state: &AppState, email: &str) -> anyhow::Result<rgw_store::User> {
    match state.store.get_user_by_email(email).await {
        Err(StoreError::NotFound) => bail!("no user with email {email}"),
        other => Ok(other?),
    }
}
