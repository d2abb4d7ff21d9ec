//! Response conventions: pretty JSON, `ok\n`, typed errors, ids, and the middleware that adds
//! `Request-Id` and security headers and turns errors into JSON when the client asks for it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error as the rack renders it: status code plus message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct RackError {
    pub status: StatusCode,
    pub message: String,
}

pub(crate) type RackResult<T = Response> = Result<T, RackError>;

impl RackError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
}

/// Marks a response as an error so [`conventions`] can re-render it as JSON.
#[derive(Clone)]
struct ErrorMessage(String);

impl IntoResponse for RackError {
    fn into_response(self) -> Response {
        let mut response = text(self.status, format!("{}\n", self.message));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"convox\""),
            );
        }
        response.extensions_mut().insert(ErrorMessage(self.message));
        response
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `200 ok\n`, the rack's answer for delete, promote, stop, update...
pub(crate) fn ok() -> Response {
    text(StatusCode::OK, "ok\n".to_owned())
}

/// Pretty JSON (2-space indent) plus a trailing newline, escaped like Go's encoder.
pub(crate) fn json<T: Serialize>(value: &T) -> Response {
    json_with_status(StatusCode::OK, value)
}

pub(crate) fn json_with_status<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            go_escape(&body) + "\n",
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render JSON");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error\n".to_owned(),
            )
        }
    }
}

/// Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029. These characters can only
/// appear inside JSON strings, so a plain replacement is exact.
fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `B`/`R` + 10 random upper-case letters.
pub(crate) fn new_id(prefix: char) -> String {
    let mut id = String::with_capacity(11);
    id.push(prefix);
    id.extend((0..10).map(|_| char::from(rand::random_range(b'A'..=b'Z'))));
    id
}

/// Random lower-case alphanumerics, as in k8s pod name suffixes.
pub(crate) fn pod_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// Adds `Request-Id` and the security headers; renders errors as `{"error":...}` when the
/// request's `Accept` includes `application/json`.
pub(crate) async fn conventions(request: Request, next: Next) -> Response {
    let wants_json = accepts_json(request.headers());
    let mut response = next.run(request).await;
    if wants_json && let Some(ErrorMessage(message)) = response.extensions_mut().remove() {
        let mut rendered = match serde_json::to_string(&serde_json::json!({ "error": message })) {
            Ok(body) => (
                response.status(),
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(_) => response,
        };
        if rendered.status() == StatusCode::UNAUTHORIZED {
            rendered.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"convox\""),
            );
        }
        response = rendered;
    }
    let headers = response.headers_mut();
    let request_id: [u8; 6] = rand::random();
    if let Ok(value) = HeaderValue::from_str(&hex::encode(request_id)) {
        headers.insert("request-id", value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

/// Unknown route: 404 with an empty body, like gorilla/mux. The CLI matches
/// `response status 404` on exactly this.
pub(crate) async fn not_found() -> Response {
    not_found_response()
}

/// The same, for synchronous callers.
pub(crate) fn not_found_response() -> Response {
    (StatusCode::NOT_FOUND, Body::empty()).into_response()
}

/// A header value as text, if present and valid.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_a_prefix_and_ten_upper_case_letters() {
        let id = new_id('B');
        assert_eq!(id.len(), 11);
        assert!(id.starts_with('B'));
        assert!(id[1..].bytes().all(|b| b.is_ascii_uppercase()));
    }

    #[test]
    fn json_escapes_html_characters_like_go() {
        assert_eq!(go_escape(r#""<a>&""#), r#""\u003ca\u003e\u0026""#);
    }
}
