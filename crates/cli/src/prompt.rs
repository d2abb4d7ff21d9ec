//! Terminal interaction: whether we may prompt, hidden input for passwords and codes, and
//! progress lines.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use secrecy::SecretString;

/// Whether a person is watching: prompts and live progress need stderr on a terminal.
/// Passwords and codes are read from the terminal itself (not stdin), so
/// `echo pw | rack-gateway login … --password-stdin` can still ask for an MFA code.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// Asks for a secret on the terminal without echoing it.
pub fn secret(prompt: &str) -> Result<SecretString> {
    let s = rpassword::prompt_password(prompt).context("reading from the terminal")?;
    Ok(SecretString::from(s.trim().to_owned()))
}

/// Opens `url` in the user's browser (`open` on macOS, `xdg-open` elsewhere). Never fails:
/// without an opener the user opens the printed link themselves.
pub fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("(could not start {opener}: {e}; open the link yourself)");
    }
}
