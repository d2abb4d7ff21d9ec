//! Secrets at rest: AES-256-GCM under the `at_rest` key derived from `RGW_SECRET_KEY`, with a
//! fresh random 96-bit nonce per seal and the owning user's id as associated data, so a
//! ciphertext copied onto another user's row does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::keys::DerivedKey;

/// Length of the AES-GCM nonce in bytes.
pub const NONCE_LEN: usize = 12;

/// A sealed secret: ciphertext (with its tag) and the nonce it was sealed under.
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

/// Sealing or opening failed (wrong key, tampered row, wrong owner).
#[derive(Debug, thiserror::Error)]
#[error("secret could not be decrypted: wrong RGW_SECRET_KEY or a tampered row")]
pub struct OpenError;

fn aad(user_id: i64) -> [u8; 8] {
    user_id.to_be_bytes()
}

/// Encrypts `plaintext` for `user_id`.
pub fn seal(key: &DerivedKey, user_id: i64, plaintext: &[u8]) -> Sealed {
    let cipher = Aes256Gcm::new(&(*key.expose()).into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    let aad = aad(user_id);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        // AES-GCM only fails for inputs beyond 64 GiB; secrets are a few bytes.
        .unwrap_or_else(|_| unreachable!("AES-GCM encryption of a short secret cannot fail"));
    Sealed {
        ciphertext,
        nonce: nonce.to_vec(),
    }
}

/// Decrypts a secret sealed for `user_id`.
pub fn open(
    key: &DerivedKey,
    user_id: i64,
    ciphertext: &[u8],
    nonce: &[u8],
) -> Result<Vec<u8>, OpenError> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
    let cipher = Aes256Gcm::new(&(*key.expose()).into());
    let aad = aad(user_id);
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| OpenError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keys;

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_and_key() {
        let keys = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let sealed = seal(&keys.at_rest, 7, b"totp-secret");
        assert_ne!(sealed.ciphertext, b"totp-secret");
        assert_eq!(
            open(&keys.at_rest, 7, &sealed.ciphertext, &sealed.nonce).unwrap(),
            b"totp-secret"
        );
        assert!(open(&keys.at_rest, 8, &sealed.ciphertext, &sealed.nonce).is_err());
        let other = Keys::derive(b"another-secret-another-secret-xx");
        assert!(open(&other.at_rest, 7, &sealed.ciphertext, &sealed.nonce).is_err());
        let again = seal(&keys.at_rest, 7, b"totp-secret");
        assert_ne!(again.nonce, sealed.nonce);
    }
}
