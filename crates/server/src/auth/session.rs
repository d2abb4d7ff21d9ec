//! Server-side sessions: issuing (login), rotating (login and MFA), timeouts and the session
//! cookie. A session is a row keyed by SHA-256 of an opaque `rgws_` token; the token is the
//! cookie value (web) or a bearer token (CLI).
//!
//! Timeouts: web sessions end after `session_idle_timeout_minutes` without a request or
//! `session_absolute_timeout_hours` after login, whichever comes first; CLI sessions live
//! `cli_session_lifetime_days` (no idle timeout: CI-style use is bursty). Activity extends the
//! idle expiry, written at most once per [`TOUCH_INTERVAL`] per session to keep reads cheap.

use axum_extra::extract::cookie::{Cookie, SameSite};
use rgw_store::{NewSession, Session};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::auth::extract::RequestMeta;
use crate::auth::principal::{Channel, UserPrincipal};
use crate::auth::tokens;
use crate::config::Config;
use crate::error::ApiError;

/// Activity within this interval of the last recorded one is not written again.
pub const TOUCH_INTERVAL: Duration = Duration::minutes(1);

/// Cookie name when the cookie is `Secure` (the `__Host-` prefix pins it to this host and `/`).
pub const COOKIE_NAME_SECURE: &str = "__Host-rgw_session";
/// Cookie name on plain-http loopback development (browsers refuse `__Host-` without Secure).
pub const COOKIE_NAME_DEV: &str = "rgw_session";

/// The session timeouts in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
    pub cli_lifetime: Duration,
}

impl Default for SessionPolicy {
    /// The catalogue defaults.
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::minutes(60),
            absolute: Duration::hours(12),
            cli_lifetime: Duration::days(30),
        }
    }
}

/// Resolves one integer setting: `RGW_SETTING_<KEY>` from the process environment, then the
/// database, then the catalogue default (`rgw_core::settings`). Errors fall back to `default`
/// with a warning: a broken setting must not lock everybody out.
async fn int_setting(state: &AppState, key: &str, default: i64) -> i64 {
    let db = match state.store.get_setting("", key).await {
        Ok(row) => row.map(|s| s.value.0),
        Err(e) => {
            tracing::warn!(error = %e, key, "reading a session setting failed; using the default");
            None
        }
    };
    match rgw_core::settings::resolve(key, None, |var| std::env::var(var).ok(), db.as_ref()) {
        Ok(r) => r.as_i64().unwrap_or(default),
        Err(e) => {
            tracing::warn!(error = %e, key, "invalid session setting; using the default");
            default
        }
    }
}

impl SessionPolicy {
    /// The policy from the settings `session_idle_timeout_minutes`,
    /// `session_absolute_timeout_hours` and `cli_session_lifetime_days`.
    pub async fn load(state: &AppState) -> SessionPolicy {
        let d = SessionPolicy::default();
        SessionPolicy {
            idle: Duration::minutes(
                int_setting(
                    state,
                    "session_idle_timeout_minutes",
                    d.idle.whole_minutes(),
                )
                .await,
            ),
            absolute: Duration::hours(
                int_setting(
                    state,
                    "session_absolute_timeout_hours",
                    d.absolute.whole_hours(),
                )
                .await,
            ),
            cli_lifetime: Duration::days(
                int_setting(
                    state,
                    "cli_session_lifetime_days",
                    d.cli_lifetime.whole_days(),
                )
                .await,
            ),
        }
    }

    /// Idle and absolute expiry of a session created at `now`.
    pub fn expiries(
        &self,
        channel: Channel,
        now: OffsetDateTime,
    ) -> (OffsetDateTime, OffsetDateTime) {
        match channel {
            Channel::Web => {
                let absolute = now + self.absolute;
                ((now + self.idle).min(absolute), absolute)
            }
            Channel::Cli => {
                let end = now + self.cli_lifetime;
                (end, end)
            }
        }
    }
}

/// A freshly issued session and its token (shown to the client once).
pub struct IssuedSession {
    pub token: SecretString,
    pub session: Session,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("session_public_id", &self.session.public_id)
            .finish_non_exhaustive()
    }
}

/// Creates a session for `user_id`. `mfa` marks it MFA-verified (method, time).
pub async fn issue(
    state: &AppState,
    user_id: i64,
    channel: Channel,
    meta: &RequestMeta,
    mfa: Option<(&str, OffsetDateTime)>,
) -> Result<IssuedSession, ApiError> {
    let now = state.clock.now();
    let policy = SessionPolicy::load(state).await;
    let (idle, absolute) = policy.expiries(channel, now);
    let token = tokens::generate_session_token();
    let session = state
        .store
        .create_session(
            &NewSession {
                token_hash: tokens::hash(&token),
                user_id,
                channel: channel.as_str().to_owned(),
                idle_expires_at: idle,
                absolute_expires_at: absolute,
                mfa_verified_at: mfa.map(|(_, at)| at),
                mfa_method: mfa.map(|(m, _)| m.to_owned()),
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
            },
            now,
        )
        .await?;
    Ok(IssuedSession { token, session })
}

/// Replaces the caller's session with a new one marked MFA-verified by `method` (session
/// rotation at MFA). The old token stops working at once. Web callers must set the new cookie
/// ([`cookie`]); CLI callers must be given the new token.
pub async fn rotate_after_mfa(
    state: &AppState,
    user: &UserPrincipal,
    method: &str,
    meta: &RequestMeta,
) -> Result<IssuedSession, ApiError> {
    let now = state.clock.now();
    let issued = issue(state, user.user_id, user.channel, meta, Some((method, now))).await?;
    state
        .store
        .revoke_session(user.session_id, Some(user.user_id), now)
        .await?;
    Ok(issued)
}

/// Extends a session's idle expiry after activity, at most once per [`TOUCH_INTERVAL`]. The
/// write is off the request's critical path; the cached copy records it at once so that the
/// next requests do not write it again. A failed write is logged: the session then ends at its
/// previous idle expiry, which is the safe direction.
pub async fn touch(
    state: &AppState,
    hash: &crate::auth::cache::CredentialHash,
    session: &Session,
    now: OffsetDateTime,
) {
    if now - session.last_seen_at < TOUCH_INTERVAL {
        return;
    }
    let channel = Channel::parse(&session.channel).unwrap_or(Channel::Web);
    let idle = match channel {
        Channel::Web => now + SessionPolicy::load(state).await.idle,
        Channel::Cli => session.absolute_expires_at,
    };
    state.auth.credentials.note_session_touch(hash, now, idle);
    let store = state.store.clone();
    let id = session.id;
    tokio::spawn(async move {
        if let Err(e) = store.touch_session(id, idle, now).await {
            tracing::warn!(error = %e, session_id = id, "recording session activity failed");
        }
    });
}

/// Whether the session cookie carries `Secure`: always, except plain http on a loopback
/// public URL (local development).
pub fn cookie_secure(config: &Config) -> bool {
    let url = &config.public_url;
    if url.scheme() == "https" {
        return true;
    }
    !matches!(url.host(), Some(url::Host::Domain("localhost")))
        && !matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        && !matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
}

/// The session cookie's name under this configuration.
pub fn cookie_name(config: &Config) -> &'static str {
    if cookie_secure(config) {
        COOKIE_NAME_SECURE
    } else {
        COOKIE_NAME_DEV
    }
}

/// The session cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` per [`cookie_secure`],
/// no `Max-Age` (the server enforces expiry; the browser drops it when it closes).
pub fn cookie(config: &Config, token: &SecretString) -> Cookie<'static> {
    Cookie::build((cookie_name(config), token.expose_secret().to_owned()))
        .http_only(true)
        .secure(cookie_secure(config))
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

/// A cookie that deletes the session cookie.
pub fn removal_cookie(config: &Config) -> Cookie<'static> {
    let mut c = Cookie::build((cookie_name(config), ""))
        .http_only(true)
        .secure(cookie_secure(config))
        .same_site(SameSite::Lax)
        .path("/")
        .build();
    c.make_removal();
    c
}
