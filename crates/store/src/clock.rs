//! Timestamp handling shared by both backends: UTC, microsecond precision, and a fixed-width
//! text form on SQLite so that text order equals time order.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Type};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Converts `t` to UTC and truncates it to whole microseconds, the precision PostgreSQL keeps,
/// so that a value round-trips identically through both backends.
#[must_use]
pub fn truncate_timestamp(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let nanos = t.nanosecond();
    // `replace_nanosecond` only fails for values >= 1e9, which truncation cannot produce.
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// The current time in UTC, truncated to microseconds (see [`truncate_timestamp`]).
#[must_use]
pub fn now_utc() -> OffsetDateTime {
    truncate_timestamp(OffsetDateTime::now_utc())
}

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
        let text = truncate_timestamp(self.0).format(SQLITE_FORMAT)?;
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
        <OffsetDateTime as Encode<Postgres>>::encode(truncate_timestamp(self.0), buf)
    }
}

/// Binds an optional timestamp.
pub(crate) fn ts_opt(t: Option<OffsetDateTime>) -> Option<Ts> {
    t.map(Ts)
}
