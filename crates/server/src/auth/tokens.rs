//! Opaque bearer secrets: generation, parsing by prefix, and the SHA-256 stored in place of the
//! secret. API tokens are `rgw_` + base64url(32 bytes); session tokens `rgws_` + base64url(32
//! bytes). Both alphabets are URL-safe, so they survive the userinfo escaping of
//! `RACK_URL=https://convox:<token>@gateway/…` in the Go `convox` CLI unchanged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "rgw_";
/// Prefix of session tokens (web cookie value and CLI bearer).
pub const SESSION_TOKEN_PREFIX: &str = "rgws_";
/// Length of the base64url body (32 bytes, no padding).
const BODY_LEN: usize = 43;

/// What a presented secret is, by prefix.
#[derive(Debug)]
pub enum PresentedToken {
    /// An API token (`rgw_…`).
    Api(SecretString),
    /// A session token (`rgws_…`).
    Session(SecretString),
}

impl PresentedToken {
    /// Parses a presented secret. Anything that is not exactly one of the two shapes is
    /// refused before touching the database.
    pub fn parse(raw: &str) -> Result<PresentedToken, ApiError> {
        let raw = raw.trim();
        let well_formed = |body: &str| {
            body.len() == BODY_LEN
                && body
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if let Some(body) = raw.strip_prefix(SESSION_TOKEN_PREFIX)
            && well_formed(body)
        {
            return Ok(PresentedToken::Session(SecretString::from(raw.to_owned())));
        }
        if let Some(body) = raw.strip_prefix(API_TOKEN_PREFIX)
            && well_formed(body)
        {
            return Ok(PresentedToken::Api(SecretString::from(raw.to_owned())));
        }
        Err(ApiError::unauthorized(
            "invalid_credentials",
            "the credential is not a rack-gateway API token (rgw_…) or session token (rgws_…); \
             log in again or create a new API token",
        ))
    }
}

/// A fresh random secret with `prefix`.
pub fn generate(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    SecretString::from(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// A new API token (shown once).
pub fn generate_api_token() -> SecretString {
    generate(API_TOKEN_PREFIX)
}

/// A new session token.
pub fn generate_session_token() -> SecretString {
    generate(SESSION_TOKEN_PREFIX)
}

/// The SHA-256 stored for a secret. A fast hash is right here: the secrets carry 256 bits of
/// entropy, so there is nothing to brute-force, and lookups must be cheap on every request.
pub fn hash(secret: &SecretString) -> Vec<u8> {
    digest(secret).to_vec()
}

/// [`hash`] as a fixed-size array (the credential cache's key).
pub fn digest(secret: &SecretString) -> [u8; 32] {
    Sha256::digest(secret.expose_secret().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_by_prefix() {
        let api = generate_api_token();
        assert!(api.expose_secret().starts_with("rgw_"));
        assert_eq!(api.expose_secret().len(), 4 + 43);
        assert!(matches!(
            PresentedToken::parse(api.expose_secret()),
            Ok(PresentedToken::Api(_))
        ));
        let session = generate_session_token();
        assert!(matches!(
            PresentedToken::parse(session.expose_secret()),
            Ok(PresentedToken::Session(_))
        ));
        assert_ne!(hash(&api), hash(&session));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "rgw_",
            "rgw_short",
            "rgws_x",
            "token",
            "rgw_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(PresentedToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
