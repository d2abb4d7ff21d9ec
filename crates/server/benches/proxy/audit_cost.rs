//! The audit part of the benchmark: counting and verifying each gateway's chain after it
//! stopped, and the in-process cost of `Auditor::record` against a temporary SQLite store.

use std::path::Path;

use anyhow::ensure;
use std::time::{Duration, Instant};

use rgw_server::audit::{Actor, AuditEvent, Auditor, AuditorOptions, Outcome};
use rgw_server::keys::Keys;
use rgw_store::Store;

use super::{AUDIT_EVENTS, UNBLOCKED_EVENTS, setup};

/// Events stored in a stopped gateway's database, and whether the chain verifies.
pub async fn audit_count(db: &str) -> anyhow::Result<(u64, bool)> {
    let store = Store::connect(db).await?;
    let key = *Keys::derive(setup::SECRET_KEY.as_bytes())
        .audit_mac
        .expose();
    let head = store.audit_chain_head().await?;
    let verdict = store.verify_audit_chain(&key).await?;
    store.close().await;
    let ok = verdict.as_ref().is_ok_and(|s| s.count == head.seq as u64);
    Ok((head.seq as u64, ok))
}

pub struct InProcess {
    /// `record` while the queue has room (the first quarter of the events).
    pub enqueue_us: f64,
    /// `record` over all events, backpressure from a full queue included.
    pub record_us: f64,
    pub commit_us: f64,
}

/// Times `Auditor::record` (what a request waits for) and the writer's commits.
pub async fn audit_in_process(dir: &Path) -> anyhow::Result<InProcess> {
    let db = dir.join("auditor.db");
    let store = Store::connect(&setup::sqlite_url(&db)).await?;
    let key = *Keys::derive(setup::SECRET_KEY.as_bytes())
        .audit_mac
        .expose();
    let auditor = Auditor::spawn(store.clone(), key, AuditorOptions::default());
    let actor = Actor::Token {
        token_public_id: uuid::Uuid::new_v4(),
        name: "bench-viewer".into(),
        owner_email: "bench-viewer@bench.example.com".into(),
    };
    let start = Instant::now();
    let mut unblocked = Duration::ZERO;
    for i in 0..AUDIT_EVENTS {
        if i == UNBLOCKED_EVENTS {
            unblocked = start.elapsed();
        }
        let event = AuditEvent::new(
            rgw_core::Clock::now(&rgw_core::SystemClock),
            actor.clone(),
            "rack.request",
            Outcome::Success,
        )
        .resource("GET /apps")
        .request(
            Some("127.0.0.1".into()),
            Some("bench".into()),
            Some(format!("req-{i}")),
        )
        .http(200, 0)
        .details(
            serde_json::json!({"method": "GET", "route": "/apps", "permission": "convox:app:list"}),
        );
        auditor.record(event).await;
    }
    let recorded = start.elapsed();
    auditor.shutdown().await;
    let committed = start.elapsed();
    let stored = store.audit_chain_head().await?.seq;
    store.close().await;
    ensure!(
        stored == AUDIT_EVENTS as i64,
        "in-process auditor stored {stored} of {AUDIT_EVENTS} events"
    );
    Ok(InProcess {
        enqueue_us: unblocked.as_secs_f64() * 1e6 / UNBLOCKED_EVENTS as f64,
        record_us: recorded.as_secs_f64() * 1e6 / AUDIT_EVENTS as f64,
        commit_us: committed.as_secs_f64() * 1e6 / AUDIT_EVENTS as f64,
    })
}
