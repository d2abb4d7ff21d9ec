//! Timestamp binding shared by both backends: UTC, microsecond precision (the one rule lives in
//! `rgw_core::clock::normalize`), and a fixed-width text form on SQLite so that text order equals
//! time order.

use rgw_core::clock::normalize;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Type};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// Always six fractional digits: sqlx's default RFC 3339 text drops a zero fraction
/// (`…:00Z` sorts after `…:00.5Z`), which would break `run_at <= $1` comparisons on SQLite.
const SQLITE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A timestamp as bound into SQL. Every timestamp parameter goes through this type; rows decode
/// into plain [`OffsetDateTime`] (sqlx parses the SQLite text form as RFC 3339).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ts(pub(crate) OffsetDateTime);

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        let text = normalize(self.0).format(SQLITE_FORMAT)?;
        <String as Encode<Sqlite>>::encode(text, buf)
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode(normalize(self.0), buf)
    }
}

/// Binds an optional timestamp.
pub(crate) fn ts_opt(t: Option<OffsetDateTime>) -> Option<Ts> {
    t.map(Ts)
}
