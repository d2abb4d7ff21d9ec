//! The connection to the Convox rack: TLS policy (CA file, pinned fingerprint or explicit
//! insecure mode), the rack's credentials, and a pooled HTTP client shared by the proxy and the
//! readiness probe.

pub mod api;
mod tls;

use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use base64::Engine;
use http::{HeaderValue, Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;

use crate::config::RackConfig;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client for one rack. Cheap to clone.
#[derive(Clone)]
pub struct RackClient {
    base: url::Url,
    authorization: HeaderValue,
    client: Client<Connector, Body>,
}

impl std::fmt::Debug for RackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RackClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl RackClient {
    /// Builds the client from configuration. Fails when the CA file cannot be used.
    pub fn new(config: &RackConfig) -> anyhow::Result<RackClient> {
        if config.tls_insecure && config.url.scheme() == "https" {
            tracing::warn!(
                rack = %config.url,
                "RGW_RACK_TLS_INSECURE=true: the rack's TLS certificate is NOT verified; \
                 anyone on the network path can impersonate the rack"
            );
        }
        let tls = tls::client_config(config).context("building the rack TLS configuration")?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        let credentials = format!("convox:{}", config.password.expose_secret());
        let mut authorization = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ))
        .context("the rack password contains characters that cannot go in a header")?;
        authorization.set_sensitive(true);
        Ok(RackClient {
            base: config.url.clone(),
            authorization,
            client,
        })
    }

    /// The rack's base URL (no credentials).
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// The `Authorization` header value carrying the rack password.
    pub fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// The `host[:port]` of the rack, as used in `Host` and websocket `Origin` headers.
    pub fn authority(&self) -> String {
        match self.base.port() {
            Some(p) => format!("{}:{p}", self.base.host_str().unwrap_or_default()),
            None => self.base.host_str().unwrap_or_default().to_string(),
        }
    }

    /// The absolute rack URI for a path (starting with `/`) and optional query.
    pub fn uri(&self, path_and_query: &str) -> anyhow::Result<Uri> {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}{path_and_query}")
            .parse::<Uri>()
            .with_context(|| format!("building the rack URI for {path_and_query}"))
    }

    /// Sends a request as is (the caller sets URI and headers).
    pub async fn send(
        &self,
        req: Request<Body>,
    ) -> Result<Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        self.client.request(req).await
    }

    /// Checks that the rack answers `GET /system` with our credentials.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let req = Request::get(self.uri("/system")?)
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Body::empty())
            .context("building the rack probe")?;
        let resp = tokio::time::timeout(Duration::from_secs(5), self.send(req))
            .await
            .context("the rack did not answer within 5 s")?
            .context("the rack is unreachable")?;
        if !resp.status().is_success() {
            anyhow::bail!("the rack answered GET /system with {}", resp.status());
        }
        Ok(())
    }
}
