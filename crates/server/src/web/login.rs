//! Sign-in and sign-out pages. Password sign-in goes through the API's own login handler (the
//! same throttles, lockout, audit and session rotation); single sign-on links to the API's
//! OpenID Connect start. The sign-in form has no session to bind a CSRF token to, so it uses a
//! double-submit token: a random value in a `SameSite=Strict` cookie that the form must echo,
//! which a cross-site page can neither read nor set.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::context::{Chrome, SessionForm, WebError, check_origin, see_other, urlencode};
use super::pages::render;
use crate::api::auth::{LoginRequest, login as api_login, logout as api_logout};
use crate::app::AppState;
use crate::auth::{RequestMeta, RequireUser, oidc, session};

/// The double-submit cookie of the sign-in form.
const LOGIN_CSRF_COOKIE: &str = "rgw_login_csrf";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<String>,
    email: String,
    next: String,
    login_csrf: String,
    sso_url: Option<String>,
}

/// `?next=` of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    pub next: Option<String>,
}

fn next_or_home(next: Option<&str>) -> String {
    oidc::safe_return_to(next).unwrap_or_else(|| "/deploy-approvals".to_owned())
}

fn login_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((LOGIN_CSRF_COOKIE, value))
        .http_only(true)
        .secure(session::cookie_secure(&state.config))
        .same_site(SameSite::Strict)
        .path("/login")
        .build()
}

fn page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<String>,
) -> Response {
    let value = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32)
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            URL_SAFE_NO_PAD.encode(bytes)
        });
    let sso_url = state
        .config
        .oidc
        .is_some()
        .then(|| format!("/api/v1/auth/oidc/start?return_to={}", urlencode(next)));
    let body = LoginPage {
        chrome: Chrome::anonymous(),
        error,
        email: email.to_owned(),
        next: next.to_owned(),
        login_csrf: value.clone(),
        sso_url,
    };
    (jar.add(login_cookie(state, value)), render(status, &body)).into_response()
}

/// `GET /login`.
pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<Next>,
) -> Response {
    let next = next_or_home(q.next.as_deref());
    page(&state, jar, StatusCode::OK, &next, "", None)
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// `POST /login`: signs in, then continues to the MFA step (which passes straight on when the
/// session needs none).
pub async fn submit(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, WebError> {
    check_origin(&state, &headers)?;
    let next = next_or_home(form.next.as_deref());
    let expected = jar.get(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned());
    let ok = expected
        .is_some_and(|e| !e.is_empty() && bool::from(e.as_bytes().ct_eq(form.csrf.as_bytes())));
    if !ok {
        let msg = "The sign-in form expired; enter your email and password again.";
        return Ok(page(
            &state,
            jar,
            StatusCode::FORBIDDEN,
            &next,
            &form.email,
            Some(msg.into()),
        ));
    }
    let body = LoginRequest {
        email: form.email.clone(),
        password: SecretString::from(form.password),
        channel: "web".into(),
    };
    match api_login(State(state.clone()), meta, jar.clone(), Json(body)).await {
        Ok((jar, _)) => {
            let jar = jar.remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"));
            Ok((jar, see_other(&format!("/mfa?next={}", urlencode(&next)))).into_response())
        }
        Err(e) if e.status().is_client_error() => Ok(page(
            &state,
            jar,
            e.status(),
            &next,
            &form.email,
            Some(e.to_string()),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout`: ends the session (the API's logout) and returns to sign-in.
pub async fn logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    SessionForm { session, .. }: SessionForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let (_, jar) = api_logout(State(state), meta, jar, RequireUser(session.user)).await?;
    Ok((jar, see_other("/login")).into_response())
}
