//! [`StoreError`] and the single translation from driver errors to it, so that callers match on
//! variants and constraint names, never on database message text.

use sqlx::error::DatabaseError;

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write. `constraint` is the index/constraint name
    /// (identical on both backends, e.g. `uq_deploy_approval_requests_open`); map it to 409.
    #[error("{message} ({constraint})")]
    Conflict {
        /// Name of the violated unique index or constraint.
        constraint: String,
        /// A human sentence describing the conflict.
        message: String,
    },
    /// A trigger or CHECK constraint refused the write (lifecycle rule, single-use chain,
    /// append-only table, malformed value). Map it to 409 or 422.
    #[error("{message}")]
    Invariant {
        /// The trigger's sentence, or `check constraint <name> failed` for a CHECK.
        message: String,
    },
    /// Bad input detected before reaching the database (e.g. an unparseable URL).
    #[error("{0}")]
    Invalid(String),
    /// Applying migrations failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Any other database error (connection, protocol, decoding, …).
    #[error("database error")]
    Db(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        map_sqlx_error(err)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(err)
    }
}

/// Unique indexes whose name SQLite cannot report and that do not follow `uq_<table>_<columns>`.
const NAMED_UNIQUE_INDEXES: &[(&str, &str, &str)] = &[
    (
        "deploy_approval_requests",
        "app,git_commit_hash,target_api_token_id",
        "uq_deploy_approval_requests_open",
    ),
    (
        "users",
        "oidc_issuer,oidc_subject",
        "uq_users_oidc_identity",
    ),
];

// SQLite extended result codes (sqlite3.h).
const SQLITE_CONSTRAINT_CHECK: &str = "275";
const SQLITE_CONSTRAINT_FOREIGNKEY: &str = "787";
const SQLITE_CONSTRAINT_NOTNULL: &str = "1299";
const SQLITE_CONSTRAINT_PRIMARYKEY: &str = "1555";
const SQLITE_CONSTRAINT_TRIGGER: &str = "1811";
const SQLITE_CONSTRAINT_UNIQUE: &str = "2067";

/// Translates a driver error into a [`StoreError`]. The one place that knows error codes.
pub(crate) fn map_sqlx_error(err: sqlx::Error) -> StoreError {
    if matches!(err, sqlx::Error::RowNotFound) {
        return StoreError::NotFound;
    }
    let Some(db) = err.as_database_error() else {
        return StoreError::Db(err);
    };
    let mapped = if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        map_pg(db)
    } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        map_sqlite(db)
    } else {
        None
    };
    mapped.unwrap_or(StoreError::Db(err))
}

fn map_pg(db: &dyn DatabaseError) -> Option<StoreError> {
    let code = db.code()?;
    let constraint = db.constraint().map(str::to_owned);
    match (&*code, constraint) {
        ("23505", Some(name)) => Some(conflict(name)),
        // A CHECK constraint names itself; a trigger's RAISE (check_violation or the default
        // raise_exception) carries our sentence.
        ("23514", Some(name)) => Some(check_failed(&name)),
        ("23514" | "P0001", None) => Some(invariant(db.message())),
        ("23503", name) => Some(invariant(&format!(
            "foreign key constraint {} failed: the referenced row is missing or still referenced",
            name.as_deref().unwrap_or("(unnamed)")
        ))),
        ("23502", _) => Some(invariant(db.message())),
        _ => None,
    }
}

fn map_sqlite(db: &dyn DatabaseError) -> Option<StoreError> {
    let code = db.code()?;
    let message = db.message();
    match &*code {
        SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => {
            let pk = &*code == SQLITE_CONSTRAINT_PRIMARYKEY;
            Some(conflict(sqlite_unique_name(message, pk)?))
        }
        SQLITE_CONSTRAINT_CHECK => {
            let name = message
                .strip_prefix("CHECK constraint failed: ")
                .unwrap_or(message);
            Some(check_failed(name))
        }
        SQLITE_CONSTRAINT_TRIGGER => Some(invariant(message)),
        SQLITE_CONSTRAINT_FOREIGNKEY => Some(invariant(
            "foreign key constraint (unnamed) failed: the referenced row is missing or still referenced",
        )),
        SQLITE_CONSTRAINT_NOTNULL => Some(invariant(message)),
        _ => None,
    }
}

/// SQLite reports `UNIQUE constraint failed: t.a, t.b`; rebuild the name the PostgreSQL
/// migration gives the same constraint.
fn sqlite_unique_name(message: &str, primary_key: bool) -> Option<String> {
    let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
    let mut table = "";
    let mut cols = Vec::new();
    for qualified in columns.split(", ") {
        let (t, c) = qualified.split_once('.')?;
        table = t;
        cols.push(c);
    }
    let joined = cols.join(",");
    if let Some((_, _, name)) = NAMED_UNIQUE_INDEXES
        .iter()
        .find(|(t, c, _)| *t == table && *c == joined)
    {
        return Some((*name).to_owned());
    }
    Some(if primary_key {
        format!("{table}_pkey")
    } else {
        format!("uq_{table}_{}", cols.join("_"))
    })
}

fn conflict(constraint: String) -> StoreError {
    let message = match constraint.as_str() {
        "uq_deploy_approval_requests_open" => {
            "an open deploy approval request already exists for this app, commit and target token"
                .to_owned()
        }
        "uq_users_email" => "a user with this email already exists".to_owned(),
        "uq_users_oidc_identity" => {
            "another user is already bound to this single sign-on identity".to_owned()
        }
        "uq_api_tokens_name" => "an API token with this name already exists".to_owned(),
        "uq_deploy_approvals_request_id_user_id" => {
            "this user has already approved this request".to_owned()
        }
        other => format!("a row violating {other} already exists"),
    };
    StoreError::Conflict {
        constraint,
        message,
    }
}

fn check_failed(name: &str) -> StoreError {
    invariant(&format!("check constraint {name} failed"))
}

fn invariant(message: &str) -> StoreError {
    StoreError::Invariant {
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_unique_name;

    #[test]
    fn sqlite_unique_messages_map_to_the_postgres_constraint_names() {
        let open = "UNIQUE constraint failed: deploy_approval_requests.app, \
                    deploy_approval_requests.git_commit_hash, deploy_approval_requests.target_api_token_id";
        assert_eq!(
            sqlite_unique_name(open, false).as_deref(),
            Some("uq_deploy_approval_requests_open")
        );
        assert_eq!(
            sqlite_unique_name("UNIQUE constraint failed: users.email", false).as_deref(),
            Some("uq_users_email")
        );
        assert_eq!(
            sqlite_unique_name("UNIQUE constraint failed: audit_events.seq", true).as_deref(),
            Some("audit_events_pkey")
        );
    }
}
