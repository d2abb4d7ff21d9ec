//! The expiry sweeper: writes `expired` for pending requests past their TTL and approved ones
//! past their window, audits each, and wakes their event streams. Each request is expired by
//! exactly one statement even with several gateways sweeping one PostgreSQL database (see
//! `StoreTx::expire_due_requests`), so each expiry is audited once.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::error::ApiError;

/// How often the sweeper runs.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Claims older than this are abandoned (their gateway died mid-step).
pub const STALE_CLAIM: time::Duration = time::Duration::minutes(15);

/// One sweep at the state's clock; returns the requests it expired.
///
/// # Errors
/// Database errors (nothing was expired).
pub async fn sweep_once(state: &AppState) -> Result<Vec<Uuid>, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let expired = tx.expire_due_requests(now, now - STALE_CLAIM).await?;
    if expired.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let mut logged = Vec::with_capacity(expired.len());
    for row in &expired {
        let mut ev = AuditEvent::new(
            now,
            Actor::System,
            "deploy_approval.expire",
            Outcome::Success,
        )
        .resource(row.public_id.to_string())
        .app(row.app.clone())
        .details(json!({
            "reason": row.expired_reason,
            "git_commit_hash": row.git_commit_hash,
            "pending_expires_at": rgw_core::wire::rfc3339(row.pending_expires_at),
            "approval_expires_at": row.approval_expires_at.map(rgw_core::wire::rfc3339),
        }));
        ev.deploy_approval_request_id = Some(row.public_id);
        logged.push(state.auditor.append_in_tx(&mut tx, ev).await?);
        crate::jobs::transition::enqueue(
            &mut tx,
            state,
            row,
            crate::jobs::transition::Transition::Expired,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    logged.into_iter().for_each(|l| l.log());
    let ids: Vec<Uuid> = expired.iter().map(|r| r.public_id).collect();
    for id in &ids {
        super::notify(state, *id);
    }
    Ok(ids)
}

/// Runs [`sweep_once`] every [`INTERVAL`] until the task is dropped.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep_once(&state).await {
            tracing::warn!(error = %e, "deploy approval sweep failed; retrying");
        }
    }
}
