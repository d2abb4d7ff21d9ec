//! Turning request credentials into a [`Principal`]: `Authorization: Bearer <token>`,
//! `Authorization: Basic base64(anyuser:<token>)` (how the stock `convox` CLI sends
//! `RACK_URL=https://convox:<token>@gateway/…`; the username is ignored), and the session
//! cookie. An `Authorization` header wins over the cookie. Web (browser) session tokens are
//! refused in Basic credentials: browsers replay cached Basic credentials cross-site. Each request
//! checks the credential joined with its owner's status, served by the [credential
//! cache](super::cache), so revocation and suspension hold on the next request.
//!
//! Cookie-authenticated requests must prove they come from our own pages: unsafe methods carry
//! `X-CSRF-Token` (see [`csrf`]). [`authenticate`], which does not know the method, demands it
//! for every cookie-authenticated call.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, header};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use rgw_core::rbac::{Permission, Role};
use rgw_core::text::clip;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;

use crate::app::{AppState, REQUEST_ID};
use crate::audit::AuditEvent;
use crate::auth::principal::{Channel, Principal, TokenPrincipal, UserPrincipal};
use crate::auth::tokens::{self, PresentedToken};
use crate::auth::{csrf, session};
use crate::error::ApiError;

/// Client metadata for audit events and session rows. The IP is the TCP peer: forwarded
/// headers are not trusted here.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// A client-supplied header value as text for an audit field: visible ASCII only (anything
/// else is dropped), at most 512 bytes.
pub(crate) fn header_text(v: &HeaderValue) -> Option<String> {
    v.to_str().ok().map(|s| clip(s, 512).to_owned())
}

impl RequestMeta {
    /// Reads the metadata from request parts.
    pub fn from_parts(parts: &Parts) -> RequestMeta {
        RequestMeta::from_request(&parts.headers, &parts.extensions)
    }

    /// Reads the metadata from a request's headers and extensions (for middleware, which has
    /// the whole request rather than its parts).
    pub fn from_request(headers: &HeaderMap, extensions: &Extensions) -> RequestMeta {
        let header = |name: &HeaderName| headers.get(name).and_then(header_text);
        RequestMeta {
            ip: extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ci| ci.0.ip().to_string()),
            user_agent: header(&header::USER_AGENT),
            request_id: header(&REQUEST_ID),
        }
    }

    /// Copies the metadata onto an audit event.
    pub fn apply(&self, event: AuditEvent) -> AuditEvent {
        event.request(
            self.ip.clone(),
            self.user_agent.clone(),
            self.request_id.clone(),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(parts))
    }
}

/// Where the credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Bearer,
    Basic,
    Cookie,
}

/// When a cookie-authenticated request must carry the CSRF token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsrfRule {
    Required,
    NotRequired,
}

fn invalid(message: &str) -> ApiError {
    ApiError::unauthorized("invalid_credentials", message.to_owned())
}

/// The credential presented by a request, if any.
fn presented(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Source, SecretString)>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| invalid("the Authorization header is not valid text"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        let (source, secret) = if scheme.eq_ignore_ascii_case("bearer") {
            (Source::Bearer, rest.to_owned())
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD
                .decode(rest)
                .or_else(|_| STANDARD_NO_PAD.decode(rest))
                .map_err(|_| invalid("the Basic credentials are not valid base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| invalid("the Basic credentials are not valid text"))?;
            let (_user, password) = decoded
                .split_once(':')
                .ok_or_else(|| invalid("Basic credentials need the token as the password"))?;
            (Source::Basic, password.to_owned())
        } else {
            return Err(invalid(
                "use Authorization: Bearer <token> or Basic with the token as password",
            ));
        };
        return Ok(Some((source, SecretString::from(secret))));
    }
    let jar = CookieJar::from_headers(headers);
    Ok(jar
        .get(session::cookie_name(&state.config))
        .map(|c| (Source::Cookie, SecretString::from(c.value().to_owned()))))
}

/// Authenticates raw request headers (for the rack proxy). Cookie-authenticated callers must
/// send `X-CSRF-Token` whatever the method; use [`authenticate_for_method`] when the method is
/// known.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    authenticate_inner(state, headers, CsrfRule::Required).await
}

/// Authenticates a request whose method is known: cookie-authenticated unsafe methods
/// (anything but GET, HEAD, OPTIONS, TRACE) must send `X-CSRF-Token`.
pub async fn authenticate_for_method(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let rule = if method.is_safe() {
        CsrfRule::NotRequired
    } else {
        CsrfRule::Required
    };
    authenticate_inner(state, headers, rule).await
}

/// The headers that identify a caller (`Authorization`, `Cookie`): what a long-lived response
/// keeps to [`reauthenticate`] its caller later, without holding the rest of the request.
pub fn credential_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for v in headers.get_all(&name) {
            kept.append(name.clone(), v.clone());
        }
    }
    kept
}

/// Authenticates again, for a long-lived response (an event stream) whose caller must still be
/// who it was: the same checks as a `GET`, but without counting as activity, so an open stream
/// does not keep an idle session alive.
pub async fn reauthenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    authenticate_with(state, headers, CsrfRule::NotRequired, false).await
}

async fn authenticate_inner(
    state: &AppState,
    headers: &HeaderMap,
    rule: CsrfRule,
) -> Result<Principal, ApiError> {
    authenticate_with(state, headers, rule, true).await
}

/// `activity`: whether this request extends the session's idle expiry.
async fn authenticate_with(
    state: &AppState,
    headers: &HeaderMap,
    rule: CsrfRule,
    activity: bool,
) -> Result<Principal, ApiError> {
    let Some((source, secret)) = presented(state, headers)? else {
        return Err(ApiError::unauthorized(
            "authentication_required",
            "log in (rack-gateway login) or send an API token as Authorization: Bearer rgw_…",
        ));
    };
    match PresentedToken::parse(secret.expose_secret())? {
        PresentedToken::Session(token) => {
            let mut user = session_principal(state, &token, source, activity).await?;
            user.via_cookie = source == Source::Cookie;
            if user.via_cookie && rule == CsrfRule::Required {
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
            Ok(Principal::User(user))
        }
        PresentedToken::Api(_) if source == Source::Cookie => {
            Err(invalid("the session cookie does not hold a session token"))
        }
        PresentedToken::Api(token) => token_principal(state, &token).await.map(Principal::Token),
    }
}

fn owner_refusal(o: &rgw_store::OwnerStatus) -> Option<ApiError> {
    if o.owner_deleted_at.is_some() {
        return Some(invalid("the account behind this credential was deleted"));
    }
    if o.owner_suspended_at.is_some() {
        return Some(ApiError::unauthorized(
            "account_suspended",
            "the account behind this credential is suspended; ask an admin to reinstate it",
        ));
    }
    if o.owner_locked_at.is_some() {
        return Some(ApiError::unauthorized(
            "account_locked",
            "the account behind this credential is locked; ask an admin to unlock it",
        ));
    }
    None
}

async fn session_principal(
    state: &AppState,
    token: &SecretString,
    source: Source,
    activity: bool,
) -> Result<UserPrincipal, ApiError> {
    let now = state.clock.now();
    let hash = tokens::digest(token);
    let cache = &state.auth.credentials;
    let mut allow_cached = true;
    loop {
        let (found, lookup) = cache
            .session(&state.store, &hash, allow_cached)
            .await?
            .ok_or_else(|| invalid("unknown session; log in again"))?;
        match check_session(&found, source, now) {
            Ok(user) => {
                if activity {
                    session::touch(state, &hash, &found.session, now).await;
                }
                return Ok(user);
            }
            // A copy from memory only ever accepts: confirm a refusal against the database.
            Err(e) if lookup.fresh() => return Err(e),
            Err(_) => allow_cached = false,
        }
    }
}

/// Decides whether a session row (with its user's status) authenticates a request now.
fn check_session(
    found: &rgw_store::SessionLookup,
    source: Source,
    now: time::OffsetDateTime,
) -> Result<UserPrincipal, ApiError> {
    let s = &found.session;
    if s.revoked_at.is_some() {
        return Err(ApiError::unauthorized(
            "session_expired",
            "this session was ended (logout or revocation); log in again",
        ));
    }
    if s.idle_expires_at <= now || s.absolute_expires_at <= now {
        return Err(ApiError::unauthorized(
            "session_expired",
            "this session has expired; log in again",
        ));
    }
    if let Some(refusal) = owner_refusal(&found.owner) {
        return Err(refusal);
    }
    let channel = Channel::parse(&s.channel).unwrap_or(Channel::Web);
    if source == Source::Basic && channel == Channel::Web {
        // Web sessions live in the cookie only. A browser that was ever given Basic
        // credentials replays them on cross-site requests, so a web session token in Basic
        // credentials would ride along without CSRF protection.
        return Err(invalid(
            "web sessions are cookie-only; send a CLI session (rack-gateway login) or an API token as Basic or Bearer credentials",
        ));
    }
    let role = Role::parse_for_user(&found.owner.owner_role)
        .map_err(|e| anyhow::anyhow!("user {} has an invalid stored role: {e}", s.user_id))?;
    Ok(UserPrincipal {
        user_id: s.user_id,
        public_id: found.owner.owner_public_id,
        email: found.owner.owner_email.clone(),
        role,
        session_id: s.id,
        session_public_id: s.public_id,
        channel,
        mfa_verified_at: s.mfa_verified_at,
        mfa_enrolled: found.owner.owner_mfa_enrolled,
        session_expires_at: s.absolute_expires_at,
        via_cookie: false,
    })
}

async fn token_principal(
    state: &AppState,
    token: &SecretString,
) -> Result<TokenPrincipal, ApiError> {
    let now = state.clock.now();
    let hash = tokens::digest(token);
    let cache = &state.auth.credentials;
    let mut allow_cached = true;
    let (found, principal) = loop {
        let (found, lookup) = cache
            .token(&state.store, &hash, allow_cached)
            .await?
            .ok_or_else(|| invalid("unknown API token"))?;
        match check_token(&found, now) {
            Ok(p) => break (found, p),
            Err(e) if lookup.fresh() => return Err(e),
            Err(_) => allow_cached = false,
        }
    };
    let t = &found.token;
    if state.auth.should_flush_last_used(t.id, t.last_used_at, now) {
        // Off the request's critical path: the use is recorded best effort, at most once a
        // minute per token and process (see `AuthRuntime::should_flush_last_used`).
        let store = state.store.clone();
        let id = t.id;
        tokio::spawn(async move {
            if let Err(e) = store.set_api_token_last_used(id, now).await {
                tracing::warn!(error = %e, token_id = id, "recording an API token's last use failed");
            }
        });
    }
    Ok(principal)
}

/// Decides whether a token row (with its owner's status) authenticates a request now.
fn check_token(
    found: &rgw_store::ApiTokenLookup,
    now: time::OffsetDateTime,
) -> Result<TokenPrincipal, ApiError> {
    let t = &found.token;
    if t.revoked_at.is_some() {
        return Err(ApiError::unauthorized(
            "token_revoked",
            "this API token was revoked; create a new one",
        ));
    }
    if t.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::unauthorized(
            "token_expired",
            "this API token has expired; create a new one",
        ));
    }
    if let Some(refusal) = owner_refusal(&found.owner) {
        return Err(refusal);
    }
    let role = t.role.as_deref().and_then(|r| Role::parse(r).ok());
    let scope: Vec<Permission> = match role {
        Some(r) => r.permissions().to_vec(),
        None => t
            .permissions
            .0
            .iter()
            .filter_map(|p| Permission::parse(p).ok())
            .collect(),
    };
    let owner_role = Role::parse_for_user(&found.owner.owner_role).ok();
    let permissions =
        TokenPrincipal::effective_permissions(&scope, owner_role, found.owner.owner_is_service);
    Ok(TokenPrincipal {
        token_id: t.id,
        public_id: t.public_id,
        name: t.name.clone(),
        owner_user_id: t.owner_user_id,
        owner_email: found.owner.owner_email.clone(),
        role,
        permissions,
        expires_at: t.expires_at,
    })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            crate::audit::request::note_actor(p.audit_actor());
            return Ok(p.clone());
        }
        let principal = authenticate_for_method(state, &parts.method, &parts.headers).await?;
        crate::audit::request::note_actor(principal.audit_actor());
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// A human caller with a session; API tokens get 403 `user_session_required`.
#[derive(Debug, Clone)]
pub struct RequireUser(pub UserPrincipal);

impl FromRequestParts<AppState> for RequireUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::User(u) => Ok(RequireUser(u)),
            Principal::Token(_) => Err(ApiError::forbidden(
                "user_session_required",
                "this needs a logged-in user (rack-gateway login), not an API token",
            )),
        }
    }
}
