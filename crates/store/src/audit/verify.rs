//! Verifying the stored chain: stream every row through `rgw_core`'s verifier, then compare
//! the end of the chain with `audit_chain_head`.

use rgw_core::audit::{ChainBreak, ChainHead, ChainSummary, ChainVerifier};

use super::AuditFilter;
use super::to_mac;
use crate::db::{Store, with_db};
use crate::error::StoreError;

/// Rows read per query while verifying.
const VERIFY_PAGE: u32 = 1_000;

impl Store {
    /// The recorded chain head (`seq` 0 and a zero MAC when the log is empty).
    ///
    /// # Errors
    /// Db.
    pub async fn audit_chain_head(&self) -> Result<ChainHead, StoreError> {
        const SQL: &str = "SELECT seq, mac FROM audit_chain_head WHERE id = 1";
        let (seq, mac): (i64, Vec<u8>) =
            with_db!(&self.db, p => sqlx::query_as(SQL).fetch_one(p).await?);
        Ok(ChainHead {
            seq,
            mac: to_mac(&mac),
        })
    }

    /// Verifies the whole chain with `key`. The outer `Result` is a database failure; the inner
    /// one is the verdict, naming the first bad event.
    ///
    /// Safe to run while gateways keep appending: rows written after the walk started are
    /// verified too, and the head is read only after the last row, so a live append is never
    /// mistaken for a truncated tail.
    ///
    /// # Errors
    /// Db.
    pub async fn verify_audit_chain(
        &self,
        key: &[u8; 32],
    ) -> Result<Result<ChainSummary, ChainBreak>, StoreError> {
        let start = self.audit_chain_head().await?;
        let mut verifier = ChainVerifier::new(key, start.seq);
        let mut pager = self.audit_pager(AuditFilter::default(), VERIFY_PAGE);
        let mut last_read = 0;
        // A concurrent append can land between reading the last page and reading the head;
        // resume until a head read after the rows is not ahead of them, or nothing new arrives
        // (then the tail really is missing).
        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut read_any = false;
            while let Some(page) = pager.next_page().await? {
                read_any = true;
                for row in page {
                    last_read = row.seq;
                    if let Err(brk) = verifier.push(row) {
                        return Ok(Err(brk));
                    }
                }
            }
            let head = self.audit_chain_head().await?;
            if head.seq <= last_read || (rounds > 1 && !read_any) || rounds >= 5 {
                return Ok(verifier.finish(head));
            }
            pager.resume();
        }
    }
}
