//! Local stand-ins for the services the gateway calls, implementing the real paths, headers and
//! error bodies the gateway relies on: [`circleci::MockCircleCi`] (API v2),
//! [`github::MockGitHub`] (REST, under a GitHub Enterprise style `/api/v3` prefix) and
//! [`hooks::MockHooks`] (Slack incoming webhooks and generic webhook receivers).
//!
//! Every mock records the requests it got and can inject faults ([`Fault`]): an error status
//! or a delay for the next N matching requests, to test retries and timeouts.

pub mod circleci;
pub mod github;
pub mod hooks;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// One request a mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// What to do instead of (or before) answering.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer with this status and body (JSON if it parses, else text).
    Status(u16, String),
    /// Wait this long, then answer normally (past the gateway's timeout: a timeout).
    Delay(Duration),
    /// Handle the request (its effect happens), then hold the answer this long: a caller that
    /// dies or times out meanwhile never learns that it worked.
    DelayResponse(Duration),
}

/// A fault for the next `times` requests whose `METHOD path` contains `matching`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub matching: String,
    pub times: usize,
    pub kind: FaultKind,
}

/// The log and faults shared by a mock's handlers.
#[derive(Debug, Default)]
pub struct Journal {
    log: Mutex<Vec<Recorded>>,
    faults: Mutex<Vec<Fault>>,
}

impl Journal {
    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Requests whose `METHOD path` contains `needle`.
    pub fn matching(&self, needle: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| format!("{} {}", r.method, r.path).contains(needle))
            .collect()
    }

    /// Adds a fault.
    pub fn fault(&self, matching: &str, times: usize, kind: FaultKind) {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Fault {
                matching: matching.to_owned(),
                times,
                kind,
            });
    }

    fn take_fault(&self, line: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let f = faults
            .iter_mut()
            .find(|f| f.times > 0 && line.contains(&f.matching))?;
        f.times -= 1;
        Some(f.kind.clone())
    }
}

/// Middleware: records the request, then applies a matching fault.
async fn journal_layer(State(journal): State<Arc<Journal>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 4 * 1024 * 1024).await.unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let line = format!("{} {path}", parts.method);
    journal
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Recorded {
            method: parts.method.clone(),
            path,
            headers: parts.headers.clone(),
            body: bytes.to_vec(),
        });
    match journal.take_fault(&line) {
        Some(FaultKind::Status(code, body)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let ctype = if serde_json::from_str::<serde_json::Value>(&body).is_ok() {
                "application/json"
            } else {
                "text/plain"
            };
            return (status, [("content-type", ctype)], body).into_response();
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultKind::DelayResponse(d)) => {
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            tokio::time::sleep(d).await;
            return resp;
        }
        None => {}
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Serves `router` (with the journal layer) on a loopback port; returns its base URL.
pub(crate) async fn serve(router: Router, journal: Arc<Journal>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a mock");
    let url = format!("http://{}", listener.local_addr().expect("mock address"));
    let app = router.layer(axum::middleware::from_fn_with_state(journal, journal_layer));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// `{"message": m}` with a status: the error body shape of CircleCI and GitHub.
pub(crate) fn message(status: StatusCode, m: &str) -> Response {
    (status, axum::Json(serde_json::json!({"message": m}))).into_response()
}
