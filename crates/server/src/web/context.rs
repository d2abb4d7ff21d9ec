//! What every page handler needs: the signed-in browser session ([`WebSession`], and
//! [`WebUser`] once MFA policy is satisfied), forms whose CSRF token and origin are checked
//! before they are parsed ([`WebForm`], [`SessionForm`]), the page chrome ([`Chrome`]), and
//! [`WebError`], which answers a failure as a page or as a redirect to sign-in or MFA.
//!
//! Pages never trust the `Principal` a middleware left for an unsafe method: form posts carry
//! the session's CSRF token in the body (browsers cannot add `X-CSRF-Token` to a plain form),
//! so the token is checked here, against the session the cookie names, before any handler runs.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rgw_core::rbac::Permission;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::principal::{Channel, Principal, UserPrincipal};
use crate::auth::{csrf, oidc};
use crate::error::ApiError;
use crate::mfa::enforce;

/// Largest form body a page accepts (notes are at most 4 KiB; settings values are small).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A browser session from the session cookie, whatever its MFA state (for the sign-in and
/// MFA pages only).
#[derive(Debug, Clone)]
pub struct WebSession {
    pub user: UserPrincipal,
    pub principal: Principal,
}

/// A browser session that MFA policy lets past the MFA pages.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub user: UserPrincipal,
    pub principal: Principal,
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): go to sign-in, then back to this path.
    SignIn(Option<String>),
    /// Signed in, but MFA policy holds the session at verification or enrolment.
    Mfa(&'static str),
    /// Any other refusal or failure, shown as a page with its status.
    Api(ApiError),
}

impl From<rgw_store::StoreError> for WebError {
    fn from(e: rgw_store::StoreError) -> Self {
        WebError::Api(e.into())
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Api(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn(next) => {
                let to = match next.as_deref().and_then(|n| oidc::safe_return_to(Some(n))) {
                    Some(n) => format!("/login?next={}", urlencode(&n)),
                    None => "/login".to_owned(),
                };
                Redirect::to(&to).into_response()
            }
            WebError::Mfa(to) => Redirect::to(to).into_response(),
            WebError::Api(e) => super::pages::error_page(&e).into_response(),
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn current_path(parts: &Parts) -> Option<String> {
    // Only pages are worth returning to; fragments and event streams are not.
    (parts.method == Method::GET)
        .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
        .flatten()
}

async fn session_from_parts(parts: &mut Parts, state: &AppState) -> Result<WebSession, WebError> {
    let sign_in = || WebError::SignIn(current_path(parts));
    let principal = match parts.extensions.get::<Principal>() {
        Some(p) if parts.method.is_safe() => p.clone(),
        // The cookie alone: an unsafe page request proves itself with its form's token.
        _ => crate::auth::authenticate_for_method(state, &Method::GET, &parts.headers)
            .await
            .map_err(|_| sign_in())?,
    };
    let Principal::User(user) = &principal else {
        return Err(sign_in());
    };
    // Pages are for browser sessions: a bearer credential has no business here.
    if !user.via_cookie || user.channel != Channel::Web {
        return Err(sign_in());
    }
    crate::audit::request::note_actor(principal.audit_actor());
    Ok(WebSession {
        user: user.clone(),
        principal,
    })
}

async fn gated(state: &AppState, s: WebSession) -> Result<WebUser, WebError> {
    if let Err(e) = enforce::check(state, &s.user).await {
        return Err(match e.code() {
            "mfa_enrollment_required" => WebError::Mfa("/mfa/enroll"),
            "mfa_required" => WebError::Mfa("/mfa"),
            _ => WebError::Api(e),
        });
    }
    Ok(WebUser {
        user: s.user,
        principal: s.principal,
    })
}

impl FromRequestParts<AppState> for WebSession {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        session_from_parts(parts, state).await
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let s = session_from_parts(parts, state).await?;
        gated(state, s).await
    }
}

/// Refuses a form posted from another origin. Browsers send `Origin` on form posts, but
/// `null` from our own pages (they carry `Referrer-Policy: no-referrer`); a missing or `null`
/// origin therefore falls back to the CSRF token alone, which is the real check.
pub fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let ours = state.config.public_url.origin().ascii_serialization();
    let origin = origin.to_str().ok();
    if origin == Some(ours.as_str()) || origin == Some("null") {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "cross_origin_form",
        "this form was posted from another site; open the gateway's own page and try again",
    ))
}

fn csrf_refusal() -> ApiError {
    ApiError::forbidden(
        "csrf_token_invalid",
        "this form has expired or did not come from this session; reload the page and try again",
    )
}

/// Reads a urlencoded body: the CSRF token (field `csrf`) must belong to `session`.
async fn read_form<T: DeserializeOwned>(
    state: &AppState,
    session: &WebSession,
    body: axum::body::Body,
) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ApiError::bad_request("form_too_large", "the form is too large"))?;
    #[derive(Deserialize)]
    struct Token {
        csrf: Option<String>,
    }
    let token: Token = serde_urlencoded::from_bytes(&bytes).map_err(|_| csrf_refusal())?;
    let ok = token
        .csrf
        .is_some_and(|t| csrf::verify(&state.keys, session.user.session_public_id, &t));
    if !ok {
        return Err(csrf_refusal());
    }
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_form", format!("the form is invalid: {e}")))
}

/// A form posted by a session that MFA policy lets through, with its CSRF token checked.
pub struct WebForm<T> {
    pub user: WebUser,
    pub form: T,
}

/// A form posted by any signed-in browser session (MFA pages), with its CSRF token checked.
pub struct SessionForm<T> {
    pub session: WebSession,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SessionForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        check_origin(state, &parts.headers)?;
        let session = session_from_parts(&mut parts, state).await?;
        let form = read_form(state, &session, body).await?;
        Ok(SessionForm { session, form })
    }
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for WebForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let SessionForm { session, form } = SessionForm::from_request(req, state).await?;
        Ok(WebForm {
            user: gated(state, session).await?,
            form,
        })
    }
}

/// The page frame: who is signed in, which sections they may open, the session's CSRF token
/// for the forms on the page and the asset URLs.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub signed_in: bool,
    pub email: String,
    pub role: String,
    pub csrf: String,
    pub can_approve: bool,
    pub can_users: bool,
    pub can_tokens: bool,
    pub can_settings: bool,
    pub can_audit: bool,
    pub can_jobs: bool,
    /// Which nav entry is current.
    pub section: &'static str,
    pub css: &'static str,
    pub js: &'static str,
    pub webauthn_js: &'static str,
}

impl Chrome {
    /// The frame of a page seen by `user`.
    pub fn for_user(state: &AppState, user: &UserPrincipal, section: &'static str) -> Chrome {
        let p = Principal::User(user.clone());
        Chrome {
            signed_in: true,
            email: user.email.clone(),
            role: user.role.as_str().to_owned(),
            csrf: csrf::token_for(&state.keys, user.session_public_id),
            can_approve: p.allows(&Permission::DEPLOY_APPROVAL_REQUEST_APPROVE),
            can_users: p.allows(&Permission::USER_READ),
            can_tokens: p.allows(&Permission::API_TOKEN_READ),
            can_settings: p.allows(&Permission::SETTING_READ),
            can_audit: p.allows(&Permission::AUDIT_READ),
            can_jobs: p.allows(&Permission::JOB_READ),
            section,
            ..Chrome::anonymous()
        }
    }

    /// The frame of a page before sign-in (or during MFA: no navigation yet).
    pub fn anonymous() -> Chrome {
        Chrome {
            signed_in: false,
            email: String::new(),
            role: String::new(),
            csrf: String::new(),
            can_approve: false,
            can_users: false,
            can_tokens: false,
            can_settings: false,
            can_audit: false,
            can_jobs: false,
            section: "",
            css: super::assets::url("app.css"),
            js: super::assets::url("app.js"),
            webauthn_js: super::assets::url("webauthn.js"),
        }
    }

    /// A frame with sign-out but no navigation (MFA pages of a signed-in session).
    pub fn pending_mfa(state: &AppState, user: &UserPrincipal) -> Chrome {
        Chrome {
            signed_in: true,
            email: user.email.clone(),
            csrf: csrf::token_for(&state.keys, user.session_public_id),
            ..Chrome::anonymous()
        }
    }
}

/// When an admin action was refused for a stale step-up (`mfa_step_up_required`): to the MFA
/// challenge, which comes back to `back` once verified. A signed-in admin's session stays MFA
/// verified, but changes to settings and accounts need it verified within the step-up window.
pub fn step_up_redirect(e: &crate::error::ApiError, back: &str) -> Option<Response> {
    (e.code() == "mfa_step_up_required")
        .then(|| see_other(&format!("/mfa?again=1&next={}", urlencode(back))))
}

/// A 303 redirect after a successful form post (so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}
