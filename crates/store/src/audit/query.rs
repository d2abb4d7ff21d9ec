//! Reading the audit log: filtered pages for the API (newest first, cursor = last seq) and
//! ascending pages for export and verification, so no caller ever loads the whole table.

use rgw_core::audit::StoredEvent;
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AuditRow, COLUMNS};
use crate::clock::Ts;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// Filters for listing and exporting. Every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// A user's email, a token's owner's email, or a token's name.
    pub actor: Option<String>,
    /// An exact action (`api_token.create`), or a prefix ending in `.` or `*` (`login.`).
    pub action: Option<String>,
    pub app: Option<String>,
    pub request_id: Option<String>,
    pub deploy_approval_request_id: Option<Uuid>,
    /// Inclusive lower bound on `occurred_at`.
    pub since: Option<OffsetDateTime>,
    /// Exclusive upper bound on `occurred_at`.
    pub until: Option<OffsetDateTime>,
    /// `success`, `denied`, `failed` or `error`.
    pub outcome: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<StoredEvent>,
    /// Pass back as `cursor` for the next (older) page; `None` at the end.
    pub next_cursor: Option<i64>,
}

enum Arg {
    Text(String),
    Uuid(Uuid),
    Ts(OffsetDateTime),
    I64(i64),
}

/// Escapes `LIKE` wildcards (`_` is common in action names).
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Builds `WHERE …` with `$n` placeholders; conditions are only added for set fields, so each
/// shape of filter gets a plan that can use its index.
fn where_clause(f: &AuditFilter, seq_cond: Option<(&str, i64)>, args: &mut Vec<Arg>) -> String {
    let mut conds: Vec<String> = Vec::new();
    let mut push = |cond: &dyn Fn(usize) -> String, arg: Arg| {
        args.push(arg);
        conds.push(cond(args.len()));
    };
    if let Some(a) = &f.actor {
        push(
            &|n| format!("(actor_email = ${n} OR actor_token_name = ${n})"),
            Arg::Text(a.clone()),
        );
    }
    if let Some(a) = &f.action {
        match a
            .strip_suffix('*')
            .or_else(|| a.ends_with('.').then_some(a.as_str()))
        {
            Some(prefix) => push(
                &|n| format!("action LIKE ${n} ESCAPE '\\'"),
                Arg::Text(like_prefix(prefix)),
            ),
            None => push(&|n| format!("action = ${n}"), Arg::Text(a.clone())),
        }
    }
    if let Some(v) = &f.app {
        push(&|n| format!("app = ${n}"), Arg::Text(v.clone()));
    }
    if let Some(v) = &f.request_id {
        push(&|n| format!("request_id = ${n}"), Arg::Text(v.clone()));
    }
    if let Some(v) = f.deploy_approval_request_id {
        push(
            &|n| format!("deploy_approval_request_id = ${n}"),
            Arg::Uuid(v),
        );
    }
    if let Some(v) = f.since {
        push(&|n| format!("occurred_at >= ${n}"), Arg::Ts(v));
    }
    if let Some(v) = f.until {
        push(&|n| format!("occurred_at < ${n}"), Arg::Ts(v));
    }
    if let Some(v) = &f.outcome {
        push(&|n| format!("outcome = ${n}"), Arg::Text(v.clone()));
    }
    if let Some((op, seq)) = seq_cond {
        push(&|n| format!("seq {op} ${n}"), Arg::I64(seq));
    }
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

impl Store {
    async fn select_audit(
        &self,
        filter: &AuditFilter,
        seq_cond: Option<(&str, i64)>,
        descending: bool,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut args = Vec::new();
        let mut sql = format!("SELECT {COLUMNS} FROM audit_events");
        sql.push_str(&where_clause(filter, seq_cond, &mut args));
        sql.push_str(if descending {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq ASC"
        });
        sql.push_str(&format!(" LIMIT {limit}"));
        let rows: Vec<AuditRow> = with_db!(&self.db, p => {
            let mut q = sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql));
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind(s),
                    Arg::Uuid(u) => q.bind(u),
                    Arg::Ts(t) => q.bind(Ts(t)),
                    Arg::I64(i) => q.bind(i),
                };
            }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    /// One page of events matching `filter`, newest first, older than `cursor` (a seq).
    ///
    /// # Errors
    /// Db.
    pub async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        let limit = i64::from(limit.max(1));
        let mut events = self
            .select_audit(filter, cursor.map(|c| ("<", c)), true, limit + 1)
            .await?;
        let more = events.len() as i64 > limit;
        events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more {
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage {
            events,
            next_cursor,
        })
    }

    /// Up to `limit` events matching `filter` with `seq > after_seq`, oldest first.
    ///
    /// # Errors
    /// Db.
    pub async fn audit_events_after(
        &self,
        filter: &AuditFilter,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.select_audit(
            filter,
            Some((">", after_seq)),
            false,
            i64::from(limit.max(1)),
        )
        .await
    }

    /// The event at `seq`, if present.
    ///
    /// # Errors
    /// Db.
    pub async fn get_audit_event(&self, seq: i64) -> Result<Option<StoredEvent>, StoreError> {
        let mut rows = self
            .select_audit(&AuditFilter::default(), Some(("=", seq)), false, 1)
            .await?;
        Ok(rows.pop())
    }

    /// Reads every event matching `filter` in ascending `seq` order, `page_size` rows at a time.
    pub fn audit_pager(&self, filter: AuditFilter, page_size: u32) -> AuditPager {
        AuditPager {
            store: self.clone(),
            filter,
            after: 0,
            page_size: page_size.max(1),
            done: false,
        }
    }
}

/// Ascending pages of the audit log (for export and verification). Each page is one query, so
/// memory stays bounded by the page size however large the table is.
#[derive(Debug)]
pub struct AuditPager {
    store: Store,
    filter: AuditFilter,
    after: i64,
    page_size: u32,
    done: bool,
}

impl AuditPager {
    /// The next page, or `None` when every row has been read.
    ///
    /// # Errors
    /// Db.
    pub async fn next_page(&mut self) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .audit_events_after(&self.filter, self.after, self.page_size)
            .await?;
        if page.len() < self.page_size as usize {
            self.done = true;
        }
        match page.last() {
            Some(last) => {
                self.after = last.seq;
                Ok(Some(page))
            }
            None => Ok(None),
        }
    }

    /// Carries on after the last row read, e.g. when more rows were appended meanwhile.
    pub fn resume(&mut self) {
        self.done = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_prefix_escapes_like_wildcards() {
        assert_eq!(like_prefix("api_token."), "api\\_token.%");
    }

    #[test]
    fn only_set_filters_become_conditions_numbered_in_order() {
        let f = AuditFilter {
            actor: Some("ada@example.com".into()),
            action: Some("login.*".into()),
            outcome: Some("failed".into()),
            ..AuditFilter::default()
        };
        let mut args = Vec::new();
        let w = where_clause(&f, Some(("<", 10)), &mut args);
        assert_eq!(
            w,
            " WHERE (actor_email = $1 OR actor_token_name = $1) AND action LIKE $2 ESCAPE '\\' \
             AND outcome = $3 AND seq < $4"
        );
        assert_eq!(args.len(), 4);
    }
}
