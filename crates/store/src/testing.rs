//! Test support (feature `testing`): fresh, isolated stores on every available backend, for the
//! tests of this crate and of the crates above it (server, testkit). Keep this API stable.
//!
//! - SQLite: a new database file in a temporary directory that lives as long as the
//!   [`TestStore`].
//! - PostgreSQL: only when `RGW_TEST_POSTGRES_URL` is set; a new schema `t_<uuid>` in that
//!   database, reached through `search_path`. When the variable is unset, one line
//!   `skipped: RGW_TEST_POSTGRES_URL not set` is printed per process and only SQLite is
//!   returned; when it is set but the server is unreachable, the test panics.
//!
//! ```no_run
//! # async fn demo() {
//! for t in rgw_store::testing::test_stores().await {
//!     // t.store is migrated and empty; t.url reaches the same database (e.g. for a server).
//!     t.cleanup().await;
//! }
//! # }
//! ```

use std::io::Write as _;
use std::sync::Once;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use crate::db::{Backend, Store, StoreOptions, with_db};
use crate::error::StoreError;

/// The environment variable naming the PostgreSQL database tests may create schemas in.
pub const POSTGRES_URL_VAR: &str = "RGW_TEST_POSTGRES_URL";

static SKIP_NOTICE: Once = Once::new();

/// A migrated, empty store for one test, plus what is needed to reach the same database again.
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Store,
    /// Its backend.
    pub backend: Backend,
    /// A URL that [`Store::connect`] resolves to this same database: `sqlite://<file>`, or the
    /// PostgreSQL URL with `options=-c search_path=<schema>`.
    pub url: String,
    /// The PostgreSQL schema, if any.
    pub schema: Option<String>,
    admin_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// Runs raw SQL (one or more statements) directly, bypassing the repositories, mapping
    /// errors like every store method does. For tests that try a bad write on purpose.
    ///
    /// # Errors
    /// The mapped [`StoreError`] (e.g. `Invariant` from a trigger).
    pub async fn raw_execute(&self, sql: &str) -> Result<u64, StoreError> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let n = with_db!(&self.store.db, p => sqlx::raw_sql(sql).execute(p).await?.rows_affected());
        // Raw SQL may change anything a cache holds: as any writer of this process would.
        self.store.changes.bump_all();
        Ok(n)
    }

    /// Closes the pool and, on PostgreSQL, drops the test schema. Best effort: tests that
    /// panic before calling it leave their schema behind.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let (Some(admin), Some(schema)) = (self.admin_url, self.schema) {
            drop_postgres_schema(&admin, &schema).await;
        }
    }
}

/// Drops a schema made by [`fresh_postgres_schema`] (best effort, errors ignored).
pub async fn drop_postgres_schema(admin_url: &str, schema: &str) {
    if let Ok(mut conn) = PgConnection::connect(admin_url).await {
        let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

/// One fresh store per available backend: SQLite always, PostgreSQL when
/// `RGW_TEST_POSTGRES_URL` is set.
///
/// # Panics
/// When a backend cannot be set up (e.g. PostgreSQL unreachable): the test must fail.
pub async fn test_stores() -> Vec<TestStore> {
    let mut stores = vec![sqlite_test_store().await];
    if let Some(pg) = postgres_test_store().await {
        stores.push(pg);
    }
    stores
}

/// A fresh SQLite store in a temporary directory.
///
/// # Panics
/// When the temporary directory or database cannot be created.
pub async fn sqlite_test_store() -> TestStore {
    let dir = tempfile::tempdir().expect("create a temporary directory for the SQLite test store");
    let url = format!("sqlite://{}", dir.path().join("rack-gateway.db").display());
    let store = Store::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("open SQLite test store {url}: {e:?}"));
    TestStore {
        store,
        backend: Backend::Sqlite,
        url,
        schema: None,
        admin_url: None,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL store in its own schema, or `None` (with the one-line notice) when
/// `RGW_TEST_POSTGRES_URL` is unset.
///
/// # Panics
/// When the variable is set but the database is unreachable or refuses the schema.
pub async fn postgres_test_store() -> Option<TestStore> {
    let (admin_url, schema, url) = fresh_postgres_schema().await?;
    let options = StoreOptions {
        max_connections: Some(4),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(&url, options)
        .await
        .unwrap_or_else(|e| panic!("connect to PostgreSQL test schema {schema}: {e:?}"));
    Some(TestStore {
        store,
        backend: Backend::Postgres,
        url,
        schema: Some(schema),
        admin_url: Some(admin_url),
        _dir: None,
    })
}

/// Creates an empty schema in the `RGW_TEST_POSTGRES_URL` database without migrating it and
/// returns `(admin_url, schema, url)`, where `url` connects with that schema as `search_path`.
/// `None` (with the one-line notice) when the variable is unset.
///
/// # Panics
/// When the variable is set but the database is unreachable or refuses the schema.
pub async fn fresh_postgres_schema() -> Option<(String, String, String)> {
    let Some(admin_url) = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
    else {
        SKIP_NOTICE.call_once(|| {
            // Straight to stderr: libtest captures print!/eprint! but not direct writes.
            let _ = writeln!(std::io::stderr(), "skipped: {POSTGRES_URL_VAR} not set");
        });
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create test schema {schema}: {e}"));
    let _ = conn.close().await;
    let mut url = url::Url::parse(&admin_url)
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is not a URL: {e}"));
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    Some((admin_url, schema, url.to_string()))
}
