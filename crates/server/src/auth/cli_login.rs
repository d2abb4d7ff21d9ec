//! The browser side of the CLI login (`rack-gateway login` without `--email`). The link the
//! CLI prints opens a confirmation page on the gateway's own origin that shows where and when
//! the login was started; only a form POST from that page, in the same browser, continues to
//! the identity provider. The form carries a token bound to the flow and to a random value in
//! a cookie set when the page was shown (HMAC-SHA256 under the CSRF key), so neither a link
//! (whatever its query says) nor a cross-site form made by whoever started the flow can skip
//! the page: they hold no cookie of the victim's browser, and a token made for their own
//! browser does not match the victim's cookie.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rgw_store::LoginFlow;
use sha2::Sha256;
use url::Url;
use uuid::Uuid;

use crate::auth::session;
use crate::config::Config;
use crate::keys::Keys;
use crate::web::headers::{Page, escape};

/// The cookie holding this browser's confirmation value.
pub const CONFIRM_COOKIE: &str = "rgw_cli_confirm";
/// Where the confirmation form posts.
pub const CONFIRM_PATH: &str = "/api/v1/auth/cli/confirm";
const COOKIE_PATH: &str = "/api/v1/auth/cli";

/// A fresh random value for the confirmation cookie (32 bytes, base64url).
pub fn new_browser_value() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn mac(keys: &Keys, flow_id: Uuid, browser_value: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(keys.csrf.expose())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"cli-confirm|");
    mac.update(flow_id.as_bytes());
    mac.update(b"|");
    mac.update(browser_value.as_bytes());
    mac
}

/// The form token for `flow_id` in the browser holding `browser_value`.
pub fn token(keys: &Keys, flow_id: Uuid, browser_value: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(keys, flow_id, browser_value).finalize().into_bytes())
}

/// Whether `presented` is the token of `flow_id` for `browser_value` (constant time).
pub fn verify(keys: &Keys, flow_id: Uuid, browser_value: &str, presented: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return false;
    };
    !browser_value.is_empty()
        && mac(keys, flow_id, browser_value)
            .verify_slice(&bytes)
            .is_ok()
}

/// The confirmation cookie: HttpOnly, SameSite=Strict, only sent to the CLI login endpoints,
/// gone when the flow would have expired anyway.
pub fn cookie(config: &Config, value: &str) -> Cookie<'static> {
    Cookie::build((CONFIRM_COOKIE, value.to_owned()))
        .http_only(true)
        .secure(session::cookie_secure(config))
        .same_site(SameSite::Strict)
        .path(COOKIE_PATH)
        .max_age(time::Duration::minutes(10))
        .build()
}

/// Removes the confirmation cookie.
pub fn removal_cookie() -> Cookie<'static> {
    Cookie::build(CONFIRM_COOKIE).path(COOKIE_PATH).build()
}

/// Whether a form POST comes from a page of our own origin, as far as the browser says:
/// `Sec-Fetch-Site` (when sent) must be `same-origin`, and `Origin` (when sent) must be the
/// gateway's public origin. Browsers send at least one of them on form posts; the token is
/// what actually binds the post to the page.
pub fn same_origin(config: &Config, headers: &HeaderMap) -> bool {
    let site_ok = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes() == b"same-origin")
        .unwrap_or(true);
    let origin_ok = match headers.get(header::ORIGIN) {
        None => true,
        Some(v) => {
            let ours = config.public_url.origin().ascii_serialization();
            v.to_str().is_ok_and(|o| o == ours)
        }
    };
    site_ok && origin_ok
}

/// The confirmation page of a CLI flow: who started it, from where, and a form to continue.
/// `provider` is the identity provider's authorization endpoint the form ends up at.
pub fn confirmation_page(
    flow: &LoginFlow,
    action: &Url,
    form_token: &str,
    provider: Option<&Url>,
) -> Page {
    let ip = escape(flow.client_ip.as_deref().unwrap_or("unknown"));
    let ua = escape(flow.client_user_agent.as_deref().unwrap_or("unknown"));
    let started = escape(&rgw_core::wire::rfc3339(flow.created_at));
    let expires = escape(&rgw_core::wire::rfc3339(flow.expires_at));
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>rack-gateway CLI login</title></head><body>\
         <h1>Sign in the rack-gateway CLI?</h1>\
         <p>A command-line login was started at {started} from {ip} ({ua}).</p>\
         <p>Continue only if you just ran <code>rack-gateway login</code> yourself. \
         If someone sent you this link, close this page: continuing would hand them a session \
         in your name.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"flow_id\" value=\"{flow_id}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
         <button type=\"submit\">Continue to sign in</button></form>\
         <p>This link expires at {expires}.</p></body></html>",
        action = escape(action.as_str()),
        flow_id = escape(&flow.public_id.to_string()),
        token = escape(form_token),
    );
    let page = Page::new(body);
    match provider {
        Some(p) => page.allow_form_target(p),
        None => page,
    }
}

/// The page the browser ends on once a CLI login is done.
pub fn signed_in_page() -> Page {
    Page::new(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>rack-gateway</title></head><body>\
         <p>You are signed in. Return to your terminal to finish.</p></body></html>"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_flow_and_browser() {
        let keys = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let (flow, other_flow) = (Uuid::now_v7(), Uuid::now_v7());
        let browser = new_browser_value();
        let t = token(&keys, flow, &browser);
        assert!(verify(&keys, flow, &browser, &t));
        assert!(!verify(&keys, other_flow, &browser, &t));
        assert!(!verify(&keys, flow, &new_browser_value(), &t));
        assert!(!verify(&keys, flow, "", &token(&keys, flow, "")));
        assert!(!verify(&keys, flow, &browser, "not base64!"));
    }
}
