//! `rack-gateway deploy-approval approve <id> [--notes N] [--mfa-code C] [--yes]`: shows what
//! is being approved, asks for confirmation on a terminal, and approves with MFA for this
//! request (a TOTP or backup code). Approving needs an admin's login session; the gateway
//! refuses API tokens. The digest of what was shown is sent back, so an intent that changed
//! in between is refused rather than approved unseen. An admin whose only factor is a
//! security key (or who passes `--security-key`) approves in the web UI instead, see
//! [`super::browser`].

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, Result};
use clap::Args;
use rgw_core::approval::ApprovalStatus;
use rgw_core::wire::{ApproveBody, DeployApprovalRequest};
use secrecy::ExposeSecret as _;

use super::{details, path};
use crate::context::{Ctx, Source};
use crate::error::CliError;

/// `--help` examples.
pub const EXAMPLES: &str = "\
Examples:
  rack-gateway deploy-approval approve <request-id> --notes \"Reviewed diff, LGTM\"
  rack-gateway deploy-approval approve 3f2a --mfa-code 123456 --yes";

/// Arguments of `deploy-approval approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The request's public id, or a unique prefix of it.
    pub id: String,
    /// Review notes, recorded with the approval.
    #[arg(long)]
    pub notes: Option<String>,
    /// MFA code for this approval (authenticator or backup code); asked for on a terminal
    /// when not given.
    #[arg(
        long,
        value_name = "CODE",
        env = "RACK_GATEWAY_MFA_CODE",
        hide_env_values = true
    )]
    pub mfa_code: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Approve with a security key in the web UI (the default when the account has keys but
    /// no authenticator app); the CLI waits until the approval is recorded.
    #[arg(long, conflicts_with = "mfa_code")]
    pub security_key: bool,
    /// With a security key: do not try to open the browser, only print the link.
    #[arg(long)]
    pub no_browser: bool,
    /// With a security key: give up waiting after this long (e.g. 90s, 15m) and exit 5.
    #[arg(long, value_parser = crate::duration::parse, default_value = "15m")]
    pub timeout: std::time::Duration,
}

/// Runs `deploy-approval approve`.
pub async fn run(ctx: &Ctx, args: ApproveArgs) -> Result<()> {
    let target = ctx.target()?;
    if target.source == Source::Env {
        return Err(CliError::new(
            "api_tokens_cannot_approve",
            "approving needs an admin's login session, not RACK_GATEWAY_API_TOKEN: unset it and run rack-gateway login",
        )
        .into());
    }
    let req = super::resolve(&target.client, &args.id).await?;
    if req.status != ApprovalStatus::Pending {
        return Err(CliError::new(
            "invalid_state",
            format!(
                "deploy approval request {} is {}, not pending; only pending requests can be approved",
                req.public_id, req.status
            ),
        )
        .into());
    }
    let terminal = ctx.interactive && std::io::stdin().is_terminal();
    if !ctx.json() || terminal {
        eprint!("{}", details(&req, &target.url));
    }
    if terminal && !args.yes && !confirm(&req)? {
        return Err(CliError::new("aborted", "not approved").into());
    }
    let given = args.mfa_code.as_deref().filter(|c| !c.trim().is_empty());
    let mut why = "approving needs MFA for this request";
    if given.is_none() {
        let mfa = crate::mfa_session::status(&target.client).await?;
        if mfa.webauthn_credentials > 0 {
            why = "approving needs MFA for this request (or --security-key to use a key)";
        }
        if args.security_key || (!mfa.totp && mfa.webauthn_credentials > 0) {
            if args.notes.as_deref().is_some_and(|n| !n.trim().is_empty()) {
                eprintln!(
                    "note: --notes is not sent with a security-key approval; enter the notes on the page"
                );
            }
            return super::browser::approve(
                ctx,
                &target,
                req,
                terminal && !args.no_browser,
                args.timeout,
            )
            .await;
        }
    }
    let code =
        crate::mfa_session::code_or_prompt(args.mfa_code.as_deref(), terminal, "--mfa-code", why)?;
    let body = ApproveBody {
        notes: args.notes.filter(|n| !n.trim().is_empty()),
        intent_digest: req.intent_digest.clone(),
        mfa: crate::mfa_session::proof(code.expose_secret()),
    };
    let approved: DeployApprovalRequest = target
        .client
        .post(&path(&req.public_id, "/approve"), &body)
        .await?;
    if ctx.json() {
        crate::output::print_json(&approved);
    } else {
        println!("{}", super::wait::summary(&approved));
    }
    Ok(())
}

fn confirm(req: &DeployApprovalRequest) -> Result<bool> {
    eprint!(
        "Approve deploying {} of {}? [y/N] ",
        req.git_commit_hash.short(),
        req.app
    );
    std::io::stderr()
        .flush()
        .context("writing to the terminal")?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
