//! MFA rules and maths with no I/O: the MFA methods, parsing of TOTP and backup codes, backup
//! code generation from caller-supplied entropy, TOTP replay classification, the attempt budget
//! and lockout policy, and the [`ActionBinding`] an approval-bound MFA proof is tied to.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::Duration;
use uuid::Uuid;

/// A second factor. The stored names (`totp`, `webauthn`, `backup_code`) are part of the API
/// and of the database (`mfa_attempts.method`, `deploy_approvals.mfa_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MfaMethod {
    /// RFC 6238 time-based one-time password.
    Totp,
    /// A WebAuthn security key or passkey assertion.
    #[serde(rename = "webauthn")]
    WebAuthn,
    /// A one-time backup code.
    BackupCode,
}

impl MfaMethod {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaMethod::Totp => "totp",
            MfaMethod::WebAuthn => "webauthn",
            MfaMethod::BackupCode => "backup_code",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<MfaMethod> {
        match s {
            "totp" => Some(MfaMethod::Totp),
            "webauthn" => Some(MfaMethod::WebAuthn),
            "backup_code" => Some(MfaMethod::BackupCode),
            _ => None,
        }
    }
}

impl fmt::Display for MfaMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a code could not be parsed (the message is safe to show: it never echoes the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeParseError {
    #[error("a TOTP code is 6 digits")]
    Totp,
    #[error("a backup code is 12 letters and digits, like ABCD-EFGH-JKMN")]
    BackupCode,
}

/// Digits in a TOTP code (RFC 6238 with SHA-1, 30 s steps).
pub const TOTP_DIGITS: usize = 6;
/// Seconds per TOTP time step.
pub const TOTP_STEP_SECS: u64 = 30;
/// Steps of clock skew accepted either side of the current one.
pub const TOTP_SKEW_STEPS: u16 = 1;

/// A syntactically valid TOTP code. `Debug` hides the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl TotpCode {
    /// Parses six digits, ignoring surrounding whitespace and one inner space (`123 456`).
    pub fn parse(input: &str) -> Result<TotpCode, CodeParseError> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == TOTP_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(TotpCode(digits))
        } else {
            Err(CodeParseError::Totp)
        }
    }

    /// The digits, for the verifier.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode([redacted])")
    }
}

/// How a verified TOTP step relates to the last step this user has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpStepCheck {
    /// Newer than every step accepted before: may be consumed.
    Fresh,
    /// Equal to or older than a step already accepted: a replay (or a stale code).
    Replay,
}

/// Classifies a matched step against the user's last accepted step. The database performs the
/// same comparison atomically when consuming the step; this is for explaining refusals.
pub fn classify_totp_step(step: i64, last_used_step: Option<i64>) -> TotpStepCheck {
    match last_used_step {
        Some(last) if step <= last => TotpStepCheck::Replay,
        _ => TotpStepCheck::Fresh,
    }
}

/// The time step a unix time falls in.
pub fn totp_step(unix_secs: u64) -> i64 {
    i64::try_from(unix_secs / TOTP_STEP_SECS).unwrap_or(i64::MAX)
}

/// Number of backup codes in one generation.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Characters of a backup code (without separators).
pub const BACKUP_CODE_LEN: usize = 12;
/// Crockford base32: no I, L, O or U, so codes read aloud or copied by hand survive.
const BACKUP_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A one-time backup code: 12 Crockford base32 characters (60 bits), shown as `XXXX-XXXX-XXXX`.
/// `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupCode(String);

impl BackupCode {
    /// Builds a code from 8 random bytes (the low 60 bits are used). The caller supplies a
    /// CSPRNG's output: this crate does no I/O.
    pub fn from_entropy(bytes: [u8; 8]) -> BackupCode {
        let mut n = u64::from_le_bytes(bytes);
        let mut s = String::with_capacity(BACKUP_CODE_LEN);
        for _ in 0..BACKUP_CODE_LEN {
            s.push(char::from(BACKUP_ALPHABET[(n & 31) as usize]));
            n >>= 5;
        }
        BackupCode(s)
    }

    /// Parses user input: case-insensitive, dashes and spaces ignored, and the Crockford
    /// look-alikes mapped (`O`→`0`, `I`/`L`→`1`).
    pub fn parse(input: &str) -> Result<BackupCode, CodeParseError> {
        let mut s = String::with_capacity(BACKUP_CODE_LEN);
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' | '\t' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !BACKUP_ALPHABET.contains(&(c as u8)) {
                return Err(CodeParseError::BackupCode);
            }
            s.push(c);
        }
        if s.len() == BACKUP_CODE_LEN {
            Ok(BackupCode(s))
        } else {
            Err(CodeParseError::BackupCode)
        }
    }

    /// The canonical form (12 characters, no separators) that is hashed.
    pub fn canonical(&self) -> &str {
        &self.0
    }

    /// The form shown to the user, `XXXX-XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}-{}", &self.0[0..4], &self.0[4..8], &self.0[8..12])
    }
}

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode([redacted])")
    }
}

/// Limits on MFA attempts per user. Counted in the database, so all replicas share them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptPolicy {
    /// The sliding window both limits are counted over.
    pub window: Duration,
    /// Attempts (successful or not) allowed in the window before further ones are refused.
    pub max_attempts: i64,
    /// Failures in the window that lock the account until an admin unlocks it.
    pub lock_after_failures: i64,
}

impl Default for AttemptPolicy {
    fn default() -> Self {
        AttemptPolicy {
            window: Duration::minutes(5),
            max_attempts: 10,
            lock_after_failures: 5,
        }
    }
}

impl AttemptPolicy {
    /// Whether one more attempt may be made, given the attempts already in the window.
    pub fn allows_attempt(&self, attempts_in_window: i64) -> bool {
        attempts_in_window < self.max_attempts
    }

    /// Whether the failures now in the window (including the one just recorded) lock the account.
    pub fn locks_after(&self, failures_in_window: i64) -> bool {
        failures_in_window >= self.lock_after_failures
    }
}

/// What an approval-bound MFA proof is for: one action on one object at one commit. A proof
/// made for one binding never satisfies another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionBinding {
    /// The action, e.g. `deploy_approval.approve`.
    pub action: String,
    /// The object acted on, e.g. the deploy approval request's public id.
    pub object_id: Uuid,
    /// The full git commit the object is about.
    pub commit: String,
    /// The digest of what exactly is approved (a deploy intent), when the action has one.
    #[serde(default)]
    pub digest: String,
}

impl ActionBinding {
    /// A binding for `action` on `object_id` at `commit`.
    pub fn new(action: impl Into<String>, object_id: Uuid, commit: impl Into<String>) -> Self {
        ActionBinding {
            action: action.into(),
            object_id,
            commit: commit.into(),
            digest: String::new(),
        }
    }

    /// Binds the proof to `digest` too (the deploy intent the reviewer saw).
    pub fn with_digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = digest.into();
        self
    }

    /// The action that approves a deploy approval request.
    pub const APPROVE_DEPLOY: &'static str = "deploy_approval.approve";

    /// The stored form, kept with the approval as proof of what the MFA covered:
    /// `action:object@commit#digest`.
    pub fn describe(&self) -> String {
        format!(
            "{}:{}@{}#{}",
            self.action, self.object_id, self.commit, self.digest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_codes_are_six_digits_and_hidden_from_debug() {
        assert_eq!(TotpCode::parse(" 123 456 ").unwrap().expose(), "123456");
        assert!(TotpCode::parse("12345").is_err());
        assert!(TotpCode::parse("1234567").is_err());
        assert!(TotpCode::parse("12345a").is_err());
        assert_eq!(
            format!("{:?}", TotpCode::parse("123456").unwrap()),
            "TotpCode([redacted])"
        );
    }

    #[test]
    fn a_step_at_or_before_the_last_used_one_is_a_replay() {
        assert_eq!(classify_totp_step(10, None), TotpStepCheck::Fresh);
        assert_eq!(classify_totp_step(11, Some(10)), TotpStepCheck::Fresh);
        assert_eq!(classify_totp_step(10, Some(10)), TotpStepCheck::Replay);
        assert_eq!(classify_totp_step(9, Some(10)), TotpStepCheck::Replay);
        assert_eq!(totp_step(59), 1);
        assert_eq!(totp_step(60), 2);
    }

    #[test]
    fn backup_codes_round_trip_through_display_and_forgiving_parsing() {
        let code = BackupCode::from_entropy([0xff, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd]);
        assert_eq!(code.canonical().len(), BACKUP_CODE_LEN);
        let shown = code.display();
        assert_eq!(shown.len(), 14);
        assert_eq!(BackupCode::parse(&shown).unwrap(), code);
        assert_eq!(BackupCode::parse(&shown.to_lowercase()).unwrap(), code);
        assert_eq!(
            BackupCode::parse("oooo-iiii-llll").unwrap().canonical(),
            "000011111111"
        );
        assert!(BackupCode::parse("ABCD-EFGH-JKM").is_err());
        assert!(BackupCode::parse("ABCD-EFGH-JKMU").is_err());
        assert_eq!(format!("{code:?}"), "BackupCode([redacted])");
    }

    #[test]
    fn different_entropy_gives_different_codes() {
        let a = BackupCode::from_entropy([1, 0, 0, 0, 0, 0, 0, 0]);
        let b = BackupCode::from_entropy([2, 0, 0, 0, 0, 0, 0, 0]);
        assert_ne!(a, b);
    }

    #[test]
    fn the_attempt_policy_rate_limits_before_it_would_hide_a_lockout() {
        let p = AttemptPolicy::default();
        assert!(p.allows_attempt(9));
        assert!(!p.allows_attempt(10));
        assert!(!p.locks_after(4));
        assert!(p.locks_after(5));
        // Failures lock the account before the attempt budget stops an attacker from failing.
        assert!(p.lock_after_failures < p.max_attempts);
    }

    #[test]
    fn mfa_method_names_round_trip() {
        for m in [MfaMethod::Totp, MfaMethod::WebAuthn, MfaMethod::BackupCode] {
            assert_eq!(MfaMethod::parse(m.as_str()), Some(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
        }
    }
}
