//! Identity: who is calling. Local password login, OpenID Connect login, server-side sessions
//! (web cookies and CLI bearer tokens), API tokens, CSRF and the request extractors that turn
//! credentials into a [`Principal`].
//!
//! Credentials are opaque random strings told apart by prefix: API tokens `rgw_…`, session
//! tokens `rgws_…` (both `prefix + base64url(32 random bytes)`). Only their SHA-256 is stored.
//! Every request re-reads the credential joined with its owner's status, so a revocation,
//! suspension, lock or deletion written by any replica stops the credential on the next request.

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
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use time::{Duration, OffsetDateTime};

pub use extract::{RequestMeta, RequireUser, authenticate, authenticate_for_method};
pub use principal::{Authorized, Channel, Principal, TokenPrincipal, UserPrincipal};

use crate::app::AppState;
use crate::audit::AuditEvent;

/// How often at most `api_tokens.last_used_at` is written per token and process.
pub const LAST_USED_FLUSH_INTERVAL: Duration = Duration::minutes(1);

/// Per-process identity state: caches that make per-request work cheap. Nothing here is
/// needed for correctness across replicas (every authorization decision reads the database).
pub struct AuthRuntime {
    /// Token id → when this process last wrote its `last_used_at`.
    last_used_flushed: Mutex<HashMap<i64, OffsetDateTime>>,
    /// How many argon2 verifications ran (tests assert the unknown-email path runs one).
    password_verifications: AtomicU64,
    /// The discovered OpenID provider, once reachable.
    pub(crate) oidc: tokio::sync::OnceCell<oidc::Provider>,
    /// Bounds concurrent argon2 work (19 MiB and tens of ms each), so a burst of login
    /// attempts queues instead of exhausting memory and the blocking pool.
    pub(crate) hashing: tokio::sync::Semaphore,
}

/// Concurrent argon2 computations per process.
pub const MAX_CONCURRENT_HASHES: usize = 8;

impl Default for AuthRuntime {
    fn default() -> Self {
        AuthRuntime {
            last_used_flushed: Mutex::default(),
            password_verifications: AtomicU64::new(0),
            oidc: tokio::sync::OnceCell::new(),
            hashing: tokio::sync::Semaphore::new(MAX_CONCURRENT_HASHES),
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
        self.password_verifications.load(Ordering::Relaxed)
    }

    pub(crate) fn count_password_verification(&self) {
        self.password_verifications.fetch_add(1, Ordering::Relaxed);
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

/// Records an identity audit event.
///
/// Integration note: until the audit writer (`Auditor`) lands in `AppState`, events go to the
/// `audit` tracing target; swap the body for `state.auditor.record(event)` then. Events never
/// carry secrets: callers put only ids, names and emails in `details`.
pub async fn audit_event(state: &AppState, event: AuditEvent) {
    let _ = state;
    tracing::info!(
        target: "audit",
        action = %event.action,
        outcome = event.outcome.as_str(),
        actor = ?event.actor,
        resource = event.resource.as_deref().unwrap_or(""),
        ip = event.ip.as_deref().unwrap_or(""),
        request_id = event.request_id.as_deref().unwrap_or(""),
        details = %event.details,
        "audit event"
    );
}
