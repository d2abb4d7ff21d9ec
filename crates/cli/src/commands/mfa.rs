//! `rack-gateway mfa status|enroll totp|backup-codes`.
//!
//! `mfa enroll totp` starts an enrolment (prints the `otpauth://` URI, the secret and a QR
//! code for the terminal) and then confirms it with a code asked on the terminal. Without a
//! terminal it stops after printing; `mfa enroll totp --code CODE` then confirms the pending
//! enrolment. Confirming verifies the session (the gateway rotates it; the new token is saved)
//! and returns the first backup codes.

use anyhow::Result;
use clap::{Args, Subcommand};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::api::{BackupCodes, TotpEnrollment, Verified};
use crate::context::{Ctx, Target};
use crate::error::CliError;
use crate::mfa_session;
use crate::output::or_dash;

/// `mfa` subcommands.
#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Show which factors you have and whether this session verified MFA.
    Status,
    /// Enrol a factor.
    #[command(subcommand)]
    Enroll(EnrollCommand),
    /// Replace your backup codes with new ones (needs a session that verified MFA).
    BackupCodes(BackupCodesArgs),
}

/// `mfa enroll` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnrollCommand {
    /// An authenticator app (TOTP).
    Totp(TotpArgs),
}

/// Arguments of `mfa enroll totp`.
#[derive(Debug, Args)]
pub struct TotpArgs {
    /// Confirm the pending enrolment with this code from the authenticator app.
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
}

/// Arguments of `mfa backup-codes`.
#[derive(Debug, Args)]
pub struct BackupCodesArgs {
    /// Verify MFA first with this TOTP or backup code (otherwise asked on a terminal when
    /// the session has not verified MFA).
    #[arg(long, value_name = "CODE")]
    pub mfa_code: Option<String>,
}

/// Runs an `mfa` subcommand.
pub async fn run(ctx: &Ctx, cmd: MfaCommand) -> Result<()> {
    match cmd {
        MfaCommand::Status => status(ctx).await,
        MfaCommand::Enroll(EnrollCommand::Totp(args)) => enroll_totp(ctx, args).await,
        MfaCommand::BackupCodes(args) => backup_codes(ctx, args).await,
    }
}

async fn status(ctx: &Ctx) -> Result<()> {
    let target = ctx.target()?;
    let s = mfa_session::status(&target.client).await?;
    if ctx.json() {
        crate::output::print_json(&s);
        return Ok(());
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!("enrolled:               {}", yes_no(s.enrolled));
    println!("required:               {}", yes_no(s.required));
    println!("authenticator app:      {}", yes_no(s.totp));
    println!("security keys:          {}", s.webauthn_credentials);
    println!("backup codes left:      {}", s.backup_codes_remaining);
    println!(
        "verified this session:  {}",
        or_dash(s.session_verified_at.as_deref())
    );
    Ok(())
}

async fn enroll_totp(ctx: &Ctx, args: TotpArgs) -> Result<()> {
    let mut target = ctx.target()?;
    if let Some(code) = &args.code {
        return confirm_totp(
            ctx,
            &mut target,
            &SecretString::from(code.trim().to_owned()),
            None,
        )
        .await;
    }
    let e: TotpEnrollment = target
        .client
        .post("/api/v1/mfa/totp/enroll", &json!({}))
        .await?;
    let uri = e.otpauth_uri.expose_secret();
    let qr = render_qr(uri);
    // In JSON mode stdout is reserved for the final document.
    let show = |line: &str| {
        if ctx.json() {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    show("Scan this QR code with your authenticator app, or enter the secret by hand:");
    if let Some(qr) = &qr {
        show(qr);
    }
    show(&format!("URI:    {uri}"));
    show(&format!("Secret: {}", e.secret_base32.expose_secret()));
    if !ctx.interactive {
        if ctx.json() {
            crate::output::print_json(&json!({
                "otpauth_uri": uri,
                "secret_base32": e.secret_base32.expose_secret(),
                "confirmed": false,
            }));
        } else {
            println!(
                "Then confirm with a code from the app: rack-gateway mfa enroll totp --code CODE"
            );
        }
        return Ok(());
    }
    let code = crate::prompt::secret("Code from the authenticator app: ")?;
    let enrolment = json!({
        "otpauth_uri": uri,
        "secret_base32": e.secret_base32.expose_secret(),
    });
    confirm_totp(ctx, &mut target, &code, Some(enrolment)).await
}

/// `POST /mfa/totp/confirm`; saves the rotated session and prints the backup codes.
async fn confirm_totp(
    ctx: &Ctx,
    target: &mut Target,
    code: &SecretString,
    enrolment: Option<serde_json::Value>,
) -> Result<()> {
    let v: Verified = target
        .client
        .post(
            "/api/v1/mfa/totp/confirm",
            &json!({ "code": code.expose_secret() }),
        )
        .await?;
    if let Some(token) = v.session_token.clone() {
        ctx.save_rotated_token(target, token)?;
    }
    if ctx.json() {
        let mut out = json!({
            "confirmed": true,
            "method": v.method,
            "mfa_verified_at": v.mfa_verified_at,
            "backup_codes": v.backup_codes,
        });
        if let Some(e) = enrolment {
            out["otpauth_uri"] = e["otpauth_uri"].clone();
            out["secret_base32"] = e["secret_base32"].clone();
        }
        crate::output::print_json(&out);
        return Ok(());
    }
    println!("Authenticator app enrolled; this session is MFA-verified.");
    if let Some(codes) = &v.backup_codes {
        print_backup_codes(codes);
    }
    Ok(())
}

async fn backup_codes(ctx: &Ctx, args: BackupCodesArgs) -> Result<()> {
    let mut target = ctx.target()?;
    let verify_with = match args.mfa_code.as_deref() {
        Some(c) => Some(SecretString::from(c.trim().to_owned())),
        None => {
            let s = mfa_session::status(&target.client).await?;
            if s.enrolled && s.session_verified_at.is_none() {
                Some(mfa_session::code_or_prompt(
                    None,
                    ctx.interactive,
                    "--mfa-code",
                    "regenerating backup codes needs MFA verified for this session",
                )?)
            } else {
                None
            }
        }
    };
    if let Some(code) = verify_with {
        let v = mfa_session::verify(&target.client, &code).await?;
        let token = v.session_token.ok_or_else(|| {
            CliError::new(
                "invalid_response",
                "the gateway verified MFA but returned no session token",
            )
        })?;
        ctx.save_rotated_token(&mut target, token)?;
    }
    let codes: BackupCodes = target
        .client
        .post("/api/v1/mfa/backup-codes", &json!({}))
        .await?;
    if ctx.json() {
        crate::output::print_json(&codes);
    } else {
        print_backup_codes(&codes.backup_codes);
    }
    Ok(())
}

fn print_backup_codes(codes: &[String]) {
    println!(
        "Backup codes (each works once; store them somewhere safe, they are not shown again):"
    );
    for c in codes {
        println!("  {c}");
    }
}

/// The QR code of `data` as Unicode half blocks (two rows per line), light on dark so it scans
/// on the usual dark terminal.
fn render_qr(data: &str) -> Option<String> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_renders_as_unicode_blocks() {
        let qr = render_qr("otpauth://totp/rack-gateway:a%40example.com?secret=JBSWY3DPEHPK3PXP")
            .unwrap();
        assert!(qr.lines().count() > 10);
        assert!(qr.contains('▀') || qr.contains('▄') || qr.contains('█'));
    }
}
