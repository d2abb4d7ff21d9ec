//! CSRF tokens for cookie-authenticated requests: base64url(HMAC-SHA256(keys.csrf,
//! "csrf|" + session public id)). Bound to one session, so a new session (login, MFA
//! rotation) gets a new token; nothing is stored. Bearer and Basic callers do not need it: a
//! browser never attaches those headers on its own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::keys::Keys;

/// The request header that carries the token.
pub const HEADER: &str = "x-csrf-token";

fn mac(keys: &Keys, session_public_id: Uuid) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(keys.csrf.expose())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"csrf|");
    mac.update(session_public_id.as_bytes());
    mac
}

/// The CSRF token of a session.
pub fn token_for(keys: &Keys, session_public_id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(mac(keys, session_public_id).finalize().into_bytes())
}

/// Whether `presented` is the session's CSRF token (constant-time comparison).
pub fn verify(keys: &Keys, session_public_id: Uuid, presented: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return false;
    };
    mac(keys, session_public_id).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_session_and_key() {
        let keys = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let other = Keys::derive(b"fedcba9876543210fedcba9876543210");
        let s1 = Uuid::now_v7();
        let s2 = Uuid::now_v7();
        let t = token_for(&keys, s1);
        assert!(verify(&keys, s1, &t));
        assert!(!verify(&keys, s2, &t));
        assert!(!verify(&other, s1, &t));
        assert!(!verify(&keys, s1, "not-base64!"));
    }
}
