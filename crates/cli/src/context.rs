//! Which gateway and which credential a command uses. `RACK_GATEWAY_API_TOKEN` (with
//! `RACK_GATEWAY_URL`/`--url`, or the saved login's URL) wins over a saved login, for CI.
//! Otherwise the saved login named by `--rack` (or the current one) is used; a saved session
//! is never sent to a URL other than the one it was issued by.

use std::path::PathBuf;

use anyhow::Result;
use secrecy::SecretString;

use crate::client::Client;
use crate::config::{self, Config};
use crate::error::CliError;
use crate::output::Output;

/// Environment variable holding an API token (or session token) for CI.
pub const TOKEN_ENV: &str = "RACK_GATEWAY_API_TOKEN";

/// The global options every command sees.
#[derive(Debug)]
pub struct Ctx {
    /// `--output`.
    pub output: Output,
    /// `--rack`.
    pub rack: Option<String>,
    /// `--url` / `RACK_GATEWAY_URL`.
    pub url: Option<String>,
    /// The config file, or why it has no location (no HOME: CI with environment credentials
    /// works without one).
    config_path: Result<PathBuf, CliError>,
    /// Whether we may prompt and draw progress.
    pub interactive: bool,
    env_token: Option<SecretString>,
}

/// Where a command's credential came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `RACK_GATEWAY_API_TOKEN`.
    Env,
    /// The saved login of this rack.
    Saved(String),
}

/// A gateway and a credential.
#[derive(Debug)]
pub struct Target {
    /// The gateway's base URL.
    pub url: String,
    /// Where the credential came from.
    pub source: Source,
    /// A client carrying the credential.
    pub client: Client,
}

impl Ctx {
    /// Reads the environment around the parsed flags.
    pub fn new(output: Output, rack: Option<String>, url: Option<String>) -> Ctx {
        let env_token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| SecretString::from(t.trim().to_owned()));
        Ctx {
            output,
            rack: rack.filter(|r| !r.is_empty()),
            url: url
                .filter(|u| !u.trim().is_empty())
                .map(|u| normalize_url(&u)),
            config_path: config::default_path().map_err(|e| crate::error::classify(&e)),
            interactive: crate::prompt::interactive(),
            env_token,
        }
    }

    /// Whether JSON output was asked for.
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// The saved logins (none when the config file has no location).
    pub fn load_config(&self) -> Result<Config> {
        match &self.config_path {
            Ok(p) => Config::load(p),
            Err(_) => Ok(Config::default()),
        }
    }

    /// Writes the saved logins.
    pub fn save_config(&self, config: &Config) -> Result<()> {
        match &self.config_path {
            Ok(p) => config.save(p),
            Err(e) => Err(e.clone().into()),
        }
    }

    /// The gateway and credential for an authenticated command.
    pub fn target(&self) -> Result<Target> {
        let config = self.load_config()?;
        let saved = config.get(self.rack.as_deref());
        if let Some(rack) = &self.rack
            && saved.is_none()
            && self.env_token.is_none()
        {
            return Err(CliError::new(
                "rack_not_found",
                format!("no saved login for rack {rack}; run: rack-gateway login {rack} URL"),
            )
            .into());
        }
        if let Some(token) = &self.env_token {
            let url = self
                .url
                .clone()
                .or_else(|| saved.map(|(_, l)| l.url.clone()))
                .ok_or_else(|| {
                    CliError::new(
                        "gateway_url_missing",
                        format!("{TOKEN_ENV} is set but no gateway URL: set RACK_GATEWAY_URL"),
                    )
                })?;
            let client = Client::new(&url, Some(token.clone()))?;
            return Ok(Target {
                url,
                source: Source::Env,
                client,
            });
        }
        let Some((rack, login)) = saved else {
            return Err(CliError::new(
                "not_logged_in",
                format!(
                    "not logged in: run rack-gateway login RACK URL, or set RACK_GATEWAY_URL and {TOKEN_ENV}"
                ),
            )
            .into());
        };
        if let Some(url) = &self.url
            && *url != normalize_url(&login.url)
        {
            return Err(CliError::new(
                "not_logged_in",
                format!(
                    "no saved login for {url} (rack {rack} is {}); run rack-gateway login, or set {TOKEN_ENV}",
                    login.url
                ),
            )
            .into());
        }
        let client = Client::new(&login.url, Some(login.session_token.clone()))?;
        Ok(Target {
            url: login.url.clone(),
            source: Source::Saved(rack.to_owned()),
            client,
        })
    }

    /// Stores a rotated session token (after MFA) for the target's saved login, and switches
    /// the client to it.
    pub fn save_rotated_token(&self, target: &mut Target, token: SecretString) -> Result<()> {
        target.client.set_token(token.clone());
        match &target.source {
            Source::Saved(rack) => {
                let mut config = self.load_config()?;
                if let Some(login) = config.racks.get_mut(rack) {
                    login.session_token = token;
                    self.save_config(&config)?;
                }
            }
            Source::Env => {
                eprintln!(
                    "note: the gateway replaced the session; the session token in {TOKEN_ENV} no longer works"
                );
            }
        }
        Ok(())
    }
}

/// A gateway URL without trailing slashes.
pub fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}
