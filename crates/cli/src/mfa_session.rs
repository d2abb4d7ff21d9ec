//! Proving MFA for the current session (`POST /mfa/verify`): the code comes from `--mfa-code`
//! or a terminal prompt; six digits are a TOTP code, anything else a backup code. The gateway
//! answers with a new, MFA-verified session token, which replaces the old one.

use anyhow::Result;
use rgw_core::wire::MfaProof;
use secrecy::{ExposeSecret, SecretString};

use crate::api::{MfaStatus, Verified};
use crate::client::Client;
use crate::error::CliError;

/// The proof of `code` (the body of `/mfa/verify`, the `mfa` of an approval).
pub fn proof(code: &str) -> MfaProof {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        MfaProof::Totp(code)
    } else {
        MfaProof::BackupCode(code)
    }
}

/// The code to use: the given one, else asked on the terminal, else an error saying how to
/// pass one.
pub fn code_or_prompt(
    given: Option<&str>,
    interactive: bool,
    flag: &str,
    why: &str,
) -> Result<SecretString> {
    if let Some(c) = given.filter(|c| !c.trim().is_empty()) {
        return Ok(SecretString::from(c.trim().to_owned()));
    }
    if interactive {
        let code = crate::prompt::secret("MFA code (authenticator app or backup code): ")?;
        if !code.expose_secret().is_empty() {
            return Ok(code);
        }
    }
    Err(CliError::new(
        "mfa_code_required",
        format!("{why}: pass {flag} CODE (or run in a terminal to be asked)"),
    )
    .into())
}

/// `GET /mfa/status`.
pub async fn status(client: &Client) -> Result<MfaStatus> {
    client.get("/api/v1/mfa/status").await
}

/// Verifies `code` for the client's session; returns the gateway's answer (with the new
/// session token for CLI sessions).
pub async fn verify(client: &Client, code: &SecretString) -> Result<Verified> {
    client
        .post("/api/v1/mfa/verify", &proof(code.expose_secret()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn six_digits_are_a_totp_code_and_anything_else_a_backup_code() {
        let body = |code| serde_json::to_value(proof(code)).unwrap();
        assert_eq!(body("123 456"), json!({"totp": "123456"}));
        assert_eq!(
            body("ABCD-EFGH-JKMN"),
            json!({"backup_code": "ABCD-EFGH-JKMN"})
        );
    }
}
