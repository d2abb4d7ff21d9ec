//! The `rack-gateway-server` command line: one file per subcommand.

pub mod audit;
mod config_cmd;
pub mod dev;
pub mod jobs;
pub mod mfa;
mod serve;
pub mod tokens;
pub mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// rack-gateway: the deploy-approval gateway for Convox racks.
#[derive(Debug, Parser)]
#[command(name = "rack-gateway-server", version, about)]
pub struct Cli {
    /// Optional TOML configuration file (environment variables RGW_* override it).
    #[arg(long, global = true, env = "RGW_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (production): configuration from RGW_* and the optional file.
    Serve,
    /// Run the whole product locally with no setup: SQLite, an embedded fake rack, seeded users.
    Dev(dev::DevArgs),
    /// Print the effective configuration with secrets masked.
    Config,
    /// Manage users: add, list, suspend, unlock.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage API tokens: create (prints only the token), list, revoke.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// MFA bootstrap: enroll-totp prints an otpauth:// URI for a user.
    #[command(subcommand)]
    Mfa(mfa::MfaCommand),
    /// Audit log: verify the hash chain, export events, write signed checkpoints.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Durable jobs (integrations): list, show, retry, discard.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => serve::run(load(&cli.config)?).await,
        Command::Dev(args) => dev::run(args).await,
        Command::Config => Ok(config_cmd::run(cli.config.as_deref())),
        Command::Users(cmd) => users::run(load(&cli.config)?, cmd).await,
        Command::Tokens(cmd) => tokens::run(load(&cli.config)?, cmd).await,
        Command::Mfa(cmd) => mfa::run(load(&cli.config)?, cmd).await,
        Command::Audit(cmd) => audit::run(load(&cli.config)?, cmd).await,
        Command::Jobs(cmd) => jobs::run(load(&cli.config)?, cmd).await,
    }
}

/// Loads configuration from the process environment and the optional file.
pub fn load(file: &Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(Config::load(file.as_deref(), std::env::vars())?)
}
