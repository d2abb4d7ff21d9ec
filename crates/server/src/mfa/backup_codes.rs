//! One-time backup codes: 10 per generation, 60 random bits each (Crockford base32, shown as
//! `XXXX-XXXX-XXXX`), stored only as HMAC-SHA256 under the `pepper` key, consumed atomically.
//!
//! A fast keyed hash is enough here, unlike for passwords: each code carries 60 bits from a
//! CSPRNG, so there is no dictionary to try, and without the pepper (derived from
//! `RGW_SECRET_KEY`, never stored in the database) a dump of the table cannot even be tested
//! offline. The user id is part of the MAC input, so equal codes of two users hash differently.
//! Regenerating replaces the whole set in one transaction: old codes stop working at once.

use hmac::{Hmac, KeyInit, Mac};
use rgw_core::mfa::{BACKUP_CODE_COUNT, BackupCode, MfaMethod};
use serde_json::json;
use sha2::Sha256;

use super::attempts::{self, Purpose};
use super::{Failure, MfaUser, audit_user};
use crate::app::AppState;
use crate::audit::Outcome;
use crate::error::ApiError;
use crate::keys::DerivedKey;

/// The keyed hash stored for `code` of `user_id`.
pub fn hash(pepper: &DerivedKey, user_id: i64, code: &BackupCode) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(pepper.expose())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"rack-gateway/backup-code/v1\0");
    mac.update(&user_id.to_be_bytes());
    mac.update(code.canonical().as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Creates a new set of codes, invalidating the previous set, and returns them for showing
/// once (`XXXX-XXXX-XXXX`).
pub async fn regenerate(state: &AppState, user: &MfaUser) -> Result<Vec<String>, ApiError> {
    let codes: Vec<BackupCode> = (0..BACKUP_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; 8];
            rand::fill(&mut bytes);
            BackupCode::from_entropy(bytes)
        })
        .collect();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| hash(&state.keys.pepper, user.user_id, c))
        .collect();
    let generation = state.store.backup_code_generation(user.user_id).await? + 1;
    state
        .store
        .replace_backup_codes(user.user_id, &hashes, generation, state.clock.now())
        .await?;
    audit_user(
        state,
        user,
        "mfa.backup_codes.regenerate",
        Outcome::Success,
        json!({"method": "backup_code", "generation": generation, "count": codes.len()}),
    )
    .await;
    Ok(codes.iter().map(BackupCode::display).collect())
}

/// Verifies and consumes one backup code.
pub async fn verify(
    state: &AppState,
    user: &MfaUser,
    code: &BackupCode,
    purpose: Purpose,
) -> Result<(), ApiError> {
    let attempt = attempts::guard(state, user, MfaMethod::BackupCode, purpose).await?;
    let h = hash(&state.keys.pepper, user.user_id, code);
    if !state
        .store
        .consume_backup_code(user.user_id, &h, state.clock.now())
        .await?
    {
        return Err(attempts::failed(attempt, Failure::Invalid, json!({})).await);
    }
    let left = state.store.count_unused_backup_codes(user.user_id).await?;
    attempts::succeeded(attempt, json!({"remaining": left})).await
}
