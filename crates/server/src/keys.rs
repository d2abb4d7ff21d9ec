//! Keys derived from `RGW_SECRET_KEY`. Each purpose gets its own HKDF-SHA256 subkey so that a
//! key leaked or misused in one place (say, CSRF tokens) says nothing about another (the audit
//! chain MAC or secrets encrypted at rest). There is no built-in fallback key.

use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;

/// One derived 256-bit key. `Debug` never prints it.
#[derive(Clone)]
pub struct DerivedKey([u8; 32]);

impl DerivedKey {
    /// The raw key bytes, for the cryptographic primitive that uses them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKey([redacted])")
    }
}

/// All keys the gateway derives from its secret.
#[derive(Clone, Debug)]
pub struct Keys {
    /// Keys the audit log's hash chain (HMAC-SHA256).
    pub audit_mac: DerivedKey,
    /// Encrypts secrets at rest (TOTP seeds, PKCE verifiers) with AES-256-GCM.
    pub at_rest: DerivedKey,
    /// Keys CSRF tokens bound to a session.
    pub csrf: DerivedKey,
    /// Peppers hashes of backup codes, so a database dump alone cannot brute-force them.
    pub pepper: DerivedKey,
}

impl Keys {
    /// Derives every purpose key from the configured secret.
    pub fn derive(secret: &[u8]) -> Keys {
        let hk = Hkdf::<Sha256>::new(Some(b"rack-gateway/v1"), secret);
        let key = |label: &str| {
            let mut out = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's 8160-byte output limit, so this cannot fail.
            if hk.expand(label.as_bytes(), &mut out).is_err() {
                unreachable!("HKDF output length is fixed and valid");
            }
            DerivedKey(out)
        };
        Keys {
            audit_mac: key("audit-chain-mac"),
            at_rest: key("secrets-at-rest"),
            csrf: key("csrf"),
            pepper: key("hash-pepper"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_gets_a_different_key_and_the_derivation_is_stable() {
        let a = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let b = Keys::derive(b"0123456789abcdef0123456789abcdef");
        assert_eq!(a.audit_mac.expose(), b.audit_mac.expose());
        assert_ne!(a.audit_mac.expose(), a.at_rest.expose());
        assert_ne!(a.csrf.expose(), a.pepper.expose());
        let c = Keys::derive(b"another-secret-another-secret-xx");
        assert_ne!(a.audit_mac.expose(), c.audit_mac.expose());
        assert_eq!(format!("{:?}", a.csrf), "DerivedKey([redacted])");
    }
}
