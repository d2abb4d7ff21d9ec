//! Approving with a security key (`approve` for an admin whose only factor is WebAuthn, or
//! with `--security-key`). A WebAuthn assertion is bound to the relying party, the gateway's
//! own origin, so the ceremony cannot run in a terminal: the CLI prints (and on a terminal
//! opens) the request's page in the web UI, where the admin approves with the key, and
//! follows the request's event stream until that admin's approval is recorded, or the request
//! is decided, expires, or `--timeout` passes (exit codes as for `wait`).

use std::time::Duration;

use anyhow::Result;
use rgw_core::approval::ApprovalStatus;
use rgw_core::wire::DeployApprovalRequest;

use super::wait::{follow_until, summary};
use super::{outcome, web_link};
use crate::api::WhoAmI;
use crate::context::{Ctx, Target};
use crate::error::CliError;

/// Whether `email` has approved `r`.
fn approved_by(r: &DeployApprovalRequest, email: &str) -> bool {
    r.approvals
        .iter()
        .any(|a| a.user.eq_ignore_ascii_case(email))
}

/// Runs the browser-assisted approval of `req` (pending) and waits for its result.
pub async fn approve(
    ctx: &Ctx,
    target: &Target,
    req: DeployApprovalRequest,
    open: bool,
    timeout: Duration,
) -> Result<()> {
    let me: WhoAmI = target.client.get("/api/v1/auth/whoami").await?;
    let email = me.email.ok_or_else(|| {
        CliError::new(
            "invalid_response",
            "the gateway did not say which user this session belongs to",
        )
    })?;
    let link = web_link(&target.url, &req.public_id);
    eprintln!(
        "{email} approves with a security key, which works only on the gateway's own site:\n  open {link}\n  and approve there with the key."
    );
    if open {
        crate::prompt::open_browser(&link);
    }
    eprintln!(
        "Waiting for the approval by {email} (gives up after {}).",
        crate::duration::human(timeout)
    );
    let done =
        |r: &DeployApprovalRequest| r.status != ApprovalStatus::Pending || approved_by(r, &email);
    let last = follow_until(ctx, &target.client, req, timeout, &done).await?;
    if ctx.json() {
        crate::output::print_json(&last);
    } else {
        println!("{}", summary(&last));
    }
    if approved_by(&last, &email) {
        if last.status == ApprovalStatus::Pending {
            let more =
                (last.required_approvals.max(1) as usize).saturating_sub(last.approvals.len());
            eprintln!("{email}'s approval is recorded; {more} more needed");
        }
        return Ok(());
    }
    if last.status == ApprovalStatus::Approved || last.status == ApprovalStatus::Deployed {
        eprintln!("note: approved by other admins; {email}'s approval was not needed");
    }
    outcome(&last).unwrap_or(Ok(()))
}
