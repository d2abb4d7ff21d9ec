//! Receivers for outbound notifications: a Slack incoming webhook (`POST /services/...`, answers
//! `ok` as text, and Slack's text errors such as `no_service` through faults) and generic webhook
//! endpoints (`POST /hooks/{name}`, 204).

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;

use super::{Journal, Recorded, serve};

/// A running receiver.
#[derive(Clone)]
pub struct MockHooks {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Requests and faults.
    pub journal: Arc<Journal>,
}

impl MockHooks {
    /// Starts the receiver.
    pub async fn start() -> MockHooks {
        let journal = Arc::new(Journal::default());
        let router = Router::new()
            .route(
                "/services/{*path}",
                post(|| async { ([("content-type", "text/plain")], "ok").into_response() }),
            )
            .route("/hooks/{name}", post(|| async { StatusCode::NO_CONTENT }));
        let url = serve(router, journal.clone()).await;
        MockHooks { url, journal }
    }

    /// A Slack webhook URL on this receiver (the path stands in for Slack's secret path).
    pub fn slack_url(&self) -> String {
        format!("{}/services/T000/B000/secretpathXYZ", self.url)
    }

    /// A generic webhook URL on this receiver.
    pub fn hook_url(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.url)
    }

    /// Slack messages received.
    pub fn slack_messages(&self) -> Vec<Recorded> {
        self.journal.matching("POST /services/")
    }

    /// Webhook deliveries received at `name`.
    pub fn deliveries(&self, name: &str) -> Vec<Recorded> {
        self.journal.matching(&format!("POST /hooks/{name}"))
    }
}
