//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step): enrolment with an `otpauth://` URI
//! and a QR code, confirmation by a first valid code, verification with per-step replay
//! protection. The shared secret is sealed at rest (see [`super::crypto`]); each time step is
//! accepted at most once per user by an atomic `UPDATE … WHERE last_used_step < $step`, so
//! two replicas racing with the same code cannot both accept it.

use std::fmt;

use rgw_core::mfa::{MfaMethod, TOTP_DIGITS, TOTP_SKEW_STEPS, TOTP_STEP_SECS, TotpCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::attempts::{self, Purpose};
use super::{Failure, MfaUser, audit_user, crypto};
use crate::app::AppState;
use crate::audit::Outcome;
use crate::error::ApiError;

/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "rack-gateway";
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
const SECRET_LEN: usize = 20;

/// What a new enrolment shows the user once. `Debug` hides the secret.
pub struct TotpEnrolment {
    /// `otpauth://totp/...` URI (contains the secret).
    pub otpauth_uri: SecretString,
    /// The secret in base32, for manual entry.
    pub secret_base32: SecretString,
    /// A PNG QR code of the URI, base64-encoded.
    pub qr_png_base64: String,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

/// Builds the TOTP verifier for `secret` with the gateway's fixed parameters.
pub fn totp_for(secret: &[u8], account: &str) -> Result<Totp, ApiError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(TOTP_DIGITS as u8)
        .with_skew(TOTP_SKEW_STEPS)
        .with_step_duration(TOTP_STEP_SECS)
        .with_secret(Secret::from(secret.to_vec()))
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("building the TOTP verifier: {e}")))
}

/// Starts (or restarts) TOTP enrolment: a new secret, sealed and stored unconfirmed. Refused
/// when a confirmed TOTP is already enrolled (an operator can reset it from the command line).
pub async fn enroll(state: &AppState, user: &MfaUser) -> Result<TotpEnrolment, ApiError> {
    if let Some(existing) = state.store.get_totp_credential(user.user_id).await?
        && existing.confirmed_at.is_some()
    {
        return Err(ApiError::conflict(
            "mfa_totp_already_enrolled",
            "an authenticator app is already enrolled for this account",
        ));
    }
    let enrolment = store_new_secret(state, user).await?;
    audit_user(
        state,
        user,
        "mfa.totp.enroll",
        Outcome::Success,
        json!({"method": "totp"}),
    )
    .await;
    Ok(enrolment)
}

/// Generates, seals and stores a new unconfirmed secret, replacing any previous one.
pub(crate) async fn store_new_secret(
    state: &AppState,
    user: &MfaUser,
) -> Result<TotpEnrolment, ApiError> {
    let mut secret = [0u8; SECRET_LEN];
    rand::fill(&mut secret);
    let sealed = crypto::seal(&state.keys.at_rest, user.user_id, &secret);
    state
        .store
        .put_totp_credential(
            user.user_id,
            &sealed.ciphertext,
            &sealed.nonce,
            state.clock.now(),
        )
        .await?;
    let totp = totp_for(&secret, &user.email)?;
    let uri = totp
        .to_url()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("building the otpauth URI: {e}")))?;
    let qr = totp
        .to_qr_base64()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("drawing the QR code: {e}")))?;
    Ok(TotpEnrolment {
        otpauth_uri: SecretString::from(uri),
        secret_base32: SecretString::from(totp.secret().to_base32()),
        qr_png_base64: qr,
    })
}

/// Confirms a pending enrolment with a first valid code (which is consumed like any other).
pub async fn confirm(state: &AppState, user: &MfaUser, code: &TotpCode) -> Result<(), ApiError> {
    let Some(cred) = state.store.get_totp_credential(user.user_id).await? else {
        return Err(ApiError::conflict(
            "mfa_totp_not_started",
            "start TOTP enrolment first (POST /api/v1/mfa/totp/enroll)",
        ));
    };
    if cred.confirmed_at.is_some() {
        return Err(ApiError::conflict(
            "mfa_totp_already_enrolled",
            "an authenticator app is already enrolled for this account",
        ));
    }
    check(state, user, code, Purpose::Enrolment, &cred).await?;
    state
        .store
        .confirm_totp_credential(user.user_id, state.clock.now())
        .await?;
    audit_user(
        state,
        user,
        "mfa.totp.confirm",
        Outcome::Success,
        json!({"method": "totp"}),
    )
    .await;
    Ok(())
}

/// Verifies a code against the user's confirmed TOTP, consuming its time step.
pub async fn verify(
    state: &AppState,
    user: &MfaUser,
    code: &TotpCode,
    purpose: Purpose,
) -> Result<(), ApiError> {
    let attempt = attempts::guard(state, user, MfaMethod::Totp, purpose).await?;
    let cred = state
        .store
        .get_totp_credential(user.user_id)
        .await?
        .filter(|c| c.confirmed_at.is_some());
    let Some(cred) = cred else {
        return Err(attempts::failed(attempt, Failure::NotEnrolled, json!({})).await);
    };
    check_guarded(state, attempt, user, code, &cred).await
}

async fn check(
    state: &AppState,
    user: &MfaUser,
    code: &TotpCode,
    purpose: Purpose,
    cred: &rgw_store::TotpCredential,
) -> Result<(), ApiError> {
    let attempt = attempts::guard(state, user, MfaMethod::Totp, purpose).await?;
    check_guarded(state, attempt, user, code, cred).await
}

async fn check_guarded(
    state: &AppState,
    attempt: attempts::Attempt,
    user: &MfaUser,
    code: &TotpCode,
    cred: &rgw_store::TotpCredential,
) -> Result<(), ApiError> {
    let secret = crypto::open(
        &state.keys.at_rest,
        user.user_id,
        &cred.secret_ciphertext,
        &cred.secret_nonce,
    )
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let totp = totp_for(&secret, &user.email)?;
    let unix = u64::try_from(state.clock.now().unix_timestamp()).unwrap_or(0);
    let Some(step) = totp.check(code.expose(), unix) else {
        return Err(attempts::failed(attempt, Failure::Invalid, json!({})).await);
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    if !state.store.consume_totp_step(user.user_id, step).await? {
        return Err(attempts::failed(
            attempt,
            Failure::Replay,
            json!({"step": step, "last_used_step": cred.last_used_step}),
        )
        .await);
    }
    attempts::succeeded(attempt, json!({"step": step})).await
}

/// The current code for a base32 secret at `unix` (used by `dev` and tests, never by the API).
pub fn code_at(secret_base32: &SecretString, unix: u64) -> Option<String> {
    let secret = Secret::try_from_base32(secret_base32.expose_secret()).ok()?;
    let totp = totp_for(secret.as_bytes(), "x").ok()?;
    Some(totp.generate(unix).to_string())
}

/// Operator bootstrap: stores a new secret and marks it confirmed at once, replacing any
/// previous TOTP of the user. Used by `rack-gateway-server mfa enroll-totp` and `dev`. No
/// first code is asked for because whoever runs it already holds the database and the secret
/// key; the URI must reach the user over a trusted channel.
pub async fn enroll_confirmed(state: &AppState, user: &MfaUser) -> Result<TotpEnrolment, ApiError> {
    let enrolment = store_new_secret(state, user).await?;
    state
        .store
        .confirm_totp_credential(user.user_id, state.clock.now())
        .await?;
    audit_user(
        state,
        user,
        "mfa.totp.enroll",
        Outcome::Success,
        json!({"method": "totp", "confirmed_by": "operator"}),
    )
    .await;
    Ok(enrolment)
}

/// The user's confirmed TOTP secret in base32, decrypted (for `dev` to print it again after a
/// restart). `None` when no confirmed TOTP is enrolled.
pub async fn confirmed_secret_base32(
    state: &AppState,
    user_id: i64,
) -> Result<Option<SecretString>, ApiError> {
    let Some(cred) = state.store.get_totp_credential(user_id).await? else {
        return Ok(None);
    };
    if cred.confirmed_at.is_none() {
        return Ok(None);
    }
    let secret = crypto::open(
        &state.keys.at_rest,
        user_id,
        &cred.secret_ciphertext,
        &cred.secret_nonce,
    )
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    Ok(Some(SecretString::from(Secret::from(secret).to_base32())))
}
