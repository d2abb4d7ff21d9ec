//! Layered configuration sources: built-in defaults, an optional TOML file, then environment
//! variables. Values stay strings here; `Config::from_sources` turns them into types.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// One configuration key: its name in the TOML file, its environment variable, its default and
/// whether its value must never be printed.
struct Key {
    name: &'static str,
    default: Option<&'static str>,
    secret: bool,
}

const KEYS: &[Key] = &[
    Key {
        name: "listen",
        default: Some("127.0.0.1:8447"),
        secret: false,
    },
    Key {
        name: "database_url",
        default: Some("sqlite://./rack-gateway.db"),
        secret: true,
    },
    Key {
        name: "rack_url",
        default: None,
        secret: true,
    },
    Key {
        name: "rack_ca_file",
        default: None,
        secret: false,
    },
    Key {
        name: "rack_tls_fingerprint",
        default: None,
        secret: false,
    },
    Key {
        name: "rack_tls_insecure",
        default: Some("false"),
        secret: false,
    },
    Key {
        name: "rack_idle_timeout_secs",
        default: Some("300"),
        secret: false,
    },
    Key {
        name: "secret_key",
        default: None,
        secret: true,
    },
    Key {
        name: "public_url",
        default: Some("http://127.0.0.1:8447"),
        secret: false,
    },
    Key {
        name: "log_format",
        default: Some("text"),
        secret: false,
    },
    Key {
        name: "log",
        default: Some("info"),
        secret: false,
    },
    Key {
        name: "oidc_issuer",
        default: None,
        secret: false,
    },
    Key {
        name: "oidc_client_id",
        default: None,
        secret: false,
    },
    Key {
        name: "oidc_client_secret",
        default: None,
        secret: true,
    },
    Key {
        name: "oidc_allowed_domains",
        default: None,
        secret: false,
    },
    Key {
        name: "oidc_auto_create_role",
        default: None,
        secret: false,
    },
    Key {
        name: "login_ip_max_failures",
        default: Some("20"),
        secret: false,
    },
    Key {
        name: "password_hash_concurrency",
        default: None,
        secret: false,
    },
    // Integrations and jobs (see `integrations.rs`).
    Key {
        name: "circleci_api_url",
        default: Some("https://circleci.com/api/v2"),
        secret: false,
    },
    Key {
        name: "circleci_token",
        default: None,
        secret: true,
    },
    Key {
        name: "github_api_url",
        default: Some("https://api.github.com"),
        secret: false,
    },
    Key {
        name: "github_token",
        default: None,
        secret: true,
    },
    Key {
        name: "webhook_secret",
        default: None,
        secret: true,
    },
    Key {
        name: "integration_timeout_secs",
        default: Some("10"),
        secret: false,
    },
    Key {
        name: "jobs_worker",
        default: Some("true"),
        secret: false,
    },
    Key {
        name: "jobs_max_attempts",
        default: Some("10"),
        secret: false,
    },
    Key {
        name: "jobs_lease_secs",
        default: Some("60"),
        secret: false,
    },
    Key {
        name: "jobs_poll_secs",
        default: Some("5"),
        secret: false,
    },
];

/// The environment variable that sets a configuration key.
pub fn env_name(key: &str) -> String {
    format!("RGW_{}", key.to_ascii_uppercase())
}

/// Where one value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "from {}", p.display()),
            Origin::Env => f.write_str("from environment"),
        }
    }
}

/// Raw values by key, with their origin.
#[derive(Clone, Default)]
pub struct Sources {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Sources {
    /// Collects defaults, then the file (if any), then `RGW_*` variables from `env`.
    pub fn collect(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Sources, ConfigError> {
        let mut values = BTreeMap::new();
        for key in KEYS {
            if let Some(d) = key.default {
                values.insert(key.name, (d.to_string(), Origin::Default));
            }
        }
        if let Some(path) = file {
            for (name, value) in read_file(path)? {
                values.insert(name, (value, Origin::File(path.to_path_buf())));
            }
        }
        let env: BTreeMap<String, String> = env.into_iter().collect();
        for key in KEYS {
            if let Some(v) = env.get(&env_name(key.name)) {
                values.insert(key.name, (v.clone(), Origin::Env));
            }
        }
        Ok(Sources { values })
    }

    /// The raw value of `key`, if any source set it.
    pub fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).map(|(v, _)| v.clone())
    }

    /// The origin of `key`'s value.
    pub fn origin(&self, key: &str) -> Origin {
        self.values
            .get(key)
            .map(|(_, o)| o.clone())
            .unwrap_or(Origin::Default)
    }

    pub(super) fn require(&self, key: &str, hint: &'static str) -> Result<String, ConfigError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::Missing {
                name: env_name(key),
                hint,
            })
    }

    pub(super) fn parse<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = self.get(key).unwrap_or_default();
        f(raw.trim()).map_err(|reason| self.invalid(key, &reason))
    }

    pub(super) fn invalid(&self, key: &str, reason: &str) -> ConfigError {
        ConfigError::Invalid {
            name: env_name(key),
            origin: self.origin(key),
            reason: reason.to_string(),
        }
    }

    /// Every set key as `RGW_KEY = value  (origin)`, secrets masked.
    pub fn render_redacted(&self) -> String {
        let mut out = String::new();
        for key in KEYS {
            let (value, origin) = match self.values.get(key.name) {
                Some((v, o)) if key.secret => (mask(key.name, v), o.to_string()),
                Some((v, o)) => (v.clone(), o.to_string()),
                None => ("(unset)".to_string(), "default".to_string()),
            };
            out.push_str(&format!(
                "{} = {}  ({})\n",
                env_name(key.name),
                value,
                origin
            ));
        }
        out
    }
}

/// Masks a secret value. URLs keep their scheme and host so the operator can still tell which
/// database or rack is meant; everything that may carry a credential is hidden.
fn mask(name: &str, value: &str) -> String {
    if value.is_empty() {
        return "(empty)".into();
    }
    if (name == "database_url" || name == "rack_url")
        && let Ok(mut url) = url::Url::parse(value)
    {
        if url.password().is_some() {
            let _ = url.set_password(Some("****"));
        }
        if url.query().is_some() {
            url.set_query(Some("****"));
        }
        return url.to_string();
    }
    "****".into()
}

fn read_file(path: &Path) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let err = |reason: String| ConfigError::File {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(e.to_string()))?;
    let mut out = Vec::new();
    for (name, value) in table {
        let key = KEYS.iter().find(|k| k.name == name).ok_or_else(|| {
            err(format!(
                "unknown key {name:?}; known keys: {}",
                KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(err(format!(
                        "{name}: list items must be strings, got {other}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => return Err(err(format!("{name}: unsupported value {other}"))),
        };
        out.push((key.name, text));
    }
    Ok(out)
}
