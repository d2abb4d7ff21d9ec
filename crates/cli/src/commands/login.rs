//! `rack-gateway login <rack> <url>`: a local account (`--email`, password on stdin or asked
//! on the terminal) or, without `--email`, the browser (OpenID Connect) flow with PKCE. An
//! account with MFA then proves it (`--mfa-code` or a prompt), which rotates the session.
//! The session is saved under the rack name, which becomes current.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::{CliStart, LoginResponse};
use crate::client::Client;
use crate::config::RackLogin;
use crate::context::{Ctx, normalize_url};
use crate::error::CliError;
use crate::mfa_session;

/// Arguments of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// A name for this gateway (e.g. `production`); later commands pick it with `--rack`.
    pub rack: String,
    /// The gateway's URL, e.g. `https://gateway.example.com`.
    #[arg(value_name = "URL")]
    pub gateway_url: String,
    /// Log in with a local account instead of the browser.
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// Read the password from stdin (otherwise it is asked on the terminal).
    #[arg(long, requires = "email")]
    pub password_stdin: bool,
    /// A TOTP or backup code, for accounts with MFA (otherwise asked on the terminal).
    #[arg(long, value_name = "CODE")]
    pub mfa_code: Option<String>,
    /// Print the login link without trying to open a browser.
    #[arg(long, conflicts_with = "email")]
    pub no_browser: bool,
    /// How long to wait for the browser login, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300,
        conflicts_with = "email"
    )]
    pub timeout: u64,
}

/// Runs `login`.
pub async fn run(ctx: &Ctx, args: LoginArgs) -> Result<()> {
    let rack = parse_rack_name(&args.rack)?;
    let url = parse_gateway_url(&args.gateway_url)?;
    let mut client = Client::new(&url, None)?;
    let login = match &args.email {
        Some(email) => password_login(ctx, &client, email, args.password_stdin).await?,
        None => browser_login(ctx, &client, &args).await?,
    };
    let token = login.session_token.clone().ok_or_else(|| {
        CliError::new(
            "invalid_response",
            "the gateway returned no session token for a CLI login",
        )
    })?;
    client.set_token(token.clone());
    let (token, mfa_verified) = prove_mfa(ctx, &client, token, args.mfa_code.as_deref()).await?;

    let mut config = ctx.load_config()?;
    config.racks.insert(
        rack.clone(),
        RackLogin {
            url: url.clone(),
            session_token: token,
            expires_at: login.expires_at.clone(),
            email: Some(login.user.email.clone()),
        },
    );
    config.current = Some(rack.clone());
    ctx.save_config(&config)?;

    if ctx.json() {
        crate::output::print_json(&json!({
            "rack": rack,
            "url": url,
            "email": login.user.email,
            "role": login.user.role,
            "expires_at": login.expires_at,
            "mfa_verified": mfa_verified,
        }));
    } else {
        println!(
            "Logged in to {rack} ({url}) as {} ({}).",
            login.user.email, login.user.role
        );
    }
    Ok(())
}

/// `POST /auth/login` with the password from stdin or the terminal.
async fn password_login(
    ctx: &Ctx,
    client: &Client,
    email: &str,
    from_stdin: bool,
) -> Result<LoginResponse> {
    let password = if from_stdin {
        read_password_stdin()?
    } else if ctx.interactive {
        crate::prompt::secret(&format!("Password for {email}: "))?
    } else {
        return Err(CliError::usage(
            "password_required",
            "no terminal to ask for the password: pass --password-stdin and write it to stdin",
        )
        .into());
    };
    if password.expose_secret().is_empty() {
        return Err(CliError::usage("password_required", "the password is empty").into());
    }
    client
        .post(
            "/api/v1/auth/login",
            &json!({
                "email": email,
                "password": password.expose_secret(),
                "channel": "cli",
            }),
        )
        .await
}

/// The first line of stdin, without its line ending.
fn read_password_stdin() -> Result<SecretString> {
    let mut buf = String::new();
    std::io::stdin()
        .read_to_string(&mut buf)
        .context("reading the password from stdin")?;
    let line = buf.lines().next().unwrap_or_default();
    Ok(SecretString::from(line.to_owned()))
}

/// A PKCE pair: the verifier (32 random bytes, base64url) and its S256 challenge.
pub fn pkce_pair() -> (SecretString, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (SecretString::from(verifier), challenge)
}

/// The browser flow: start, show the link, poll until the browser side is done.
async fn browser_login(ctx: &Ctx, client: &Client, args: &LoginArgs) -> Result<LoginResponse> {
    let (verifier, challenge) = pkce_pair();
    let started: CliStart = client
        .post(
            "/api/v1/auth/cli/start",
            &json!({ "code_challenge": challenge }),
        )
        .await?;
    eprintln!("Open this link in a browser to log in (it shows where the login started):");
    eprintln!("{}", started.login_url);
    if !args.no_browser {
        crate::prompt::open_browser(&started.login_url);
    }
    let body = json!({
        "flow_id": started.flow_id,
        "code_verifier": verifier.expose_secret(),
    });
    let timeout = Duration::from_secs(args.timeout);
    let begun = Instant::now();
    let mut progress = Progress::new(ctx.interactive);
    loop {
        let polled = client.post_status("/api/v1/auth/cli/complete", &body).await;
        // A network hiccup while waiting is not fatal; a refusal from the gateway is.
        match polled {
            Ok((StatusCode::ACCEPTED, _)) => {}
            Ok((_, value)) => {
                progress.finish();
                return serde_json::from_value(value).map_err(|e| {
                    CliError::new(
                        "invalid_response",
                        format!("unexpected answer from the gateway: {e}"),
                    )
                    .into()
                });
            }
            Err(e) if crate::error::classify(&e).code == "network_error" => {
                progress.note(&crate::error::classify(&e).message);
            }
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        }
        let waited = begun.elapsed();
        if waited >= timeout {
            progress.finish();
            return Err(CliError::timeout(
                "login_timed_out",
                format!(
                    "the browser login did not finish within {}s; run rack-gateway login again",
                    timeout.as_secs()
                ),
            )
            .into());
        }
        progress.tick(waited);
        tokio::time::sleep(Duration::from_secs(1).min(timeout - waited)).await;
    }
}

/// Waiting feedback: a live line on a terminal, a plain line every 30 s otherwise.
struct Progress {
    live: bool,
    last_plain: u64,
}

impl Progress {
    fn new(live: bool) -> Progress {
        if !live {
            eprintln!("Waiting for the browser login to finish...");
        }
        Progress {
            live,
            last_plain: 0,
        }
    }

    fn tick(&mut self, waited: Duration) {
        let secs = waited.as_secs();
        if self.live {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            let frame = FRAMES[usize::try_from(secs % 4).unwrap_or(0)];
            eprint!("\r{frame} Waiting for the browser login... {secs}s ");
        } else if secs / 30 > self.last_plain / 30 {
            eprintln!("Still waiting for the browser login ({secs}s)...");
            self.last_plain = secs;
        }
    }

    fn note(&mut self, message: &str) {
        if self.live {
            eprintln!();
        }
        eprintln!("warning: {message}; retrying");
    }

    fn finish(&mut self) {
        if self.live {
            eprint!("\r\x1b[2K");
        }
    }
}

/// Tries `xdg-open` or `open`; failing to open a browser is not an error.
/// Verifies MFA for a fresh session when the account has a factor; returns the session token
/// to keep (rotated on verification) and whether it is MFA-verified. On failure the fresh
/// session is ended, so no half-logged-in session stays behind.
async fn prove_mfa(
    ctx: &Ctx,
    client: &Client,
    token: SecretString,
    code: Option<&str>,
) -> Result<(SecretString, bool)> {
    let status = mfa_session::status(client).await?;
    if !status.enrolled {
        if code.is_some() {
            eprintln!("note: this account has no MFA factor; --mfa-code was not used");
        }
        if status.required {
            eprintln!(
                "MFA is required for this account: enrol an authenticator with `rack-gateway mfa enroll totp` before using other commands."
            );
        }
        return Ok((token, false));
    }
    if status.session_verified_at.is_some() {
        return Ok((token, true));
    }
    let verified = async {
        let code = mfa_session::code_or_prompt(
            code,
            ctx.interactive,
            "--mfa-code",
            "this account has MFA",
        )?;
        mfa_session::verify(client, &code).await
    }
    .await;
    match verified {
        Ok(v) => {
            let token = v.session_token.ok_or_else(|| {
                CliError::new(
                    "invalid_response",
                    "the gateway verified MFA but returned no session token",
                )
            })?;
            Ok((token, true))
        }
        Err(e) => {
            let _ = client.post_empty("/api/v1/auth/logout").await;
            Err(e)
        }
    }
}

/// A rack name: letters, digits, `.`, `_` and `-`, at most 64 characters.
fn parse_rack_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(CliError::usage(
            "invalid_rack_name",
            format!("invalid rack name {name:?}: use letters, digits, '.', '_' and '-'"),
        )
        .into())
    }
}

/// An `http(s)://` URL, normalised without a trailing slash. Plain http to anything but the
/// local machine would send the password and session in clear text, so it gets a warning.
fn parse_gateway_url(raw: &str) -> Result<String> {
    let bad = |why: String| CliError::usage("invalid_gateway_url", why);
    let parsed = url::Url::parse(raw.trim())
        .map_err(|e| bad(format!("invalid gateway URL {raw:?}: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let local = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !local {
                eprintln!(
                    "warning: {raw} is plain http; your password and session travel unencrypted"
                );
            }
        }
        other => {
            return Err(bad(format!(
                "the gateway URL must be http or https, not {other}"
            ))
            .into());
        }
    }
    if parsed.cannot_be_a_base() || parsed.host().is_none() {
        return Err(bad(format!("invalid gateway URL {raw:?}")).into());
    }
    Ok(normalize_url(parsed.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_s256_of_a_43_character_verifier() {
        let (v, c) = pkce_pair();
        assert_eq!(v.expose_secret().len(), 43);
        assert_eq!(
            c,
            URL_SAFE_NO_PAD.encode(Sha256::digest(v.expose_secret().as_bytes()))
        );
        assert_ne!(pkce_pair().1, c, "fresh randomness each time");
    }

    #[test]
    fn gateway_urls_are_normalised_and_other_schemes_refused() {
        assert_eq!(
            parse_gateway_url("https://gw.example.com/").unwrap(),
            "https://gw.example.com"
        );
        assert!(parse_gateway_url("ftp://gw.example.com").is_err());
        assert!(parse_gateway_url("gw.example.com").is_err());
    }

    #[test]
    fn rack_names_are_simple_words() {
        assert!(parse_rack_name("prod-eu.1").is_ok());
        assert!(parse_rack_name("").is_err());
        assert!(parse_rack_name("a/b").is_err());
    }
}
