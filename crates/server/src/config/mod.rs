//! The gateway's configuration: one typed struct built from defaults, then an optional TOML
//! file, then `RGW_*` environment variables. Every value remembers where it came from so that
//! errors name the variable (or file key) to fix and `rack-gateway-server config` can show it.

mod integrations;
mod sources;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use integrations::{IntegrationsConfig, JobsConfig};
pub use sources::{Origin, Sources};

/// Minimum length of `RGW_SECRET_KEY`; shorter keys are refused at startup.
pub const MIN_SECRET_KEY_LEN: usize = 32;

/// A configuration problem that stops the gateway from starting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {name} ({origin}): {reason}")]
    Invalid {
        name: String,
        origin: Origin,
        reason: String,
    },
    #[error("{name} is required: {hint}")]
    Missing { name: String, hint: &'static str },
    #[error("cannot read configuration file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the rack API lives and how to reach it.
#[derive(Clone)]
pub struct RackConfig {
    /// Base URL without credentials, e.g. `https://rack.example.com:5443`.
    pub url: Url,
    /// The rack password from the userinfo of `RGW_RACK_URL`.
    pub password: SecretString,
    /// PEM file with CA certificates that sign the rack's certificate.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 fingerprint (hex) the rack's leaf certificate must have.
    pub tls_fingerprint: Option<[u8; 32]>,
    /// Skip certificate verification entirely (explicit opt-in, logged loudly).
    pub tls_insecure: bool,
}

impl fmt::Debug for RackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RackConfig")
            .field("url", &self.url.as_str())
            .field("password", &"[redacted]")
            .field("ca_file", &self.ca_file)
            .field("tls_fingerprint", &self.tls_fingerprint.map(hex::encode))
            .field("tls_insecure", &self.tls_insecure)
            .finish()
    }
}

/// OpenID Connect login settings; present only when an issuer is configured.
#[derive(Clone)]
pub struct OidcConfig {
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub allowed_domains: Vec<String>,
    pub auto_create_role: Option<String>,
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("allowed_domains", &self.allowed_domains)
            .field("auto_create_role", &self.auto_create_role)
            .finish()
    }
}

/// The effective configuration of one gateway process.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub rack: Option<RackConfig>,
    pub secret_key: SecretString,
    pub public_url: Url,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub oidc: Option<OidcConfig>,
    /// How long a proxied stream may stay silent before it is cut.
    pub rack_idle_timeout_secs: u64,
    /// Failed password logins from one client address (IPv6: one /64) per window before that
    /// address is refused for a while; 0 turns the per-address limit off.
    pub login_ip_max_failures: i64,
    /// Password hashes (argon2id, 19 MiB each) computed at once; `None` = the number of CPUs,
    /// at most 4.
    pub password_hash_concurrency: Option<usize>,
    /// CircleCI, GitHub and webhook endpoints and credentials.
    pub integrations: IntegrationsConfig,
    /// The job worker of this process.
    pub jobs: JobsConfig,
    /// Where the configuration values came from (for `config` and error messages).
    pub sources: Sources,
    /// `RGW_SETTING_*` and `RGW_APP_*_SETTING_*` variables, validated at startup; settings set
    /// here win over the database and cannot be changed from the UI.
    pub setting_env: std::collections::BTreeMap<String, String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_redacted())
    }
}

impl Config {
    /// Builds the configuration from defaults, the optional TOML file and the given environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let sources = Sources::collect(file, env.clone())?;
        let mut config = Config::from_sources(sources)?;
        config.setting_env = settings_env(&env)?;
        Ok(config)
    }

    /// Parses collected sources into the typed configuration.
    pub fn from_sources(sources: Sources) -> Result<Config, ConfigError> {
        let listen = sources.parse("listen", |v| {
            v.parse::<SocketAddr>()
                .map_err(|e| format!("{e}; expected HOST:PORT such as 127.0.0.1:8447"))
        })?;
        let database_url =
            sources.require("database_url", "set it to sqlite://PATH or postgres://...")?;
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(sources.invalid(
                "database_url",
                "expected sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        let secret_key = sources.require(
            "secret_key",
            "generate one with `openssl rand -hex 32` and keep it stable across restarts",
        )?;
        if secret_key.len() < MIN_SECRET_KEY_LEN {
            return Err(sources.invalid(
                "secret_key",
                &format!(
                    "must be at least {MIN_SECRET_KEY_LEN} characters (got {})",
                    secret_key.len()
                ),
            ));
        }
        let public_url = sources.parse("public_url", parse_http_url)?;
        let log_format = sources.parse("log_format", |v| match v {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown format {other:?}; use text or json")),
        })?;
        let log_filter = sources.get("log").unwrap_or_else(|| "info".into());
        let rack_idle_timeout_secs = sources.parse("rack_idle_timeout_secs", |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| "expected a positive number of seconds".to_string())
        })?;
        let login_ip_max_failures = sources.parse("login_ip_max_failures", |v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (0..=1_000_000).contains(n))
                .ok_or_else(|| "expected a number of failed logins (0 turns the limit off)".into())
        })?;
        let password_hash_concurrency = match sources.get("password_hash_concurrency") {
            None => None,
            Some(_) => Some(sources.parse("password_hash_concurrency", |v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| "expected a number of concurrent hashes from 1 to 256".into())
            })?),
        };
        let rack = parse_rack(&sources)?;
        let oidc = parse_oidc(&sources)?;
        let integrations = integrations::parse_integrations(&sources)?;
        let jobs = integrations::parse_jobs(&sources)?;
        Ok(Config {
            listen,
            database_url,
            rack,
            secret_key: SecretString::from(secret_key),
            public_url,
            log_format,
            log_filter,
            oidc,
            rack_idle_timeout_secs,
            login_ip_max_failures,
            password_hash_concurrency,
            integrations,
            jobs,
            sources,
            setting_env: Default::default(),
        })
    }

    /// The configuration as `KEY = value (origin)` lines with every secret masked.
    pub fn render_redacted(&self) -> String {
        self.sources.render_redacted()
    }

    /// The secret key, for the key-derivation module only.
    pub(crate) fn secret_key_bytes(&self) -> &[u8] {
        self.secret_key.expose_secret().as_bytes()
    }
}

/// Collects and validates setting variables, so a bad value stops startup with its name.
fn settings_env(
    env: &[(String, String)],
) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    use rgw_core::settings::{Scope, find, parse_env};
    let mut out = std::collections::BTreeMap::new();
    for (name, value) in env {
        let (key, app_scoped) = if let Some(key) = name.strip_prefix("RGW_SETTING_") {
            (key, false)
        } else if let Some((_, key)) = name
            .strip_prefix("RGW_APP_")
            .and_then(|rest| rest.split_once("_SETTING_"))
        {
            (key, true)
        } else {
            continue;
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name: name.clone(),
            origin: Origin::Env,
            reason,
        };
        let def = find(&key.to_ascii_lowercase())
            .ok_or_else(|| invalid(format!("unknown setting {}", key.to_ascii_lowercase())))?;
        match (def.scope, app_scoped) {
            (Scope::Global, true) => {
                return Err(invalid(format!(
                    "{} is a global setting; use RGW_SETTING_{key}",
                    def.key
                )));
            }
            (Scope::App, false) => {
                return Err(invalid(format!(
                    "{} is a per-app setting; use RGW_APP_<APP>_SETTING_{key}",
                    def.key
                )));
            }
            _ => {}
        }
        parse_env(def, name, value).map_err(|e| invalid(e.to_string()))?;
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

fn parse_http_url(v: &str) -> Result<Url, String> {
    let url = Url::parse(v).map_err(|e| format!("{e}; expected an absolute http(s) URL"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("scheme {other:?} is not http or https")),
    }
}

fn parse_rack(sources: &Sources) -> Result<Option<RackConfig>, ConfigError> {
    if sources.get("rack_url").is_none() {
        return Ok(None);
    }
    let mut url = sources.parse("rack_url", parse_http_url)?;
    let password = url
        .password()
        .map(|p| {
            url::form_urlencoded::parse(format!("p={p}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            sources.invalid(
                "rack_url",
                "missing the rack password; use https://convox:PASSWORD@HOST:5443",
            )
        })?;
    // The credentials travel separately from the URL so that the URL can be logged safely.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let ca_file = sources.get("rack_ca_file").map(PathBuf::from);
    if let Some(path) = &ca_file
        && !path.is_file()
    {
        return Err(sources.invalid(
            "rack_ca_file",
            &format!("{} is not a readable file", path.display()),
        ));
    }
    let tls_fingerprint = match sources.get("rack_tls_fingerprint") {
        None => None,
        Some(_) => Some(sources.parse("rack_tls_fingerprint", parse_fingerprint)?),
    };
    let tls_insecure = sources.parse("rack_tls_insecure", parse_bool)?;
    Ok(Some(RackConfig {
        url,
        password: SecretString::from(password),
        ca_file,
        tls_fingerprint,
        tls_insecure,
    }))
}

fn parse_oidc(sources: &Sources) -> Result<Option<OidcConfig>, ConfigError> {
    let Some(_) = sources.get("oidc_issuer") else {
        return Ok(None);
    };
    let issuer = sources.parse("oidc_issuer", parse_http_url)?;
    let client_id = sources.require("oidc_client_id", "required when RGW_OIDC_ISSUER is set")?;
    let client_secret =
        sources.require("oidc_client_secret", "required when RGW_OIDC_ISSUER is set")?;
    let allowed_domains = sources
        .get("oidc_allowed_domains")
        .map(|v| {
            v.split(',')
                .map(|d| d.trim().to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let auto_create_role = sources
        .get("oidc_auto_create_role")
        .filter(|r| !r.is_empty());
    if let Some(role) = &auto_create_role
        && !matches!(role.as_str(), "viewer" | "ops" | "deployer" | "admin")
    {
        return Err(sources.invalid(
            "oidc_auto_create_role",
            "must be one of viewer, ops, deployer, admin",
        ));
    }
    Ok(Some(OidcConfig {
        issuer,
        client_id,
        client_secret: SecretString::from(client_secret),
        allowed_domains,
        auto_create_role,
    }))
}

/// Parses `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(format!("{other:?} is not a boolean; use true or false")),
    }
}

fn parse_fingerprint(v: &str) -> Result<[u8; 32], String> {
    let cleaned: String = v.chars().filter(|c| *c != ':').collect();
    let bytes =
        hex::decode(&cleaned).map_err(|_| "expected 64 hex digits (colons allowed)".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| "expected a SHA-256 fingerprint: 32 bytes, 64 hex digits".to_string())
}

#[cfg(test)]
mod tests;
