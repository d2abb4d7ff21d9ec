//! Redaction of secrets before an audit event is stored or logged.
//!
//! Two rules, applied to details recursively:
//! - a value whose key names a secret ([`is_secret_name`]) is replaced by [`REDACTED`] whole,
//!   whatever its type;
//! - every other string has secret-looking substrings masked ([`redact_text`]): gateway tokens
//!   (`rgw_…`), `Bearer`/`Basic` credentials, and passwords in URLs (`scheme://user:PASS@host`).
//!
//! Names are split into words (`_`, `-`, `.`, spaces and camelCase), so `X-Api-Key`,
//! `apiKey` and `API_KEY` all match while `token_name` or `session_id` (identifiers, not
//! secrets) do not.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Words that make any name secret.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "secrets",
    "authorization",
    "cookie",
    "cookies",
    "credential",
    "credentials",
    "totp",
    "otp",
    "signature",
    "jwt",
];

/// Adjacent word pairs that make a name secret.
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("access", "key"),
    ("private", "key"),
    ("secret", "key"),
    ("signing", "key"),
    ("backup", "code"),
    ("backup", "codes"),
    ("recovery", "code"),
    ("mfa", "code"),
    ("auth", "code"),
];

/// Words that make a name secret unless it ends in an identifier-like word.
const SECRET_UNLESS_ID: &[&str] = &["token", "tokens", "session", "sessions", "apikey", "bearer"];

/// Final words that turn `token`/`session` names into identifiers or metadata.
const IDENTIFIER_SUFFIXES: &[&str] = &[
    "id",
    "ids",
    "name",
    "names",
    "type",
    "kind",
    "count",
    "role",
    "roles",
    "owner",
    "at",
    "expires",
    "expiry",
    "created",
    "status",
    "permissions",
    "scopes",
];

fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c.to_ascii_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether a key, header or environment variable name denotes a secret. `extra` lists names
/// configured as secret (e.g. env vars marked secret), compared case-insensitively and whole.
pub fn is_secret_name(name: &str, extra: &[String]) -> bool {
    if extra.iter().any(|e| e.eq_ignore_ascii_case(name)) {
        return true;
    }
    let w = words(name);
    if w.iter().any(|x| SECRET_WORDS.contains(&x.as_str())) {
        return true;
    }
    if w.windows(2)
        .any(|p| SECRET_PAIRS.contains(&(p[0].as_str(), p[1].as_str())))
    {
        return true;
    }
    let mentions = w.iter().any(|x| SECRET_UNLESS_ID.contains(&x.as_str()));
    let identifier = w
        .last()
        .is_some_and(|x| IDENTIFIER_SUFFIXES.contains(&x.as_str()));
    mentions && !identifier
}

static TOKEN_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"rgw_[A-Za-z0-9_\-]{8,}").unwrap_or_else(|e| unreachable!("static regex: {e}"))
});
static AUTH_SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{6,}")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

/// The replacement strings: the scheme and its spacing, or the URL up to the password, are kept.
const AUTH_SCHEME_REPLACEMENT: &str = "${1}${2}[REDACTED]";
const URL_PASSWORD_REPLACEMENT: &str = "${1}[REDACTED]@";

/// Applies one masking pass, keeping `text` borrowed when nothing matched. `hint` is a cheap
/// necessary condition for a match: most strings (paths, user agents, names) hold none of the
/// patterns' fixed parts, and skipping the regex for them skips its per-call setup too.
fn mask<'t>(
    text: Cow<'t, str>,
    hint: fn(&str) -> bool,
    pattern: &Regex,
    replacement: &str,
) -> Cow<'t, str> {
    if !hint(&text) {
        return text;
    }
    let replaced = match pattern.replace_all(&text, replacement) {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    replaced.map_or(text, Cow::Owned)
}

/// Masks secret-looking substrings of free text: gateway tokens, HTTP credentials and URL
/// passwords. Text without any is returned borrowed, unchanged: every audit event passes
/// every string through here, so the common case must not allocate.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let t = mask(
        Cow::Borrowed(text),
        |t| t.contains("rgw_"),
        &TOKEN_LIKE,
        REDACTED,
    );
    let t = mask(
        t,
        |t| contains_ignore_case(t, "bearer") || contains_ignore_case(t, "basic"),
        &AUTH_SCHEME,
        AUTH_SCHEME_REPLACEMENT,
    );
    mask(
        t,
        |t| t.contains("://"),
        &URL_PASSWORD,
        URL_PASSWORD_REPLACEMENT,
    )
}

/// Whether `text` contains the ASCII word `lower` in any letter case.
fn contains_ignore_case(text: &str, lower: &str) -> bool {
    text.as_bytes()
        .windows(lower.len())
        .any(|w| w.eq_ignore_ascii_case(lower.as_bytes()))
}

/// Redacts `details` in place (see the module docs). `extra_secret_names` are names configured
/// as secret, such as environment variables marked secret.
pub fn redact(details: &mut Value, extra_secret_names: &[String]) {
    match details {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                // A flag (`"secret": true`) or an absent value reveals nothing.
                if is_secret_name(k, extra_secret_names) && !v.is_null() && !v.is_boolean() {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v, extra_secret_names);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, extra_secret_names)),
        Value::String(s) => {
            if let Cow::Owned(masked) = redact_text(s) {
                *s = masked;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Masks the values of secret variables in `KEY=VALUE` lines (a Convox env body, `.env` text);
/// other lines keep their values but still go through [`redact_text`].
pub fn redact_env_text(text: &str, secret_names: &[String]) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches(['\n', '\r']);
            let ending = &line[body.len()..];
            match body.split_once('=') {
                Some((k, _))
                    if is_secret_name(k.trim().trim_start_matches("export "), secret_names) =>
                {
                    format!("{k}={REDACTED}{ending}")
                }
                _ => format!("{}{ending}", redact_text(body)),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
