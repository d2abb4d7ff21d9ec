//! The append-only, hash-chained audit log: appending events under the chain head lock
//! (`append.rs`), filtered and paged reads (`query.rs`) and chain verification (`verify.rs`).
//!
//! The database refuses `UPDATE` and `DELETE` on `audit_events` (triggers in the migrations);
//! the MACs themselves are computed by `rgw_core::audit`, keyed by the caller.

mod append;
mod query;
mod verify;

use rgw_core::audit::{AuditRecord, Mac, StoredEvent};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

pub use query::{AuditFilter, AuditPage, AuditPager};

/// An event to append: its content, already redacted. The store assigns `seq` and the MACs.
pub type NewAuditRecord = AuditRecord;

/// Every column of `audit_events`, in the order of [`AuditRow`].
pub(crate) const COLUMNS: &str = "seq, event_id, occurred_at, actor_type, actor_user_id, \
    actor_email, actor_token_id, actor_token_name, ip, user_agent, request_id, action, resource, \
    app, outcome, http_status, latency_ms, deploy_approval_request_id, details, prev_mac, mac";

/// A row of `audit_events` as read back.
#[derive(Debug, FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    event_id: Uuid,
    occurred_at: OffsetDateTime,
    actor_type: String,
    actor_user_id: Option<i64>,
    actor_email: Option<String>,
    actor_token_id: Option<Uuid>,
    actor_token_name: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    action: String,
    resource: Option<String>,
    app: Option<String>,
    outcome: String,
    http_status: Option<i64>,
    latency_ms: Option<i64>,
    deploy_approval_request_id: Option<Uuid>,
    details: Json<Value>,
    prev_mac: Vec<u8>,
    mac: Vec<u8>,
}

/// A stored MAC of the wrong length (only possible by tampering) becomes a value that can never
/// verify, so the verifier reports the row instead of the read failing.
fn to_mac(bytes: &[u8]) -> Mac {
    let mut out = [0xA5u8; 32];
    if bytes.len() == 32 {
        out.copy_from_slice(bytes);
    }
    out
}

impl From<AuditRow> for StoredEvent {
    fn from(r: AuditRow) -> Self {
        StoredEvent {
            seq: r.seq,
            prev_mac: to_mac(&r.prev_mac),
            mac: to_mac(&r.mac),
            record: AuditRecord {
                event_id: r.event_id,
                occurred_at: r.occurred_at,
                actor_type: r.actor_type,
                actor_user_id: r.actor_user_id,
                actor_email: r.actor_email,
                actor_token_id: r.actor_token_id,
                actor_token_name: r.actor_token_name,
                ip: r.ip,
                user_agent: r.user_agent,
                request_id: r.request_id,
                action: r.action,
                resource: r.resource,
                app: r.app,
                outcome: r.outcome,
                http_status: r.http_status,
                latency_ms: r.latency_ms,
                deploy_approval_request_id: r.deploy_approval_request_id,
                details: r.details.0,
            },
        }
    }
}
