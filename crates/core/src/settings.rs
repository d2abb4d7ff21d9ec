//! The settings catalogue and how a setting's value is resolved (PRODUCT.md §4–§10).
//!
//! Resolution order: environment variable, then the database (UI), then the default. A value
//! set by environment wins and cannot be overridden from the UI (PRODUCT.md §10). Env names:
//! global `RGW_SETTING_<KEY>`, per app `RGW_APP_<APP>_SETTING_<KEY>` (app upper case, `-` → `_`;
//! app names cannot contain `_`, so the mapping is unambiguous). An env var set to an empty or
//! blank string counts as unset. Per-app keys do not fall back to a global variable.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::ids::AppName;

/// Whether a setting is rack-wide or per app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One value for the gateway.
    Global,
    /// One value per app.
    App,
}

/// The type of a setting's value (stored as JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true`/`false`.
    Bool,
    /// An integer within inclusive bounds.
    Int {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A string or `null`.
    Text,
    /// A list of strings.
    StringList,
    /// A map of string to string.
    StringMap,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingDef {
    /// The key, e.g. `deploy_approval_window_minutes`.
    pub key: &'static str,
    /// Global or per app.
    pub scope: Scope,
    /// Value type.
    pub kind: Kind,
    /// Default as JSON text (parsed on use; a test checks each one).
    pub default_json: &'static str,
    /// One line for the settings page.
    pub description: &'static str,
}

impl SettingDef {
    /// The default value.
    pub fn default_value(&self) -> Value {
        serde_json::from_str(self.default_json).unwrap_or(Value::Null)
    }

    /// The environment variable that sets this key (for `app` when per app).
    pub fn env_var(&self, app: Option<&AppName>) -> Result<String, SettingError> {
        let key = self.key.to_ascii_uppercase();
        match (self.scope, app) {
            (Scope::Global, _) => Ok(format!("RGW_SETTING_{key}")),
            (Scope::App, Some(app)) => Ok(format!("RGW_APP_{}_SETTING_{key}", app.env_segment())),
            (Scope::App, None) => Err(SettingError::NeedsApp(self.key)),
        }
    }
}

const fn def(
    key: &'static str,
    scope: Scope,
    kind: Kind,
    default_json: &'static str,
    description: &'static str,
) -> SettingDef {
    SettingDef {
        key,
        scope,
        kind,
        default_json,
        description,
    }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

use Kind::{Bool, StringList, StringMap, Text};
use Scope::{App, Global};

/// Every setting the gateway knows.
#[rustfmt::skip]
pub static SETTINGS: &[SettingDef] = &[
    def("deploy_approvals_enabled", Global, Bool, "true", "Gate deploy actions of cicd tokens behind deploy approvals"),
    def("deploy_approval_window_minutes", Global, int(1, 10_080), "15", "How long an approval stays usable after it is granted"),
    def("deploy_approval_pending_ttl_minutes", Global, int(1, 43_200), "1440", "How long a request may wait for approval before it expires"),
    def("deploy_approval_quorum", Global, int(1, 10), "1", "Distinct admins who must approve (the creator never counts)"),
    def("mfa_require_all_users", Global, Bool, "true", "Every user must enrol MFA"),
    def("mfa_step_up_window_minutes", Global, int(1, 1_440), "10", "How recent MFA must be for a human deploy action"),
    def("session_idle_timeout_minutes", Global, int(5, 10_080), "60", "Web sessions end after this much inactivity"),
    def("session_absolute_timeout_hours", Global, int(1, 720), "12", "Web sessions end this long after login"),
    def("cli_session_lifetime_days", Global, int(1, 365), "30", "Lifetime of a saved CLI login"),
    def("vcs_provider", App, Text, "null", "Version control provider, e.g. github"),
    def("vcs_repo", App, Text, "null", "Repository as owner/name"),
    def("ci_provider", App, Text, "null", "CI provider, e.g. circleci"),
    def("circleci_approval_job_name", App, Text, "null", "CircleCI approval job to approve when a request is approved"),
    def("circleci_auto_approve_on_approval", App, Bool, "false", "Approve the CircleCI job automatically on approval"),
    def("verify_git_commit_mode", App, Text, "\"latest\"", "With vcs_provider=github: latest = the commit must be the branch head; branch = it must be in the branch history"),
    def("require_pr_for_branch", App, Bool, "true", "With vcs_provider=github: a branch other than the default needs an open pull request"),
    def("default_branch", App, Text, "null", "The repository's default branch (null: ask GitHub)"),
    def("allow_deploy_from_default_branch", App, Bool, "false", "With vcs_provider=github: allow requests for the default branch"),
    def("github_post_pr_comment", App, Bool, "true", "Keep one comment on the pull request up to date with the request's state"),
    def("slack_webhook_url", App, Text, "null", "Slack incoming webhook for this app's requests (overrides default_slack_webhook_url)"),
    def("default_slack_webhook_url", Global, Text, "null", "Slack incoming webhook for apps without their own slack_webhook_url"),
    def("webhook_urls", App, StringList, "[]", "Signed webhooks for this app's requests (in addition to default_webhook_urls)"),
    def("default_webhook_urls", Global, StringList, "[]", "Signed webhooks for every app's requests"),
    def("human_deploys_allowed", App, Bool, "true", "Allow deployer/admin users to deploy this app directly"),
    def("forbid_token_owner_approval", App, Bool, "false", "The owner of a request's target token cannot approve it"),
    def("manifest_validation_enabled", App, Bool, "true", "Check every service image against service_image_patterns at build and promote"),
    def("approved_deploy_commands", App, StringList, "[]", "Commands cicd tokens may run or exec during a deploy (empty = none)"),
    def("service_image_patterns", App, StringMap, "{}", "Service → image pattern; `*` applies to all services"),
    def("secret_env_vars", App, StringList, "[]", "Env var names redacted in release and env responses"),
];

/// Looks up a catalogue entry.
pub fn find(key: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|d| d.key == key)
}

/// Where a resolved value came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An environment variable (cannot be changed from the UI).
    Env,
    /// The database (set in the UI).
    Database,
    /// The catalogue default.
    Default,
}

/// A setting's effective value.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The catalogue entry.
    pub def: &'static SettingDef,
    /// The value, valid for the entry's kind.
    pub value: Value,
    /// Where it came from.
    pub source: Source,
    /// The environment variable that would set it.
    pub env_var: String,
}

impl Resolved {
    /// Whether the UI must show the value read-only (set by environment).
    pub fn locked(&self) -> bool {
        self.source == Source::Env
    }

    /// The value as a bool, for [`Kind::Bool`] settings.
    pub fn as_bool(&self) -> Option<bool> {
        self.value.as_bool()
    }

    /// The value as an integer, for [`Kind::Int`] settings.
    pub fn as_i64(&self) -> Option<i64> {
        self.value.as_i64()
    }

    /// The value as text, for [`Kind::Text`] settings (`None` when unset).
    pub fn as_text(&self) -> Option<&str> {
        self.value.as_str()
    }

    /// The value as a list, for [`Kind::StringList`] settings.
    pub fn as_list(&self) -> Vec<String> {
        self.value
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value as a map, for [`Kind::StringMap`] settings.
    pub fn as_map(&self) -> BTreeMap<String, String> {
        self.value
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A setting problem; messages name the key or the environment variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// Not in the catalogue.
    #[error("unknown setting {0:?}")]
    UnknownKey(String),
    /// A per-app setting asked for without an app.
    #[error("setting {0} is per app; name the app")]
    NeedsApp(&'static str),
    /// An environment variable with a bad value.
    #[error("environment variable {var} is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        var: String,
        /// What is expected.
        reason: String,
    },
    /// A stored or submitted value of the wrong type or out of range.
    #[error("setting {key} is invalid: {reason}")]
    InvalidValue {
        /// The key.
        key: &'static str,
        /// What is expected.
        reason: String,
    },
}

/// Checks a JSON value (from the database or the UI) against the entry's kind.
pub fn validate(def: &'static SettingDef, value: &Value) -> Result<Value, SettingError> {
    check(def.kind, value).map_err(|reason| SettingError::InvalidValue {
        key: def.key,
        reason,
    })
}

fn check(kind: Kind, value: &Value) -> Result<Value, String> {
    match kind {
        Kind::Bool if value.is_boolean() => Ok(value.clone()),
        Kind::Bool => Err("expected true or false".into()),
        Kind::Int { min, max } => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(json!(n)),
            _ => Err(format!("expected a whole number from {min} to {max}")),
        },
        Kind::Text if value.is_null() || value.is_string() => Ok(value.clone()),
        Kind::Text => Err("expected a string or null".into()),
        Kind::StringList => match value.as_array() {
            Some(a) if a.iter().all(Value::is_string) => Ok(value.clone()),
            _ => Err("expected a JSON array of strings".into()),
        },
        Kind::StringMap => match value.as_object() {
            Some(o) if o.values().all(Value::is_string) => Ok(value.clone()),
            _ => Err("expected a JSON object of string values".into()),
        },
    }
}

/// Parses an environment string into a value of the entry's kind. Bools accept
/// `true/false/1/0/yes/no/on/off`; lists accept a JSON array or a comma-separated list (use
/// JSON when an item contains a comma); maps accept a JSON object.
pub fn parse_env(def: &'static SettingDef, var: &str, raw: &str) -> Result<Value, SettingError> {
    let invalid = |reason: String| SettingError::InvalidEnv {
        var: var.to_owned(),
        reason,
    };
    let raw = raw.trim();
    let value = match def.kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => json!(true),
            "false" | "0" | "no" | "off" => json!(false),
            _ => return Err(invalid(format!("expected true or false, got {raw:?}"))),
        },
        Kind::Int { .. } => match raw.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => return Err(invalid(format!("expected a whole number, got {raw:?}"))),
        },
        Kind::Text => json!(raw),
        Kind::StringList if raw.starts_with('[') => serde_json::from_str(raw)
            .map_err(|e| invalid(format!("expected a JSON array of strings: {e}")))?,
        Kind::StringList => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!(s))
                .collect(),
        ),
        Kind::StringMap => serde_json::from_str(raw).map_err(|e| {
            invalid(format!(
                "expected a JSON object such as {{\"web\": \"pattern\"}}: {e}"
            ))
        })?,
    };
    check(def.kind, &value).map_err(invalid)
}

/// Resolves a setting: environment, then `db_value`, then the default.
pub fn resolve(
    key: &str,
    app: Option<&AppName>,
    env_lookup: impl Fn(&str) -> Option<String>,
    db_value: Option<&Value>,
) -> Result<Resolved, SettingError> {
    let def = find(key).ok_or_else(|| SettingError::UnknownKey(key.chars().take(80).collect()))?;
    let env_var = def.env_var(app)?;
    let (value, source) = match env_lookup(&env_var).filter(|v| !v.trim().is_empty()) {
        Some(raw) => (parse_env(def, &env_var, &raw)?, Source::Env),
        None => match db_value {
            Some(v) => (validate(def, v)?, Source::Database),
            None => (def.default_value(), Source::Default),
        },
    };
    Ok(Resolved {
        def,
        value,
        source,
        env_var,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_default_is_valid_for_its_kind_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for d in SETTINGS {
            assert!(keys.insert(d.key), "{} listed twice", d.key);
            let parsed: Value = serde_json::from_str(d.default_json).unwrap();
            validate(d, &parsed).unwrap();
        }
    }

    #[rstest]
    #[case("deploy_approvals_enabled", json!(true))]
    #[case("deploy_approval_window_minutes", json!(15))]
    #[case("deploy_approval_pending_ttl_minutes", json!(1440))]
    #[case("deploy_approval_quorum", json!(1))]
    #[case("mfa_require_all_users", json!(true))]
    #[case("mfa_step_up_window_minutes", json!(10))]
    fn global_defaults_match_the_spec(#[case] key: &str, #[case] want: Value) {
        let r = resolve(key, None, no_env, None).unwrap();
        assert_eq!((r.value, r.source), (want, Source::Default));
    }

    #[test]
    fn seed_env_names_are_exact() {
        let r = resolve("deploy_approvals_enabled", None, no_env, None).unwrap();
        assert_eq!(r.env_var, "RGW_SETTING_DEPLOY_APPROVALS_ENABLED");
        let r = resolve("deploy_approval_window_minutes", None, no_env, None).unwrap();
        assert_eq!(r.env_var, "RGW_SETTING_DEPLOY_APPROVAL_WINDOW_MINUTES");
        let app = AppName::parse("billing-api").unwrap();
        let r = resolve("vcs_repo", Some(&app), no_env, None).unwrap();
        assert_eq!(r.env_var, "RGW_APP_BILLING_API_SETTING_VCS_REPO");
    }

    #[test]
    fn env_wins_over_the_database_and_locks_the_ui() {
        let env =
            |v: &str| (v == "RGW_SETTING_DEPLOY_APPROVALS_ENABLED").then(|| "false".to_owned());
        let r = resolve("deploy_approvals_enabled", None, env, Some(&json!(true))).unwrap();
        assert_eq!(
            (r.as_bool(), r.source, r.locked()),
            (Some(false), Source::Env, true)
        );
        let r = resolve(
            "deploy_approvals_enabled",
            None,
            no_env,
            Some(&json!(false)),
        )
        .unwrap();
        assert_eq!(
            (r.as_bool(), r.source, r.locked()),
            (Some(false), Source::Database, false)
        );
    }

    #[test]
    fn a_blank_env_var_counts_as_unset() {
        let env = |_: &str| Some("  ".to_owned());
        let r = resolve("deploy_approval_quorum", None, env, None).unwrap();
        assert_eq!(r.source, Source::Default);
    }

    #[rstest]
    #[case("approved_deploy_commands", "bin/rails db:migrate, bin/seed", json!(["bin/rails db:migrate", "bin/seed"]))]
    #[case("approved_deploy_commands", r#"["rake a,b", "x"]"#, json!(["rake a,b", "x"]))]
    #[case("service_image_patterns", r#"{"*": "registry/app:{{GIT_COMMIT}}"}"#, json!({"*": "registry/app:{{GIT_COMMIT}}"}))]
    #[case("human_deploys_allowed", "NO", json!(false))]
    #[case("circleci_approval_job_name", "hold", json!("hold"))]
    fn app_env_values_are_parsed_by_type(
        #[case] key: &str,
        #[case] raw: &str,
        #[case] want: Value,
    ) {
        let app = AppName::parse("myapp").unwrap();
        let raw = raw.to_owned();
        let r = resolve(key, Some(&app), move |_| Some(raw.clone()), None).unwrap();
        assert_eq!(r.value, want);
    }

    #[rstest]
    #[case("deploy_approval_window_minutes", "0")]
    #[case("deploy_approval_window_minutes", "fifteen")]
    #[case("deploy_approval_quorum", "11")]
    #[case("deploy_approvals_enabled", "maybe")]
    fn bad_env_values_name_the_variable(#[case] key: &str, #[case] raw: &str) {
        let raw = raw.to_owned();
        let err = resolve(key, None, move |_| Some(raw.clone()), None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment variable RGW_SETTING_"),
            "{err}"
        );
    }

    #[test]
    fn bad_database_values_and_unknown_keys_are_errors() {
        assert!(matches!(
            resolve("deploy_approval_quorum", None, no_env, Some(&json!("2"))),
            Err(SettingError::InvalidValue { .. })
        ));
        assert!(matches!(
            resolve("nope", None, no_env, None),
            Err(SettingError::UnknownKey(_))
        ));
        assert!(matches!(
            resolve("vcs_repo", None, no_env, None),
            Err(SettingError::NeedsApp(_))
        ));
        let app = AppName::parse("myapp").unwrap();
        let err = resolve(
            "service_image_patterns",
            Some(&app),
            |_| Some("[1]".into()),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("RGW_APP_MYAPP_SETTING_SERVICE_IMAGE_PATTERNS"),
            "{err}"
        );
    }
}
