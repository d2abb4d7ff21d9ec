//! [`StoreTx`]: a transaction on either backend, so that a state change and the jobs and audit
//! rows that follow from it commit or roll back together.

use sqlx::{Postgres, Sqlite, Transaction};

use std::sync::Arc;

use crate::changes::{ChangeFeed, Topic, TopicSet};
use crate::db::Backend;
use crate::error::StoreError;

/// Runs `$body` with `$c` bound to the transaction's native connection
/// (`&mut SqliteConnection` or `&mut PgConnection`; reborrow with `&mut *$c`).
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::tx::TxInner::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::tx::TxInner::Pg(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Pg(Transaction<'static, Postgres>),
}

/// An open transaction from [`Store::begin`](crate::Store::begin). Dropping it without
/// [`StoreTx::commit`] rolls back. On PostgreSQL any failed statement aborts the whole
/// transaction: after an error, roll back rather than carrying on.
pub struct StoreTx {
    pub(crate) inner: TxInner,
    changes: Arc<ChangeFeed>,
    /// Topics whose rows this transaction changed: bumped after the commit.
    changed: TopicSet,
}

impl std::fmt::Debug for StoreTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTx")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl StoreTx {
    pub(crate) fn sqlite(tx: Transaction<'static, Sqlite>, changes: Arc<ChangeFeed>) -> Self {
        Self {
            inner: TxInner::Sqlite(tx),
            changes,
            changed: TopicSet::default(),
        }
    }

    pub(crate) fn pg(tx: Transaction<'static, Postgres>, changes: Arc<ChangeFeed>) -> Self {
        Self {
            inner: TxInner::Pg(tx),
            changes,
            changed: TopicSet::default(),
        }
    }

    /// Notes that this transaction changes rows of `topic` (cached copies are dropped when it
    /// commits).
    pub(crate) fn changes(&mut self, topic: Topic) {
        self.changed.insert(topic);
    }

    /// Which backend this transaction runs on.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Pg(_) => Backend::Postgres,
        }
    }

    /// Commits the transaction.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the commit fails (nothing was written).
    pub async fn commit(self) -> Result<(), StoreError> {
        let committed = match self.inner {
            TxInner::Sqlite(t) => t.commit().await,
            TxInner::Pg(t) => t.commit().await,
        };
        // After the commit, never before: a copy read between a bump and the commit would
        // hold the old row under the new epoch. Also after a failed commit, whose outcome the
        // client cannot always know (a connection lost during COMMIT).
        self.changes.bump_set(self.changed);
        committed?;
        Ok(())
    }

    /// Rolls the transaction back explicitly.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the rollback cannot be sent.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Pg(t) => t.rollback().await?,
        }
        Ok(())
    }
}
