//! [`StoreTx`]: a transaction on either backend, so that a state change and the jobs and audit
//! rows that follow from it commit or roll back together.

use sqlx::{Postgres, Sqlite, Transaction};

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
}

impl std::fmt::Debug for StoreTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTx")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl StoreTx {
    pub(crate) fn sqlite(tx: Transaction<'static, Sqlite>) -> Self {
        Self {
            inner: TxInner::Sqlite(tx),
        }
    }

    pub(crate) fn pg(tx: Transaction<'static, Postgres>) -> Self {
        Self {
            inner: TxInner::Pg(tx),
        }
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
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Pg(t) => t.commit().await?,
        }
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
