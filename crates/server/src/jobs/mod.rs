//! Durable jobs (PRODUCT.md §9): every outbound call the gateway makes because a deploy
//! approval changed state runs as a job in the `jobs` table, enqueued in the same transaction as
//! the change ([`transition::enqueue`]), claimed under a renewed lease by a worker
//! ([`worker::run_once`] is one step; [`worker::run`] the loop), retried with exponential
//! backoff and jitter ([`policy`]), and visible to admins ([`api`], `rack-gateway-server jobs`).
//! Job payloads carry ids only; credentials come from the configuration when the job runs.

pub mod api;
pub mod policy;
pub mod transition;
pub mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;

/// Per-process job machinery: the wake-up for the local worker and the HTTP client every
/// integration shares.
#[derive(Debug)]
pub struct JobsRuntime {
    wake: Notify,
    /// Outbound HTTP (timeouts from `RGW_INTEGRATION_TIMEOUT_SECS`, no redirects).
    pub http: reqwest::Client,
    /// This process's worker name in `locked_by`.
    pub worker_id: String,
}

impl JobsRuntime {
    /// Builds the runtime for `config`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (TLS setup).
    pub fn new(config: &Config) -> anyhow::Result<Arc<JobsRuntime>> {
        let http = reqwest::Client::builder()
            .timeout(config.integrations.timeout)
            .connect_timeout(config.integrations.timeout)
            // A redirect could carry the token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rack-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into());
        Ok(Arc::new(JobsRuntime {
            wake: Notify::new(),
            http,
            worker_id: format!(
                "{host}:{}:{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
        }))
    }

    /// Wakes this process's worker (after a commit that enqueued jobs).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}
