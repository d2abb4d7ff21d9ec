//! Outbound HTTP shared by the integrations: bounded response bodies and one classification of
//! failures into retry (timeouts, connection errors, 408, 429, 5xx) or permanent (other 4xx).

use futures_util::StreamExt;
use reqwest::{RequestBuilder, StatusCode};

use super::JobError;

/// Largest response body read from a remote API.
pub const MAX_BODY: usize = 1024 * 1024;

/// A response: status and (bounded) body text.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Body text (cut at [`MAX_BODY`]).
    pub body: String,
    /// `x-ratelimit-remaining` (GitHub), when present.
    pub ratelimit_remaining: Option<u64>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The remote's error message: `message` of a JSON body, else the text itself, shortened.
    pub fn message(&self) -> String {
        let text = self.json()["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| self.body.trim().to_owned());
        text.chars().take(300).collect()
    }

    /// The error for a non-success reply of `what`.
    pub fn error(&self, what: &str) -> JobError {
        let msg = format!("{what}: HTTP {} {}", self.status.as_u16(), self.message());
        if retryable(self.status)
            || (self.status == StatusCode::FORBIDDEN && self.ratelimit_remaining == Some(0))
        {
            JobError::Retry(msg)
        } else {
            JobError::Permanent(msg)
        }
    }
}

/// Whether a status is worth retrying.
pub fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// Sends `req` and reads the reply. Network failures and timeouts are transient.
///
/// # Errors
/// [`JobError::Retry`] when no reply arrived.
pub async fn send(req: RequestBuilder, what: &str) -> Result<Reply, JobError> {
    let resp = req.send().await.map_err(|e| {
        let why = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        // Without the URL: it may carry a credential (a Slack webhook path).
        JobError::retry(format!("{what}: {why}: {}", e.without_url()))
    })?;
    let status = resp.status();
    let ratelimit_remaining = resp
        .headers()
        .get("x-ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            JobError::retry(format!("{what}: reading the reply: {}", e.without_url()))
        })?;
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        ratelimit_remaining,
    })
}
