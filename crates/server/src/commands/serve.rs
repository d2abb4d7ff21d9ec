//! `rack-gateway-server serve`: production mode.

use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::{AppState, serve, shutdown_signal};
use crate::config::Config;
use crate::telemetry;

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    telemetry::init(config.log_format, &config.log_filter);
    tracing::info!(config = %config.render_redacted().replace('\n', "; "), "starting rack-gateway");
    let store = rgw_store::Store::connect(&config.database_url)
        .await
        .context("opening the database (RGW_DATABASE_URL)")?;
    if config.rack.is_none() {
        tracing::warn!(
            "RGW_RACK_URL is not set: the rack proxy is disabled and /readyz reports not_ready"
        );
    }
    let shutdown = shutdown_signal();
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding RGW_LISTEN {}", config.listen))?;
    let state = AppState::new(config, store.clone())?;
    let auditor = state.auditor.clone();
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let served = serve(listener, state, shutdown).await;
    // After the HTTP server drains: write every queued audit event before exiting.
    auditor.shutdown().await;
    served?;
    store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
