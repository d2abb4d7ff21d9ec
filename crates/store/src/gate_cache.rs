//! The gate's read-only lookup served from memory: which approvals of a token for an app are
//! live, for the calls that only read under an approval (build status and logs, the app's log
//! stream). Steps that change something (upload, build, promote, run) never use it: they read
//! and claim in the database, which stays the only authority for the deploy chain.
//!
//! Copies live under [`Topic::Approvals`] of the change feed (see [`crate::changes`]): every
//! write of this process to a request drops them when it commits, other gateways' writes when
//! their notification arrives, and anything else within the unwatched bound. Liveness in time
//! (`approval_expires_at`) is re-checked against `now` on every use.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use crate::approvals::DeployApprovalRequest;
use crate::changes::{Stamp, Topic};
use crate::db::Store;
use crate::error::StoreError;

/// Entries kept at most before the cache starts over.
const MAX_ENTRIES: usize = 10_000;

type Key = (i64, String);

/// Cached results of [`Store::live_requests_for`].
#[derive(Debug, Default)]
pub struct LiveCache {
    entries: Mutex<HashMap<Key, (Stamp, Vec<DeployApprovalRequest>)>>,
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
    ) -> Result<Vec<DeployApprovalRequest>, StoreError> {
        let key = (token_id, app.to_owned());
        {
            let map = self
                .live_cache
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((stamp, rows)) = map.get(&key)
                && self.changes.is_current(Topic::Approvals, stamp)
            {
                return Ok(rows
                    .iter()
                    .filter(|r| r.approval_expires_at.is_some_and(|at| at > now))
                    .cloned()
                    .collect());
            }
        }
        // Stamp before the read (see `crate::changes`).
        let stamp = self.changes.stamp(Topic::Approvals);
        let rows = self.live_requests_for(token_id, app, now).await?;
        let mut map = self
            .live_cache
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (stamp, rows.clone()));
        Ok(rows)
    }
}
