//! Identity: who is calling. Local password login, OpenID Connect login, server-side sessions
//! (web cookies and CLI bearer tokens), API tokens, CSRF and the request extractors that turn
//! credentials into a [`Principal`].
//!
//! Credentials are opaque random strings told apart by prefix: API tokens `rgw_…`, session
//! tokens `rgws_…` (both `prefix + base64url(32 random bytes)`). Only their SHA-256 is stored.
//! Every request checks the credential joined with its owner's status, so a revocation,
//! suspension, lock or deletion written by this gateway stops the credential on the next
//! request, and one written by another replica within the change feed's bound (see [`cache`]).

pub mod cache;
pub mod cli_login;
pub mod csrf;
pub mod extract;
pub mod local;
pub mod oidc;
pub mod password;
pub mod principal;
pub mod session;
pub mod throttle;
pub mod tokens;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use time::{Duration, OffsetDateTime};

pub use extract::{
    RequestMeta, RequireUser, authenticate, authenticate_for_method, credential_headers,
    reauthenticate,
};
pub use principal::{Authorized, Channel, Principal, TokenPrincipal, UserPrincipal};

use crate::app::AppState;
use crate::audit::AuditEvent;

/// How often at most `api_tokens.last_used_at` is written per token and process.
pub const LAST_USED_FLUSH_INTERVAL: Duration = Duration::minutes(1);

/// Per-process identity state: caches that make per-request work cheap. Correctness across
/// replicas comes from the store's change feed (see [`cache`]).
pub struct AuthRuntime {
    /// Session and API token rows served from memory (see [`cache::CredentialCache`]).
    pub credentials: cache::CredentialCache,
    /// Token id → when this process last wrote its `last_used_at`.
    last_used_flushed: Mutex<HashMap<i64, OffsetDateTime>>,
    /// The discovered OpenID provider, once reachable.
    pub(crate) oidc: tokio::sync::OnceCell<oidc::Provider>,
    /// Bounded argon2 hashing with reused working memory (see [`password::Hasher`]); built on
    /// first use from the configuration.
    pub(crate) hasher: OnceLock<password::Hasher>,
}

impl Default for AuthRuntime {
    fn default() -> Self {
        AuthRuntime {
            credentials: cache::CredentialCache::default(),
            last_used_flushed: Mutex::default(),
            oidc: tokio::sync::OnceCell::new(),
            hasher: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for AuthRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRuntime").finish_non_exhaustive()
    }
}

impl AuthRuntime {
    /// Number of argon2 password verifications this process has run.
    pub fn password_verifications(&self) -> u64 {
        self.hasher.get().map_or(0, password::Hasher::verifications)
    }

    /// Decides whether a use of token `id` at `now` should be written to `last_used_at`:
    /// at most once per [`LAST_USED_FLUSH_INTERVAL`] per token in this process (and not when
    /// the stored value, possibly written by another replica, is that recent).
    pub(crate) fn should_flush_last_used(
        &self,
        id: i64,
        stored: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> bool {
        if stored.is_some_and(|t| now - t < LAST_USED_FLUSH_INTERVAL) {
            return false;
        }
        let mut map = self
            .last_used_flushed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(&id) {
            Some(last) if now - *last < LAST_USED_FLUSH_INTERVAL => false,
            _ => {
                map.insert(id, now);
                true
            }
        }
    }
}

/// Records an identity audit event through the audit writer (`state.auditor`), which redacts,
/// chains and stores it. Callers never put secrets in `details`: only ids, names and emails.
pub async fn audit_event(state: &AppState, event: AuditEvent) {
    state.auditor.record(event).await;
}
