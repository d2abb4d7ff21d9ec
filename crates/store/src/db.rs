//! The [`Store`] handle: connecting, migrating and dispatching to the backend's native pool.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::changes::ChangeFeed;
use crate::error::StoreError;
use crate::tx::StoreTx;

pub(crate) static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
pub(crate) static PG_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Runs `$body` with `$p` bound to the backend's native pool. The body is compiled once per
/// backend, so the same SQL and `FromRow` types are checked against both drivers.
macro_rules! with_db {
    ($db:expr, $p:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($p) => $body,
            $crate::db::Db::Pg($p) => $body,
        }
    };
}
pub(crate) use with_db;

/// A native pool per backend.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (embedded, one gateway).
    Sqlite,
    /// PostgreSQL (production, several replicas).
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Tuning for [`Store::connect_with`].
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Pool size; `None` picks the backend default (SQLite 4, PostgreSQL 10).
    pub max_connections: Option<u32>,
    /// How long to wait for a pooled connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The persistence handle. Cheap to clone (it shares the pools and the change feed).
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// The pool for the hot path's reads (credential, setting and gate lookups). On SQLite a
    /// pool of its own, so that readers never queue for a connection behind writers waiting
    /// for the single write lock (WAL lets them read meanwhile); on PostgreSQL the same pool.
    pub(crate) reads: Db,
    pub(crate) changes: Arc<ChangeFeed>,
    pub(crate) live_cache: Arc<crate::gate_cache::LiveCache>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path`, `postgres://…` or `postgresql://…`) with default
    /// options and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an unsupported or unparseable URL, [`StoreError::Db`] when
    /// the database cannot be reached, [`StoreError::Migrate`] when migrations fail.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Like [`Store::connect`] with explicit pool options.
    ///
    /// SQLite: the file is created if missing; WAL, `busy_timeout` 5 s, foreign keys on,
    /// `synchronous = NORMAL`, `temp_store = MEMORY`. PostgreSQL: the sqlx migrator holds an advisory lock while it
    /// runs, so several gateways starting at once against one database is safe.
    ///
    /// # Errors
    /// As [`Store::connect`].
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| {
                    StoreError::Invalid(format!("invalid SQLite URL in RGW_DATABASE_URL: {e}"))
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .synchronous(SqliteSynchronous::Normal)
                // Statement journals and temporary b-trees in memory: on disk, SQLite creates,
                // writes and deletes a file under /var/tmp for each multi-row statement that
                // may need a partial rollback (every audit batch insert), which dominated the
                // gateway's system calls under load.
                .pragma("temp_store", "memory");
            let size = options.max_connections.unwrap_or(4);
            let pool = SqlitePoolOptions::new()
                .max_connections(size)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect.clone())
                .await?;
            SQLITE_MIGRATOR.run(&pool).await?;
            // An in-memory database exists once per connection set: reads must share the pool.
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let reads = if in_memory {
                pool.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_lazy_with(connect)
            };
            Store {
                db: Db::Sqlite(pool),
                reads: Db::Sqlite(reads),
                changes: Arc::default(),
                live_cache: Arc::default(),
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url).map_err(|e| {
                StoreError::Invalid(format!("invalid PostgreSQL URL in RGW_DATABASE_URL: {e}"))
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.unwrap_or(10))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            PG_MIGRATOR.run(&pool).await?;
            Store {
                db: Db::Pg(pool.clone()),
                reads: Db::Pg(pool),
                changes: Arc::default(),
                live_cache: Arc::default(),
            }
        } else {
            // Only the scheme is echoed: the URL may carry a password.
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            return Err(StoreError::Invalid(format!(
                "unsupported database URL scheme {scheme:?} in RGW_DATABASE_URL: \
                 expected sqlite://PATH or postgres://USER@HOST/DB"
            )));
        };
        tracing::info!(backend = %store.backend(), "database connected and migrated");
        Ok(store)
    }

    /// Which backend this store uses.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Pg(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database cannot be reached.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_db!(&self.db, p => sqlx::query("SELECT 1").execute(p).await?.rows_affected());
        Ok(())
    }

    /// Closes the pools, waiting for checked-out connections to be returned.
    pub async fn close(&self) {
        with_db!(&self.db, p => p.close().await);
        with_db!(&self.reads, p => p.close().await);
    }

    /// The change feed of this store (see [`crate::changes`]).
    #[must_use]
    pub fn changes(&self) -> &Arc<ChangeFeed> {
        &self.changes
    }

    /// Starts a transaction. On SQLite it is `BEGIN IMMEDIATE`, taking the write lock up front
    /// so that a read-then-write transaction cannot fail halfway with `SQLITE_BUSY`.
    ///
    /// # Errors
    /// [`StoreError::Db`] when no connection is available.
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        Ok(match &self.db {
            Db::Sqlite(p) => {
                StoreTx::sqlite(p.begin_with("BEGIN IMMEDIATE").await?, self.changes.clone())
            }
            Db::Pg(p) => StoreTx::pg(p.begin().await?, self.changes.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{PG_MIGRATOR, SQLITE_MIGRATOR};

    #[test]
    fn migration_folders_have_identical_versions_and_descriptions() {
        let list = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string(), m.migration_type))
                .collect::<Vec<_>>()
        };
        let sqlite = list(&SQLITE_MIGRATOR);
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, list(&PG_MIGRATOR));
    }
}
