//! Configuration of outbound integrations (CircleCI, GitHub, signed webhooks) and of the job
//! worker. API base URLs are configurable so that GitHub Enterprise and local test servers work;
//! tokens and the webhook signing secret are typed secrets, masked by `rack-gateway-server config`.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::{ConfigError, Sources, parse_bool, parse_http_url};

/// Credentials and endpoints of the services the gateway calls.
#[derive(Clone)]
pub struct IntegrationsConfig {
    /// CircleCI API v2 base, e.g. `https://circleci.com/api/v2`.
    pub circleci_api_url: Url,
    /// `Circle-Token` for approving jobs.
    pub circleci_token: Option<SecretString>,
    /// GitHub REST base: `https://api.github.com`, or `https://HOST/api/v3` for Enterprise.
    pub github_api_url: Url,
    /// Token for commit verification, PR comments and commit statuses.
    pub github_token: Option<SecretString>,
    /// Key of the `X-RGW-Signature` HMAC on generic webhooks.
    pub webhook_secret: Option<SecretString>,
    /// Timeout of one outbound call.
    pub timeout: Duration,
}

impl fmt::Debug for IntegrationsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<SecretString>| if s.is_some() { "[redacted]" } else { "(unset)" };
        f.debug_struct("IntegrationsConfig")
            .field("circleci_api_url", &self.circleci_api_url.as_str())
            .field("circleci_token", &set(&self.circleci_token))
            .field("github_api_url", &self.github_api_url.as_str())
            .field("github_token", &set(&self.github_token))
            .field("webhook_secret", &set(&self.webhook_secret))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// How this process runs jobs.
#[derive(Debug, Clone, Copy)]
pub struct JobsConfig {
    /// Run a worker in `serve` (false: this replica only enqueues; another one runs them).
    pub worker: bool,
    /// Attempts before a job with transient errors is `dead`.
    pub max_attempts: i64,
    /// How long a claim holds before another worker may take the job over (renewed while the
    /// job runs, so only a dead worker loses it).
    pub lease: Duration,
    /// How often an idle worker looks for jobs enqueued by other replicas.
    pub poll: Duration,
}

fn secret(sources: &Sources, key: &str) -> Option<SecretString> {
    sources
        .get(key)
        .filter(|v| !v.trim().is_empty())
        .map(|v| SecretString::from(v.trim().to_owned()))
}

fn api_base(sources: &Sources, key: &str) -> Result<Url, ConfigError> {
    let mut url = sources.parse(key, parse_http_url)?;
    if url.username() != "" || url.password().is_some() {
        return Err(sources.invalid(key, "put credentials in the token variable, not the URL"));
    }
    // A base without a trailing slash joins paths below it, not beside it.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn seconds(sources: &Sources, key: &str, max: u64) -> Result<Duration, ConfigError> {
    sources.parse(key, |v| {
        v.parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("expected a number of seconds from 1 to {max}"))
    })
}

/// Parses the integration keys.
pub(super) fn parse_integrations(sources: &Sources) -> Result<IntegrationsConfig, ConfigError> {
    Ok(IntegrationsConfig {
        circleci_api_url: api_base(sources, "circleci_api_url")?,
        circleci_token: secret(sources, "circleci_token"),
        github_api_url: api_base(sources, "github_api_url")?,
        github_token: secret(sources, "github_token"),
        webhook_secret: match secret(sources, "webhook_secret") {
            Some(s) if secrecy::ExposeSecret::expose_secret(&s).len() < 16 => {
                return Err(sources.invalid(
                    "webhook_secret",
                    "must be at least 16 characters; generate one with `openssl rand -hex 32`",
                ));
            }
            other => other,
        },
        timeout: seconds(sources, "integration_timeout_secs", 300)?,
    })
}

/// Parses the job worker keys.
pub(super) fn parse_jobs(sources: &Sources) -> Result<JobsConfig, ConfigError> {
    Ok(JobsConfig {
        worker: sources.parse("jobs_worker", parse_bool)?,
        max_attempts: sources.parse("jobs_max_attempts", |v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| "expected a number of attempts from 1 to 100".to_string())
        })?,
        lease: seconds(sources, "jobs_lease_secs", 3600)?,
        poll: seconds(sources, "jobs_poll_secs", 3600)?,
    })
}
