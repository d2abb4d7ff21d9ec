//! The credential cache: session and API token rows (joined with their owner's status) kept in
//! memory, so that an authenticated request costs a hash and a map lookup instead of a
//! database round trip.
//!
//! It never weakens a decision:
//! - a copy is used only while the store's change feed says it is current
//!   ([`rgw_store::changes`]): any revocation, suspension, lock, deletion, expiry change or MFA
//!   change committed by this process drops every copy before its write call returns, one made
//!   by another PostgreSQL replica within the listener's delay, and any other write within
//!   [`rgw_store::changes::UNWATCHED_MAX_AGE`];
//! - only credentials that were found are cached, so an unknown token always reaches the
//!   database;
//! - a copy only ever *accepts*: when checks on a cached copy would refuse, the caller reads the
//!   database again and decides on that ([`Lookup::fresh`]), so a stale copy cannot lock
//!   anybody out either (e.g. an idle expiry that another replica has since extended).

use rgw_store::changes::{StampedCache, Topic};
use rgw_store::{ApiTokenLookup, SessionLookup, Store, StoreError};
use time::OffsetDateTime;

/// Entries kept at most; beyond it the cache starts over (cheap, and bounded memory under a
/// flood of distinct valid credentials).
const MAX_ENTRIES: usize = 10_000;

/// SHA-256 of a presented credential.
pub type CredentialHash = [u8; 32];

#[derive(Clone)]
enum Row {
    Session(Box<SessionLookup>),
    Token(Box<ApiTokenLookup>),
}

/// Where a looked-up row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// From memory: refusals must be confirmed against the database.
    Cached,
    /// From the database just now.
    Fresh,
}

impl Lookup {
    /// Whether the row was read from the database just now.
    #[must_use]
    pub fn fresh(self) -> bool {
        self == Lookup::Fresh
    }
}

/// The per-process credential cache (see the module docs).
pub struct CredentialCache(StampedCache<CredentialHash, Row>);

impl Default for CredentialCache {
    fn default() -> Self {
        CredentialCache(StampedCache::new(Topic::Identity, MAX_ENTRIES))
    }
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache").finish_non_exhaustive()
    }
}

impl CredentialCache {
    /// Forgets one credential (e.g. after this process revoked it).
    pub fn forget(&self, hash: &CredentialHash) {
        self.0.remove(hash);
    }

    /// The session with this token hash: from memory when `allow_cached` and current,
    /// otherwise from the database (and then remembered if found).
    ///
    /// # Errors
    /// The store's.
    pub async fn session(
        &self,
        store: &Store,
        hash: &CredentialHash,
        allow_cached: bool,
    ) -> Result<Option<(SessionLookup, Lookup)>, StoreError> {
        if allow_cached && let Some(Row::Session(s)) = self.0.get(store.changes(), hash) {
            return Ok(Some((*s, Lookup::Cached)));
        }
        // The stamp is taken before the read: see `rgw_store::changes`.
        let stamp = self.0.stamp(store.changes());
        let found = store.lookup_session(hash).await?;
        match found {
            Some(s) => {
                self.0.put(*hash, stamp, Row::Session(Box::new(s.clone())));
                Ok(Some((s, Lookup::Fresh)))
            }
            None => {
                self.forget(hash);
                Ok(None)
            }
        }
    }

    /// The API token with this hash; as [`CredentialCache::session`].
    ///
    /// # Errors
    /// The store's.
    pub async fn token(
        &self,
        store: &Store,
        hash: &CredentialHash,
        allow_cached: bool,
    ) -> Result<Option<(ApiTokenLookup, Lookup)>, StoreError> {
        if allow_cached && let Some(Row::Token(t)) = self.0.get(store.changes(), hash) {
            return Ok(Some((*t, Lookup::Cached)));
        }
        let stamp = self.0.stamp(store.changes());
        let found = store.lookup_api_token(hash).await?;
        match found {
            Some(t) => {
                self.0.put(*hash, stamp, Row::Token(Box::new(t.clone())));
                Ok(Some((t, Lookup::Fresh)))
            }
            None => {
                self.forget(hash);
                Ok(None)
            }
        }
    }

    /// Records in the cached copy that the session's activity was written (so that the next
    /// requests do not write it again).
    pub fn note_session_touch(
        &self,
        hash: &CredentialHash,
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) {
        self.0.update(hash, |row| {
            if let Row::Session(s) = row {
                s.session.last_seen_at = now;
                s.session.idle_expires_at = idle_expires_at.min(s.session.absolute_expires_at);
            }
        });
    }
}
