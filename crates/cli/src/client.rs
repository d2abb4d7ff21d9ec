//! The HTTP client for the gateway API: reqwest with rustls, a 30 s timeout, a
//! `rack-gateway-cli/<version>` User-Agent and bearer authentication. Non-2xx answers become
//! [`CliError`]s carrying the server's `{"error": {"code", "message"}}`.

use std::time::Duration;

use anyhow::Result;
use reqwest::{Method, RequestBuilder, StatusCode};
use rgw_core::wire::ApiErrorBody;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::CliError;

/// Per-request timeout.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The User-Agent header value.
pub fn user_agent() -> String {
    format!("rack-gateway-cli/{}", env!("CARGO_PKG_VERSION"))
}

/// A client for one gateway, optionally authenticated.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
}

impl Client {
    /// A client for the gateway at `base` (e.g. `https://gateway.example.com`).
    pub fn new(base: &str, token: Option<SecretString>) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(user_agent())
            .build()
            .map_err(|e| CliError::new("client_setup_failed", format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token, if any (the deploy's rack calls use the same credential).
    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_ref()
    }

    /// Replaces the bearer token (after login or a session rotation).
    pub fn set_token(&mut self, token: SecretString) {
        self.token = Some(token);
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t.expose_secret()),
            None => req,
        }
    }

    /// `GET path`, decoding the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(self.send(self.request(Method::GET, path)).await?.1)
    }

    /// `POST path` with a JSON body, decoding the JSON answer.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        decode(self.post_status(path, body).await?.1)
    }

    /// `POST path` with a JSON body; the 2xx status and the JSON answer (`null` when empty).
    pub async fn post_status<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(StatusCode, Value)> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// `POST path` without a body, ignoring the answer's body.
    pub async fn post_empty(&self, path: &str) -> Result<()> {
        self.send(self.request(Method::POST, path))
            .await
            .map(|_| ())
    }

    /// `DELETE path`, decoding the JSON answer.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(self.send(self.request(Method::DELETE, path)).await?.1)
    }

    /// `POST path` with a JSON body; the status and JSON answer of a 2xx or of `allowed`
    /// (e.g. a 409 whose body the caller reads), an error otherwise.
    pub async fn post_allowing<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        allowed: StatusCode,
    ) -> Result<(StatusCode, Value)> {
        let resp = self
            .execute(self.request(Method::POST, path).json(body))
            .await?;
        let status = resp.status();
        let bytes = self.body(resp).await?;
        if status.is_success() || status == allowed {
            return Ok((status, parse_json(status, &bytes)?));
        }
        Err(self.api_error(status, &bytes).into())
    }

    /// `GET path` as a Server-Sent Events stream, open for at most `timeout`; the response
    /// once the gateway answered 2xx (read it with [`reqwest::Response::chunk`]).
    pub async fn event_stream(&self, path: &str, timeout: Duration) -> Result<reqwest::Response> {
        let req = self
            .request(Method::GET, path)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(timeout);
        let resp = self.execute(req).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = self.body(resp).await?;
        Err(self.api_error(status, &bytes).into())
    }

    async fn send(&self, req: RequestBuilder) -> Result<(StatusCode, Value)> {
        let resp = self.execute(req).await?;
        let status = resp.status();
        let bytes = self.body(resp).await?;
        if status.is_success() {
            return Ok((status, parse_json(status, &bytes)?));
        }
        Err(self.api_error(status, &bytes).into())
    }

    async fn execute(&self, req: RequestBuilder) -> Result<reqwest::Response> {
        req.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            CliError::new(
                "network_error",
                format!(
                    "the request to the gateway at {} {what}: {}",
                    self.base,
                    error_chain(&e)
                ),
            )
            .into()
        })
    }

    async fn body(&self, resp: reqwest::Response) -> Result<Vec<u8>> {
        resp.bytes().await.map(|b| b.to_vec()).map_err(|e| {
            CliError::new(
                "network_error",
                format!("reading the gateway's answer: {}", error_chain(&e)),
            )
            .into()
        })
    }

    fn api_error(&self, status: StatusCode, bytes: &[u8]) -> CliError {
        let mut err = match serde_json::from_slice::<ApiErrorBody>(bytes) {
            Ok(body) => CliError::new(body.error.code, body.error.message),
            Err(_) => CliError::new(
                format!("http_{}", status.as_u16()),
                format!("the gateway at {} answered {status}", self.base),
            ),
        };
        err.status = Some(status.as_u16());
        err
    }
}

/// The JSON of a body (`null` when empty).
fn parse_json(status: StatusCode, bytes: &[u8]) -> Result<Value> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        CliError::new(
            "invalid_response",
            format!("the gateway answered {status} with invalid JSON: {e}"),
        )
        .into()
    })
}

fn decode<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        CliError::new(
            "invalid_response",
            format!("unexpected answer from the gateway: {e}"),
        )
        .into()
    })
}

/// The error and its sources, `: `-separated (reqwest hides the useful part in sources).
fn error_chain(e: &dyn std::error::Error) -> String {
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
