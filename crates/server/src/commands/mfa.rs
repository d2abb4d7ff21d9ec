//! `rack-gateway-server mfa enroll-totp --email E`: bootstrap TOTP for a user from the server
//! side and print the `otpauth://` URI (PRODUCT.md §16). The enrolment is confirmed at once:
//! the operator running this holds the database and `RGW_SECRET_KEY`, so asking for a first
//! code would prove nothing. It replaces any TOTP the user had.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::app::AppState;
use crate::config::Config;
use crate::mfa::{MfaUser, totp};

/// `mfa` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum MfaCommand {
    /// Enrol (or replace) a user's TOTP and print the otpauth:// URI on stdout.
    EnrollTotp {
        #[arg(long)]
        email: String,
    },
}

/// Runs an `mfa` subcommand.
pub async fn run(config: Config, cmd: MfaCommand) -> anyhow::Result<ExitCode> {
    let store = rgw_store::Store::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let state = AppState::new(config, store)?;
    let result = match cmd {
        MfaCommand::EnrollTotp { email } => enroll_totp(&state, &email).await,
    };
    state.store.close().await;
    result
}

async fn enroll_totp(state: &AppState, email: &str) -> anyhow::Result<ExitCode> {
    let user = match state
        .store
        .get_user_by_email(&email.trim().to_lowercase())
        .await
    {
        Ok(u) => u,
        Err(rgw_store::StoreError::NotFound) => {
            eprintln!("no user with email {email}; add one with `rack-gateway-server users add`");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if user.is_service {
        eprintln!("{email} is a service user: it owns API tokens and cannot use MFA");
        return Ok(ExitCode::FAILURE);
    }
    let enrolment = totp::enroll_confirmed(state, &MfaUser::from(&user))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", enrolment.otpauth_uri.expose_secret());
    Ok(ExitCode::SUCCESS)
}
