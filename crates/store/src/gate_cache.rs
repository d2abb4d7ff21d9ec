//! The gate's read-only lookup served from memory: which approvals of a token for an app are
//! live, for the calls that only read under an approval (build status and logs, the app's log
//! stream). Steps that change something (upload, build, promote, run) never use it: they read
//! and claim in the database, which stays the only authority for the deploy chain.
//!
//! Copies live under [`Topic::Approvals`] of the change feed (see [`crate::changes`]): every
//! write of this process to a request drops them when it commits, other gateways' writes when
//! their notification arrives, and anything else within the unwatched bound. Liveness in time
//! (`approval_expires_at`) is re-checked against `now` on every use.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::approvals::DeployApprovalRequest;
use crate::changes::{StampedCache, Topic};
use crate::db::Store;
use crate::error::StoreError;

/// Entries kept at most before the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Cached results of [`Store::live_requests_for`], by (token, app). Rows are shared: a hit
/// hands out reference-counted rows instead of copying every string and JSON document of
/// every live request on every gated read.
#[derive(Debug)]
pub struct LiveCache(StampedCache<(i64, String), Vec<Arc<DeployApprovalRequest>>>);

impl Default for LiveCache {
    fn default() -> Self {
        LiveCache(StampedCache::new(Topic::Approvals, MAX_ENTRIES))
    }
}

impl Store {
    /// [`Store::live_requests_for`] from memory when a current copy exists. The answer may be
    /// up to the change feed's bound behind another gateway's change: use it only to *allow*
    /// read-only calls, and decide refusals on [`Store::live_requests_for`].
    ///
    /// # Errors
    /// Db.
    pub async fn live_requests_for_cached(
        &self,
        token_id: i64,
        app: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Arc<DeployApprovalRequest>>, StoreError> {
        let cache = &self.live_cache.0;
        let key = (token_id, app.to_owned());
        if let Some(rows) = cache.get(&self.changes, &key) {
            return Ok(rows
                .into_iter()
                .filter(|r| r.approval_expires_at.is_some_and(|at| at > now))
                .collect());
        }
        let stamp = cache.stamp(&self.changes);
        let rows: Vec<_> = self
            .live_requests_for(token_id, app, now)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        cache.put(key, stamp, rows.clone());
        Ok(rows)
    }
}
