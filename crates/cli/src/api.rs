//! The identity and MFA API's JSON shapes as the CLI reads them (the server's own types live
//! in `rgw-server`, which the CLI must not depend on). Unknown fields are ignored, so the
//! gateway may add fields freely.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub email: String,
    pub role: String,
}

/// `POST /auth/login` and `POST /auth/cli/complete` (200).
#[derive(Debug, Deserialize)]
pub struct LoginResponse {
    pub user: User,
    #[serde(default, deserialize_with = "opt_secret")]
    pub session_token: Option<SecretString>,
    pub expires_at: Option<String>,
}

/// `POST /auth/cli/start`.
#[derive(Debug, Deserialize)]
pub struct CliStart {
    pub flow_id: String,
    pub login_url: String,
    pub expires_at: Option<String>,
}

/// `GET /mfa/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaStatus {
    pub enrolled: bool,
    pub totp: bool,
    pub webauthn_credentials: u64,
    pub backup_codes_remaining: i64,
    pub required: bool,
    pub session_verified_at: Option<String>,
}

/// `POST /mfa/verify` and `POST /mfa/totp/confirm`: the session was replaced.
#[derive(Debug, Deserialize)]
pub struct Verified {
    pub method: String,
    pub mfa_verified_at: String,
    #[serde(default, deserialize_with = "opt_secret")]
    pub session_token: Option<SecretString>,
    #[serde(default)]
    pub backup_codes: Option<Vec<String>>,
}

/// `POST /mfa/totp/enroll`.
#[derive(Debug, Deserialize)]
pub struct TotpEnrollment {
    #[serde(deserialize_with = "secret")]
    pub otpauth_uri: SecretString,
    #[serde(deserialize_with = "secret")]
    pub secret_base32: SecretString,
}

/// `POST /mfa/backup-codes`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupCodes {
    pub backup_codes: Vec<String>,
}

/// An API token as the API shows it (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiToken {
    pub public_id: String,
    pub name: String,
    pub owner_email: String,
    pub role: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub created_at: String,
}

impl ApiToken {
    /// `role cicd` or the permission list.
    pub fn scope(&self) -> String {
        match &self.role {
            Some(r) => format!("role {r}"),
            None => self.permissions.join(","),
        }
    }
}

/// `POST /api-tokens` (201).
#[derive(Debug, Deserialize)]
pub struct CreatedToken {
    #[serde(deserialize_with = "secret")]
    pub token: SecretString,
    pub api_token: ApiToken,
}

/// `GET /auth/whoami`.
#[derive(Debug, Deserialize)]
pub struct WhoAmI {
    pub kind: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    pub session: Option<Value>,
    #[serde(default)]
    pub mfa_enrolled: bool,
    pub token_public_id: Option<String>,
    pub owner_email: Option<String>,
}

fn secret<'de, D: serde::Deserializer<'de>>(de: D) -> Result<SecretString, D::Error> {
    String::deserialize(de).map(SecretString::from)
}

fn opt_secret<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(de)?.map(SecretString::from))
}
