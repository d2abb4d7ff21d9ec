//! Password hashing with argon2id (the crate's defaults: m = 19 MiB, t = 2, p = 1), run on the
//! blocking pool. Unknown emails and accounts without a password are verified against a dummy
//! hash, so every login attempt costs one argon2 verification whatever the account state.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

use crate::app::AppState;

/// Shortest password accepted for local accounts.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (bounds the hashing work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks the length rules of a new password.
pub fn validate_new(password: &SecretString) -> Result<(), String> {
    let len = password.expose_secret().chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.expose_secret().len() > MAX_PASSWORD_LEN {
        return Err(format!("a password is at most {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

/// Hashes a password into a PHC string (blocking; use [`hash_async`] from async code).
pub fn hash_blocking(password: &SecretString) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// Hashes a password on the blocking pool.
pub async fn hash_async(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .context("password hashing task")?
}

/// A fixed hash verified when there is no real one, so the work is the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking(&SecretString::from(
            "rack-gateway dummy password".to_owned(),
        ))
        .unwrap_or_else(|_| {
            // Argon2 defaults with a valid fixed salt; only reached if hashing itself broke.
            "$argon2id$v=19$m=19456,t=2,p=1$cmFjay1nYXRld2F5LWR1bW15$\
                 mOl0T1w2ZD0hXPuZHA2rNT1xKSc2Y8Zk1WcQ+zxHs8E"
                .to_owned()
        })
    })
}

/// Verifies `password` against `stored` (or against the dummy hash when `stored` is `None`, and
/// then always fails). Runs exactly one argon2 verification either way.
pub async fn verify(state: &AppState, stored: Option<&str>, password: &SecretString) -> bool {
    let has_real = stored.is_some();
    let hash = stored.unwrap_or_else(|| dummy_hash()).to_owned();
    let password = password.clone();
    state.auth.count_password_verification();
    // A closed semaphore cannot happen (it is never closed); fail closed if it did.
    let Ok(_permit) = state.auth.hashing.acquire().await else {
        return false;
    };
    let ok = tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false);
    ok && has_real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let pw = SecretString::from("correct horse battery".to_owned());
        let a = hash_blocking(&pw).unwrap();
        let b = hash_blocking(&pw).unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", a.as_str())
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", a.as_str())
                .is_err()
        );
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_new(&SecretString::from("short".to_owned())).is_err());
        assert!(validate_new(&SecretString::from("long enough password".to_owned())).is_ok());
    }
}
