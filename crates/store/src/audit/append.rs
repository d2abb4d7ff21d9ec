//! Appending to the chain. One transaction per batch: lock the chain head, number the events
//! after it, MAC each one over its content and its predecessor's MAC, insert them, move the head.
//! Because the head row is locked for the whole transaction, writers on several gateway
//! replicas queue on it and the chain stays gapless; `seq` never comes from a sequence, so a
//! rolled-back transaction burns nothing.

use rgw_core::audit::{GENESIS_MAC, Mac, mac, sanitize_for_storage};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::{COLUMNS, NewAuditRecord, to_mac};
use crate::clock::Ts;
use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::tx::{StoreTx, with_tx};

/// Rows per `INSERT` statement (21 parameters each): 32 rows are 672 parameters, under
/// SQLite's oldest limit of 999 and far under PostgreSQL's 65 535.
const ROWS_PER_INSERT: usize = 32;

/// The multi-row insert. Placeholders differ by backend here, unlike the rest of the store:
/// sqlx-sqlite looks up every parameter's name to map `$N` to its argument, and SQLite finds
/// a name with a linear scan over the statement's named parameters, so binding a statement of
/// `$N`s costs O(parameters²) (3% of the gateway's CPU under load with 8-row statements).
/// Anonymous `?`s, bound in order, have no names to scan.
fn insert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ");
    let cols = COLUMNS.split(',').count();
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

impl Store {
    /// Appends `events` to the chain in one transaction and returns their `seq`s, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`] (nothing was appended).
    pub async fn append_audit_events(
        &self,
        events: &[NewAuditRecord],
        key: &[u8; 32],
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let seqs = tx.append_audit_events(events, key).await?;
        tx.commit().await?;
        Ok(seqs)
    }
}

impl StoreTx {
    /// Appends `events` inside this transaction, so they commit or roll back with the state
    /// change they describe. The chain head stays locked until the transaction ends: keep it short.
    ///
    /// # Errors
    /// [`StoreError::Db`]; roll the transaction back.
    pub async fn append_audit_events(
        &mut self,
        events: &[NewAuditRecord],
        key: &[u8; 32],
    ) -> Result<Vec<i64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Lock the head before reading it. PostgreSQL: a row lock, held to commit, so a second
        // replica's append waits here and then reads the head this one wrote. SQLite: the first
        // statement must be a write so that the transaction holds the database's write lock
        // before it reads; a deferred transaction that read first could interleave with another
        // writer and fail with SQLITE_BUSY on upgrade, or (on a snapshot) number from a stale
        // head. `Store::begin` already uses BEGIN IMMEDIATE; this keeps the append correct in any
        // transaction.
        let lock_sql = match self.backend() {
            Backend::Sqlite => {
                "UPDATE audit_chain_head SET seq = seq WHERE id = 1 RETURNING seq, mac"
            }
            Backend::Postgres => "SELECT seq, mac FROM audit_chain_head WHERE id = 1 FOR UPDATE",
        };
        let (head_seq, head_mac): (i64, Vec<u8>) = with_tx!(self, c => {
            sqlx::query_as(lock_sql).fetch_one(&mut *c).await?
        });
        let mut prev: Mac = if head_seq == 0 {
            GENESIS_MAC
        } else {
            to_mac(&head_mac)
        };
        let mut chained = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let mut record = event.clone();
            sanitize_for_storage(&mut record);
            let seq = head_seq + 1 + i64::try_from(i).unwrap_or(i64::MAX);
            let m = mac(key, &prev, seq, &record);
            chained.push((seq, prev, m, record));
            prev = m;
        }
        for chunk in chained.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(self.backend(), chunk.len());
            with_tx!(self, c => {
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for (seq, prev_mac, m, r) in chunk {
                    q = q
                        .bind(*seq)
                        .bind(r.event_id)
                        .bind(Ts(r.occurred_at))
                        .bind(&r.actor_type)
                        .bind(r.actor_user_id)
                        .bind(&r.actor_email)
                        .bind(r.actor_token_id)
                        .bind(&r.actor_token_name)
                        .bind(&r.ip)
                        .bind(&r.user_agent)
                        .bind(&r.request_id)
                        .bind(&r.action)
                        .bind(&r.resource)
                        .bind(&r.app)
                        .bind(&r.outcome)
                        .bind(r.http_status)
                        .bind(r.latency_ms)
                        .bind(r.deploy_approval_request_id)
                        .bind(Json(&r.details))
                        .bind(prev_mac.as_slice())
                        .bind(m.as_slice());
                }
                q.execute(&mut *c).await?;
            });
        }
        let last_seq = head_seq + i64::try_from(events.len()).unwrap_or(i64::MAX);
        with_tx!(self, c => {
            sqlx::query("UPDATE audit_chain_head SET seq = $1, mac = $2 WHERE id = 1")
                .bind(last_seq)
                .bind(prev.as_slice())
                .execute(&mut *c)
                .await?;
        });
        Ok(chained.into_iter().map(|(seq, ..)| seq).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::db::Backend;

    #[test]
    fn insert_sql_numbers_placeholders_across_rows_on_postgres() {
        let sql = super::insert_sql(Backend::Postgres, 2);
        assert!(sql.ends_with("$21),($22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35,$36,$37,$38,$39,$40,$41,$42)"), "{sql}");
    }

    #[test]
    fn insert_sql_binds_in_order_on_sqlite() {
        let sql = super::insert_sql(Backend::Sqlite, 2);
        let row = format!("({})", vec!["?"; 21].join(","));
        assert!(sql.ends_with(&format!("VALUES {row},{row}")), "{sql}");
        assert!(!sql.contains('$'), "{sql}");
    }
}
