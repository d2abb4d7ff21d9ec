//! Settings whose value is a credential: a Slack incoming-webhook URL or a webhook endpoint
//! carries its secret in the URL itself. They are stored as set, but shown (API, web UI, audit
//! details) with everything after the host masked, so an admin can still tell which service
//! a value points at.

use serde_json::Value;

/// The setting keys whose values are credentials.
pub const SECRET_KEYS: &[&str] = &[
    "slack_webhook_url",
    "default_slack_webhook_url",
    "webhook_urls",
    "default_webhook_urls",
];

/// What replaces the secret part of a value.
pub const MASK: &str = "********";

/// Whether `key`'s value is a credential.
#[must_use]
pub fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// `scheme://host/********` for a URL, the mask alone for anything else.
fn mask_text(s: &str) -> String {
    match s.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            // Userinfo is a credential too.
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/{MASK}")
        }
        _ => MASK.to_owned(),
    }
}

/// `value` as it may be shown for `key`: masked when the key is secret, unchanged otherwise.
#[must_use]
pub fn shown(key: &str, value: &Value) -> Value {
    if !is_secret(key) {
        return value.clone();
    }
    match value {
        Value::String(s) => Value::String(mask_text(s)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Value::String(mask_text(s)),
                    _ => Value::String(MASK.to_owned()),
                })
                .collect(),
        ),
        Value::Null => Value::Null,
        _ => Value::String(MASK.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_keep_only_scheme_and_host() {
        let cases = [
            (
                "slack_webhook_url",
                json!("https://hooks.slack.com/services/T0/B0/abc"),
                json!("https://hooks.slack.com/********"),
            ),
            ("default_slack_webhook_url", json!(null), json!(null)),
            (
                "webhook_urls",
                json!(["https://u:p@hooks.example.com:8443/x?sig=1", "not a url"]),
                json!(["https://hooks.example.com:8443/********", "********"]),
            ),
            ("default_webhook_urls", json!([]), json!([])),
            ("slack_webhook_url", json!(7), json!("********")),
            ("deploy_approval_window_minutes", json!(15), json!(15)),
            ("vcs_repo", json!("acme/app"), json!("acme/app")),
        ];
        for (key, value, want) in cases {
            assert_eq!(shown(key, &value), want, "{key} {value}");
        }
    }

    #[test]
    fn every_secret_key_is_a_known_setting() {
        for key in SECRET_KEYS {
            assert!(crate::settings::find(key).is_some(), "{key}");
        }
    }
}
