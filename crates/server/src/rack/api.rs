//! Calls the gateway makes to the rack on its own behalf (not proxied): reading a build, a
//! release, an app or an uploaded object, to check a deploy step against what the rack really
//! holds rather than what the client says.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;

use super::RackClient;

/// Largest JSON answer read from the rack (builds, releases and apps are small).
const MAX_JSON: usize = 4 * 1024 * 1024;

/// Why a rack read failed.
#[derive(Debug, thiserror::Error)]
pub enum RackReadError {
    /// The rack could not be reached or did not answer in time.
    #[error("the rack is unreachable: {0}")]
    Unreachable(String),
    /// The rack answered with an error status.
    #[error("the rack answered {status} for {path}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The path asked for.
        path: String,
    },
    /// The answer was not what the rack API promises.
    #[error("the rack's answer for {path} is malformed: {reason}")]
    Malformed {
        /// The path asked for.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

impl RackClient {
    async fn get(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<http::Response<hyper::body::Incoming>, RackReadError> {
        let uri = self
            .uri(path)
            .map_err(|e| RackReadError::Unreachable(format!("{e:#}")))?;
        let req = Request::get(uri)
            .header(header::AUTHORIZATION, self.authorization().clone())
            .header(header::ACCEPT, "application/json")
            .header("convox-actor", "rack-gateway")
            .body(Body::empty())
            .map_err(|e| RackReadError::Unreachable(e.to_string()))?;
        let resp = tokio::time::timeout(timeout, self.send(req))
            .await
            .map_err(|_| {
                RackReadError::Unreachable(format!("no answer within {} s", timeout.as_secs()))
            })?
            .map_err(|e| RackReadError::Unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(RackReadError::Status {
                status: resp.status(),
                path: path.to_owned(),
            });
        }
        Ok(resp)
    }

    /// `GET path` as JSON.
    ///
    /// # Errors
    /// Unreachable, Status, Malformed.
    pub async fn get_json(&self, path: &str) -> Result<Value, RackReadError> {
        let resp = self.get(path, Duration::from_secs(30)).await?;
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_JSON)
            .collect()
            .await
            .map_err(|e| RackReadError::Malformed {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| RackReadError::Malformed {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// `GET path` as a byte stream (an uploaded object), with `idle` as the per-chunk timeout.
    ///
    /// # Errors
    /// Unreachable, Status.
    pub async fn get_stream(&self, path: &str, idle: Duration) -> Result<Body, RackReadError> {
        let resp = self.get(path, idle).await?;
        Ok(Body::new(crate::proxy::IdleBody::new(
            resp.into_body(),
            idle,
        )))
    }
}
