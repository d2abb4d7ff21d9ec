//! Recording of received requests (method, path, query, headers, body length) for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::TryStreamExt;

use crate::state::RackState;

/// Requests kept per rack; older ones are dropped.
const MAX_RECORDED: usize = 10_000;

/// One request as the rack saw it. Bodies are not kept, only their length.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    /// Raw path, not normalised (e.g. `/apps/myapp/objects/tmp/abc.tgz`).
    pub path: String,
    /// Raw query string without `?` (empty when absent or empty).
    pub query: String,
    pub headers: HeaderMap,
    /// Body bytes the handler has read so far.
    pub body_len: u64,
}

impl RecordedRequest {
    /// A header value as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `METHOD /path`, handy for asserting call sequences.
    #[must_use]
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub(crate) struct Entry {
    request: RecordedRequest,
    body_len: Arc<AtomicU64>,
}

impl Entry {
    pub fn snapshot(&self) -> RecordedRequest {
        let mut request = self.request.clone();
        request.body_len = self.body_len.load(Ordering::Relaxed);
        request
    }
}

/// Middleware: records the request and counts its body bytes as they are read.
pub(crate) async fn record(
    State(state): State<RackState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let counter = Arc::new(AtomicU64::new(0));
    {
        let mut inner = state.lock();
        // A ring: dropping the oldest of 10 000 from a `Vec` moved every other entry, under
        // the rack's one lock, on each request (~1.5 MB per request once full).
        if inner.requests.len() >= MAX_RECORDED {
            inner.requests.pop_front();
        }
        inner.requests.push_back(Entry {
            request: RecordedRequest {
                method: parts.method.clone(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                headers: parts.headers.clone(),
                body_len: 0,
            },
            body_len: Arc::clone(&counter),
        });
    }
    let body = Body::from_stream(body.into_data_stream().inspect_ok(move |chunk| {
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }));
    next.run(Request::from_parts(parts, body)).await
}
