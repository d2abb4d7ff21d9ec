//! The proxy's own checks for browser (session cookie) callers, applied on every proxied call
//! whoever authenticated it (the MFA layer leaves a [`Principal`] behind; its CSRF rule is the
//! API's, not the proxy's):
//!
//! - `Origin`, when sent, must be the gateway's own (`RGW_PUBLIC_URL`); it is required on
//!   unsafe methods and on websocket upgrades, which browsers open cross-site with cookies and
//!   without any way to add a CSRF header.
//! - Unsafe methods carry the session's `X-CSRF-Token`.
//!
//! Bearer and Basic callers (the convox CLI, CI) are not subject to these (the CLI's websocket
//! `Origin` is whatever host it dialled): a browser never attaches those headers on its own,
//! web session tokens are refused in Basic credentials (see `auth::extract`) and no 401 sends a
//! Basic challenge. A browser request marked `Sec-Fetch-Site: cross-site` is refused whatever
//! its credential.

use axum::http::{HeaderMap, Method, header};

use crate::app::AppState;
use crate::auth::{Principal, csrf};
use crate::error::ApiError;

/// Refuses a cookie-authenticated call that may come from another site.
pub fn check(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    headers: &HeaderMap,
    is_upgrade: bool,
) -> Result<(), ApiError> {
    let expected = state.config.public_url.origin().ascii_serialization();
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    // Only browsers send `Sec-Fetch-*`: a cross-site one is refused whatever credential it
    // carries (a browser may replay cached Basic credentials on its own too).
    if fetch_site.is_some_and(|s| s.eq_ignore_ascii_case("cross-site")) {
        return Err(ApiError::forbidden(
            "cross_site_request",
            format!(
                "cross-site browser requests to the rack proxy are refused; open {expected} or use the convox CLI"
            ),
        ));
    }
    let Principal::User(user) = principal else {
        return Ok(());
    };
    if !user.via_cookie {
        return Ok(());
    }
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) if origin.trim().eq_ignore_ascii_case(&expected) => {}
        Some(origin) => {
            let shown: String = origin
                .unwrap_or("(not text)")
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
            return Err(ApiError::forbidden(
                "origin_mismatch",
                format!(
                    "Origin {shown} is not this gateway ({expected}); cross-origin requests with the session cookie are refused"
                ),
            ));
        }
        None if is_upgrade || !method.is_safe() => {
            return Err(ApiError::forbidden(
                "origin_required",
                format!(
                    "{} with the session cookie must carry Origin {expected}",
                    if is_upgrade {
                        "websocket upgrades"
                    } else {
                        "writes"
                    }
                ),
            ));
        }
        None => {}
    }
    if !is_upgrade && !method.is_safe() {
        let ok = headers
            .get(csrf::HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| csrf::verify(&state.keys, user.session_public_id, t));
        if !ok {
            return Err(ApiError::forbidden(
                "csrf_token_invalid",
                "send the session's CSRF token (GET /api/v1/auth/whoami) in X-CSRF-Token",
            ));
        }
    }
    Ok(())
}
