//! Answers in the rack API's own error convention, so the stock `convox` CLI prints our
//! denials verbatim: plain text `message\n`, or `{"error": "message"}` when the caller accepts
//! JSON.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// Whether the caller asked for JSON errors.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

/// A rack-style error response.
pub fn rack_error(status: StatusCode, message: &str, json: bool) -> Response {
    let (content_type, body) = if json {
        (
            "application/json",
            format!("{}\n", serde_json::json!({ "error": message })),
        )
    } else {
        ("text/plain; charset=utf-8", format!("{message}\n"))
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::UNAUTHORIZED {
        // Never a Basic challenge: a browser answers one by caching the credentials and then
        // attaches them to every later request to this origin, cross-site POSTs included,
        // which would defeat CSRF protection. The convox CLI does not need a challenge (it
        // sends its RACK_URL credentials up front and prints any 4xx body; it only reacts to
        // a Console `Session` challenge), and browsers never prompt for or cache Bearer.
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"rack-gateway\""),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_answers_never_send_a_basic_challenge() {
        let resp = rack_error(StatusCode::UNAUTHORIZED, "log in", false);
        let challenge = resp.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
    }
}
