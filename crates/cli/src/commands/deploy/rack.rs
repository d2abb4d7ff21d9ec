//! The Convox rack API through the gateway's `/api/v1/rack-proxy`, with the caller's token or
//! login as a bearer credential: form-encoded params and JSON answers as the convox CLI
//! exchanges them. A refusal (the gateway's deploy gate, or the rack) becomes an error whose
//! message is the text the gateway wrote, whichever of its shapes it came in.

use std::time::Duration;

use anyhow::Result;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::client::user_agent;
use crate::error::CliError;

/// Per-call timeout of the small calls (not of the upload, which takes as long as it takes).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The rack API behind one gateway.
#[derive(Debug, Clone)]
pub struct Rack {
    http: reqwest::Client,
    /// `<gateway>/api/v1/rack-proxy`.
    pub base: String,
    token: SecretString,
}

impl Rack {
    /// The rack behind `gateway`, called with `token`.
    pub fn new(gateway: &str, token: SecretString) -> Result<Rack> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(user_agent())
            .build()
            .map_err(|e| CliError::new("client_setup_failed", format!("HTTP client: {e}")))?;
        Ok(Rack {
            http,
            base: format!("{}/api/v1/rack-proxy", gateway.trim_end_matches('/')),
            token,
        })
    }

    /// The bearer credential (for the log websocket).
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose_secret())
            // The gateway and the rack then answer errors as `{"error": "..."}`.
            .header(ACCEPT, "application/json")
    }

    /// `GET path` answering JSON.
    pub async fn get(&self, what: &str, path: &str) -> Result<Value> {
        self.json(what, self.request(Method::GET, path).timeout(CALL_TIMEOUT))
            .await
    }

    /// `POST path` with form params, answering JSON (or `ok`, as `null`).
    pub async fn post_form(&self, what: &str, path: &str, form: &[(&str, &str)]) -> Result<Value> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| CliError::new("error", format!("encoding the {what} form: {e}")))?;
        let req = self
            .request(Method::POST, path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .timeout(CALL_TIMEOUT);
        self.json(what, req).await
    }

    /// `POST path` with a raw (streamed) body, answering JSON.
    pub async fn post_body(&self, what: &str, path: &str, body: reqwest::Body) -> Result<Value> {
        let req = self
            .request(Method::POST, path)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body);
        self.json(what, req).await
    }

    async fn json(&self, what: &str, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req.send().await.map_err(|e| {
            CliError::new(
                "network_error",
                format!("{what}: the request to {} failed: {}", self.base, chain(&e)),
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            CliError::new(
                "network_error",
                format!("{what}: reading the answer failed: {}", chain(&e)),
            )
        })?;
        if !status.is_success() {
            return Err(refusal(what, status, &text).into());
        }
        if text.trim().is_empty() || text.trim() == "ok" {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| {
            CliError::new(
                "invalid_response",
                format!("{what}: the gateway answered {status} with invalid JSON: {e}"),
            )
            .into()
        })
    }
}

/// The error of a non-2xx answer, carrying the gateway's own words: `{"error": "..."}` (the
/// rack's convention, which the proxy's denials follow), `{"error": {"code", "message"}}`
/// (the gateway API's) or plain text.
pub fn refusal(what: &str, status: StatusCode, body: &str) -> CliError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let (code, message) = match parsed.as_ref().map(|v| &v["error"]) {
        Some(Value::String(m)) => (None, m.clone()),
        Some(Value::Object(o)) => (
            o.get("code").and_then(Value::as_str).map(str::to_owned),
            o.get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        _ => (None, body.trim().to_owned()),
    };
    let message = if message.is_empty() {
        format!("{what}: the gateway answered {status}")
    } else {
        message
    };
    let code = code.unwrap_or_else(|| {
        if status.is_client_error() {
            "deploy_refused".to_owned()
        } else {
            format!("http_{}", status.as_u16())
        }
    });
    let mut e = CliError::new(code, message);
    e.status = Some(status.as_u16());
    e
}

/// The error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_gateways_words_in_each_shape() {
        let e = refusal(
            "build",
            StatusCode::FORBIDDEN,
            r#"{"error":"deploy approval required for commit abc on app myapp"}"#,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str(), e.status),
            (
                "deploy_refused",
                "deploy approval required for commit abc on app myapp",
                Some(403)
            )
        );
        let e = refusal(
            "upload",
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"code":"invalid_token","message":"the API token is revoked"}}"#,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("invalid_token", "the API token is revoked")
        );
        let e = refusal(
            "promote",
            StatusCode::FORBIDDEN,
            "app is currently updating\n",
        );
        assert_eq!(e.message, "app is currently updating");
        let e = refusal("promote", StatusCode::BAD_GATEWAY, "");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("http_502", "promote: the gateway answered 502 Bad Gateway")
        );
    }
}
