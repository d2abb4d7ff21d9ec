//! The `rack-gateway` CLI (PRODUCT.md §13, §16): global flags, credential resolution and the
//! dispatch to one module per subcommand under [`commands`]. [`run`] is the whole program;
//! `main.rs` only hands it the process arguments.
//!
//! Exit codes: 0 success (or approved), 1 error (API or network), 2 usage, 3 rejected,
//! 4 expired, 5 timed out.

pub mod api;
pub mod client;
pub mod commands;
pub mod config;
pub mod context;
pub mod duration;
pub mod error;
pub mod local;
pub mod mfa_session;
pub mod output;
pub mod prompt;
pub mod sse;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{
    api_token, completions, deploy, deploy_approval, login, logout, mfa, whoami,
};
use crate::context::Ctx;
use crate::output::Output;

/// `--help` examples: the seed's commands, then a deploy.
pub const EXAMPLES: &str = "\
Examples:
  rack-gateway login prod https://gateway.example.com --email me@example.com --password-stdin
  rack-gateway deploy-approval request --app myapp --git-commit \"$SHA\" --branch \"$BRANCH\" \\
    --ci-metadata '{\"workflow_id\":\"abc-123\",\"pipeline_number\":\"42\"}' --message \"Deploy to production\"
  rack-gateway deploy-approval request --git-commit abc123f --message \"Deploy\" --wait --timeout 20m
  rack-gateway deploy-approval approve <request-id> --notes \"Reviewed diff, LGTM\"
  rack-gateway deploy-approval list --status pending
  rack-gateway deploy --app myapp

CI authenticates with RACK_GATEWAY_URL and RACK_GATEWAY_API_TOKEN.
Exit codes: 0 success or approved, 1 error, 2 usage, 3 rejected, 4 expired, 5 timed out.";

/// The CLI of rack-gateway, the deploy-approval gateway in front of a Convox rack.
#[derive(Debug, Parser)]
#[command(name = "rack-gateway", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// Use this saved login (default: the one `login` saved last).
    #[arg(long, global = true, value_name = "NAME")]
    pub rack: Option<String>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,

    /// Gateway URL, overriding the saved login's (with RACK_GATEWAY_API_TOKEN for CI).
    #[arg(long, global = true, env = "RACK_GATEWAY_URL", value_name = "URL")]
    pub url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a gateway and save the session under a rack name.
    Login(login::LoginArgs),
    /// End the saved session (on the server, then locally).
    Logout(logout::LogoutArgs),
    /// Show who the gateway thinks you are.
    Whoami(whoami::WhoamiArgs),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    ApiToken(api_token::ApiTokenCommand),
    /// Multi-factor authentication: status, TOTP enrolment, backup codes.
    #[command(subcommand)]
    Mfa(mfa::MfaCommand),
    /// Request, approve, reject, list, show and wait for deploy approvals.
    #[command(subcommand, after_help = deploy_approval::EXAMPLES)]
    DeployApproval(deploy_approval::DeployApprovalCommand),
    /// Build and deploy a directory to an app, as `convox deploy` does, through the gateway.
    #[command(after_help = deploy::EXAMPLES)]
    Deploy(deploy::DeployArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions(completions::CompletionsArgs),
}

/// Runs the CLI with `args` (the first is the program name) and returns its exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version print to stdout and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let output = cli.output;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return error::report(
                &anyhow::Error::new(e).context("starting the async runtime"),
                output,
            );
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => error::report(&e, output),
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::new(cli.output, cli.rack, cli.url);
    match cli.command {
        Command::Login(args) => login::run(&ctx, args).await,
        Command::Logout(args) => logout::run(&ctx, args).await,
        Command::Whoami(args) => whoami::run(&ctx, args).await,
        Command::ApiToken(cmd) => api_token::run(&ctx, cmd).await,
        Command::Mfa(cmd) => mfa::run(&ctx, cmd).await,
        Command::DeployApproval(cmd) => deploy_approval::run(&ctx, cmd).await,
        Command::Deploy(args) => deploy::run(&ctx, args).await,
        Command::Completions(args) => completions::run(&ctx, &args),
    }
}
