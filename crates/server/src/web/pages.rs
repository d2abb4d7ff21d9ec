//! Rendering: every template is compiled by askama (HTML-escaped by default) and answered
//! through [`Page`] so it carries the security headers; [`render`] is the one place that
//! happens. Also the error page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::context::Chrome;
use super::headers::Page;
use crate::error::ApiError;

/// Renders `t` as a page with `status`.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (status, Page::new(body).with_scripts()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Renders a fragment (a piece of a page fetched by the page's own script).
pub fn fragment<T: Template>(t: &T) -> Response {
    render(StatusCode::OK, t)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    heading: &'a str,
    message: String,
}

/// The page for an error: its status, and for client errors the message that says what to do
/// (server errors are logged with their cause and shown generically).
pub fn error_page(e: &ApiError) -> Response {
    let status = e.status();
    let message = if status.is_server_error() {
        tracing::error!(error = %e, "web page failed");
        "Something went wrong on the gateway; try again, and tell an operator if it persists."
            .to_owned()
    } else {
        e.to_string()
    };
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Sign in again",
        s if s.is_server_error() => "Gateway error",
        _ => "That did not work",
    };
    render(
        status,
        &ErrorPage {
            chrome: Chrome::anonymous(),
            heading,
            message,
        },
    )
}
