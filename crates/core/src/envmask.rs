//! Release environment rules: which variables are secret, how they are masked for callers who
//! may not see them, and how a write that sends a masked value back keeps the stored value.
//! (`convox env set` reads the whole env, changes one key and writes the whole env back, so a
//! masked read must round-trip without destroying secrets.)

use std::collections::BTreeMap;

/// What a masked value looks like on the wire.
pub const MASKED_VALUE: &str = "********";

/// Name fragments that mark a variable as secret (matched case-insensitively on `_`-separated
/// words or as substrings for the unambiguous ones).
const SECRET_SUBSTRINGS: &[&str] = &[
    "SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "PRIVATE", "APIKEY", "API_KEY",
    "ACCESS_KEY", "SIGNING_KEY", "ENCRYPTION_KEY", "MASTER_KEY", "SESSION_KEY", "DSN",
    "DATABASE_URL", "REDIS_URL", "AMQP_URL", "MONGO_URL", "MONGODB_URI", "CONNECTION_STRING",
];

/// Whole words that mark a variable as secret (`KEY`, `AUTH`, `PASS`, `SALT`, `CERT`).
const SECRET_WORDS: &[&str] = &["KEY", "AUTH", "PASS", "PWD", "SALT", "COOKIE", "JWT"];

/// Whether `name` is a secret, by pattern or because the app lists it in `secret_env_vars`.
pub fn is_secret_name(name: &str, extra: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    if extra.iter().any(|e| e.eq_ignore_ascii_case(name)) {
        return true;
    }
    SECRET_SUBSTRINGS.iter().any(|s| upper.contains(s))
        || upper.split(['_', '-', '.']).any(|w| SECRET_WORDS.contains(&w))
}

/// One parsed env text: `KEY=VALUE` lines, order kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    /// Parses Convox's `KEY=VALUE\n…` text. Blank lines are skipped; a line without `=` is a key
    /// with an empty value (the rack treats it the same way).
    pub fn parse(text: &str) -> Env {
        Env(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect())
    }

    /// The env as Convox text (`\n`-joined, no trailing newline).
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The variables in order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.0
    }

    /// Replaces secret values with [`MASKED_VALUE`].
    pub fn masked(&self, extra: &[String]) -> Env {
        Env(self
            .0
            .iter()
            .map(|(k, v)| {
                if is_secret_name(k, extra) && !v.is_empty() {
                    (k.clone(), MASKED_VALUE.to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect())
    }

    /// Whether any value is the mask placeholder.
    pub fn has_masked_values(&self) -> bool {
        self.0.iter().any(|(_, v)| v == MASKED_VALUE)
    }

    /// Puts the stored value back wherever a write carries the mask placeholder.
    pub fn unmask(&self, stored: &Env) -> Result<Env, UnmaskError> {
        let current: BTreeMap<&str, &str> =
            stored.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut out = Vec::with_capacity(self.0.len());
        for (k, v) in &self.0 {
            if v == MASKED_VALUE {
                match current.get(k.as_str()) {
                    Some(stored) => out.push((k.clone(), (*stored).to_string())),
                    None => return Err(UnmaskError { key: k.clone() }),
                }
            } else {
                out.push((k.clone(), v.clone()));
            }
        }
        Ok(Env(out))
    }
}

/// A write sent the mask placeholder for a variable that has no stored value to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key} is set to the masked placeholder {MASKED_VALUE:?} but the release has no value to \
     keep; send the real value"
)]
pub struct UnmaskError {
    pub key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_recognised_by_pattern_and_by_app_setting() {
        for name in ["DB_PASSWORD", "STRIPE_SECRET_KEY", "GITHUB_TOKEN", "api_key", "AUTH", "DATABASE_URL", "SENTRY_DSN", "APP_KEY"] {
            assert!(is_secret_name(name, &[]), "{name}");
        }
        for name in ["PORT", "RAILS_ENV", "LOG_LEVEL", "KEYBOARD_LAYOUT", "MONKEY"] {
            assert!(!is_secret_name(name, &[]), "{name}");
        }
        assert!(is_secret_name("LICENSE", &["license".to_string()]));
    }

    #[test]
    fn masking_round_trips_through_a_write_that_changes_another_key() {
        let stored = Env::parse("DB_PASSWORD=hunter2\nPORT=3000\nAPI_TOKEN=abc");
        let seen = stored.masked(&[]);
        assert_eq!(seen.render(), "DB_PASSWORD=********\nPORT=3000\nAPI_TOKEN=********");
        let mut written = seen.clone();
        written.0[1].1 = "4000".into();
        let restored = written.unmask(&stored).unwrap();
        assert_eq!(restored.render(), "DB_PASSWORD=hunter2\nPORT=4000\nAPI_TOKEN=abc");
    }

    #[test]
    fn a_masked_value_without_a_stored_value_is_refused() {
        let err = Env::parse("NEW_SECRET=********").unmask(&Env::default()).unwrap_err();
        assert_eq!(err.key, "NEW_SECRET");
    }

    #[test]
    fn empty_values_stay_visible_and_lines_without_equals_parse_as_empty() {
        let env = Env::parse("A=\nB\n\nC=x=y");
        assert_eq!(env.vars(), &[("A".into(), "".into()), ("B".into(), "".into()), ("C".into(), "x=y".into())]);
        assert_eq!(env.masked(&[]).render(), "A=\nB=\nC=x=y");
    }
}
