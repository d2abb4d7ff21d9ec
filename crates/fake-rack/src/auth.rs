//! Basic auth as the rack does it: only the password counts, compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::state::RackState;
use crate::wire::RackError;

pub(crate) const INVALID: &str = "invalid authentication";

/// True when the request carries the rack password (any username but `jwt`), or when the rack
/// has no password.
pub(crate) fn authorized(state: &RackState, headers: &HeaderMap) -> bool {
    let expected = state.options().password.as_bytes();
    if expected.is_empty() {
        return true;
    }
    let Some((user, password)) = basic_credentials(headers) else {
        return false;
    };
    // JWT logins are not emulated: a `jwt` user never matches.
    if user == "jwt" {
        return false;
    }
    password.as_bytes().ct_eq(expected).into()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    Some((user.to_owned(), password.to_owned()))
}

/// Middleware for HTTP routes: 401 `invalid authentication` with `WWW-Authenticate`.
pub(crate) async fn require(
    State(state): State<RackState>,
    request: Request,
    next: Next,
) -> Response {
    if authorized(&state, request.headers()) {
        next.run(request).await
    } else {
        RackError::new(StatusCode::UNAUTHORIZED, INVALID).into_response()
    }
}
