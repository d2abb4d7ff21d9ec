//! The audit hash chain end to end: appending, reading, paging, verifying, and proof that
//! verification catches tampering done with the append-only protections switched off.

use std::sync::Arc;

use rgw_core::audit::{AuditRecord, BreakReason, ChainBreak};
use rgw_store::testing::{TestStore, test_stores};
use rgw_store::{AuditFilter, Backend, Store, StoreOptions};
use serde_json::json;
use sqlx::Connection as _;
use time::Duration;
use uuid::Uuid;

use crate::support::*;

const KEY: [u8; 32] = [7u8; 32];

fn event(n: usize) -> AuditRecord {
    let (actor_type, email, token_name) = if n.is_multiple_of(3) {
        (
            "token",
            Some("ci-owner@example.com".to_owned()),
            Some("ci".to_owned()),
        )
    } else {
        ("user", Some(format!("user{}@example.com", n % 2)), None)
    };
    AuditRecord {
        event_id: Uuid::new_v4(),
        occurred_at: NOW + Duration::seconds(n as i64) + Duration::nanoseconds(123_456_789),
        actor_type: actor_type.to_owned(),
        actor_user_id: (actor_type == "user").then_some(1),
        actor_email: email,
        actor_token_id: (actor_type == "token").then(Uuid::new_v4),
        actor_token_name: token_name,
        ip: Some("10.0.0.1".to_owned()),
        user_agent: Some("test\0agent".to_owned()),
        request_id: Some(format!("req-{n}")),
        action: if n.is_multiple_of(2) {
            "rack.request".to_owned()
        } else {
            "login.password".to_owned()
        },
        resource: Some("GET /apps".to_owned()),
        app: n.is_multiple_of(2).then(|| "myapp".to_owned()),
        outcome: if n.is_multiple_of(5) {
            "denied".to_owned()
        } else {
            "success".to_owned()
        },
        http_status: Some(200),
        latency_ms: Some(n as i64),
        deploy_approval_request_id: None,
        details: json!({"n": n, "z": {"b": 1.5, "a": [null, true]}, "text": "x"}),
    }
}

async fn seeded(count: usize) -> Vec<TestStore> {
    let mut out = Vec::new();
    for t in test_stores().await {
        let events: Vec<_> = (1..=count).map(event).collect();
        t.store
            .append_audit_events(&events, &KEY)
            .await
            .expect("append");
        out.push(t);
    }
    out
}

async fn verdict(t: &TestStore) -> Result<u64, (i64, BreakReason)> {
    let v = t
        .store
        .verify_audit_chain(&KEY)
        .await
        .expect("verify reads the chain");
    v.map(|s| s.count)
        .map_err(|ChainBreak { seq, reason, .. }| (seq, reason))
}

/// Runs `sql` with the append-only triggers of both audit tables switched off, then restores
/// them exactly as the migrations created them.
async fn tamper(t: &TestStore, sql: &str) {
    match t.backend {
        Backend::Postgres => {
            let sql = format!(
                "ALTER TABLE audit_events DISABLE TRIGGER USER; \
                 ALTER TABLE audit_chain_head DISABLE TRIGGER USER; {sql}; \
                 ALTER TABLE audit_events ENABLE TRIGGER USER; \
                 ALTER TABLE audit_chain_head ENABLE TRIGGER USER;"
            );
            t.raw_execute(&sql).await.expect("tamper");
        }
        Backend::Sqlite => {
            // One connection for the whole job: another pooled connection with a cached schema
            // could refuse to recreate a trigger it still believes exists.
            let mut conn = sqlx::SqliteConnection::connect(&t.url)
                .await
                .expect("connect");
            let triggers: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' \
                 AND tbl_name IN ('audit_events', 'audit_chain_head')",
            )
            .fetch_all(&mut conn)
            .await
            .expect("read triggers");
            assert!(
                triggers.len() >= 3,
                "expected the migration's audit triggers"
            );
            let mut script: Vec<String> = triggers
                .iter()
                .map(|(name, _)| format!("DROP TRIGGER {name}"))
                .collect();
            script.push(sql.to_owned());
            script.extend(triggers.iter().map(|(_, create)| create.clone()));
            for stmt in script {
                sqlx::raw_sql(sqlx::AssertSqlSafe(stmt))
                    .execute(&mut conn)
                    .await
                    .expect("tamper");
            }
            conn.close().await.expect("close");
        }
    }
}

#[tokio::test]
async fn appended_events_get_consecutive_seqs_and_the_chain_verifies() {
    for t in test_stores().await {
        let first: Vec<_> = (1..=3).map(event).collect();
        assert_eq!(
            t.store.append_audit_events(&first, &KEY).await.unwrap(),
            vec![1, 2, 3]
        );
        assert_eq!(
            t.store
                .append_audit_events(&[event(4)], &KEY)
                .await
                .unwrap(),
            vec![4]
        );
        assert_eq!(
            t.store.append_audit_events(&[], &KEY).await.unwrap(),
            Vec::<i64>::new()
        );
        let head = t.store.audit_chain_head().await.unwrap();
        assert_eq!(head.seq, 4, "[{}]", t.backend);
        assert_eq!(verdict(&t).await, Ok(4), "[{}]", t.backend);
        // Read back exactly as chained: UTC microseconds, NUL replaced.
        let stored = t.store.get_audit_event(1).await.unwrap().expect("event 1");
        assert_eq!(stored.record.event_id, first[0].event_id);
        assert_eq!(
            stored.record.occurred_at,
            NOW + Duration::seconds(1) + Duration::microseconds(123_456)
        );
        assert_eq!(
            stored.record.user_agent.as_deref(),
            Some("test\u{fffd}agent")
        );
        assert_eq!(stored.record.details, first[0].details);
        assert_eq!(
            head.mac,
            t.store.get_audit_event(4).await.unwrap().expect("4").mac
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_wrong_key_fails_verification_at_the_first_event() {
    for t in seeded(3).await {
        let v = t.store.verify_audit_chain(&[8u8; 32]).await.unwrap();
        assert_eq!(
            v.map_err(|b| (b.seq, b.reason)),
            Err((1, BreakReason::Edited)),
            "[{}]",
            t.backend
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn the_chain_head_cannot_be_rewound() {
    for t in seeded(3).await {
        assert_invariant(
            &t,
            t.raw_execute("UPDATE audit_chain_head SET seq = 1 WHERE id = 1")
                .await,
            "the audit chain head only moves forward",
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn listing_filters_and_pages_newest_first_with_a_cursor() {
    for t in seeded(30).await {
        let all = AuditFilter::default();
        let p1 = t.store.list_audit_events(&all, None, 12).await.unwrap();
        let seqs: Vec<i64> = p1.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (19..=30).rev().collect::<Vec<_>>(), "[{}]", t.backend);
        assert_eq!(p1.next_cursor, Some(19));
        let p3 = t.store.list_audit_events(&all, Some(7), 12).await.unwrap();
        assert_eq!(p3.events.len(), 6);
        assert_eq!(p3.next_cursor, None);

        let count = |f: AuditFilter| {
            let store = t.store.clone();
            async move {
                store
                    .list_audit_events(&f, None, 500)
                    .await
                    .unwrap()
                    .events
                    .len()
            }
        };
        assert_eq!(
            count(AuditFilter {
                actor: Some("ci".into()),
                ..all.clone()
            })
            .await,
            10
        );
        assert_eq!(
            count(AuditFilter {
                actor: Some("ci-owner@example.com".into()),
                ..all.clone()
            })
            .await,
            10
        );
        assert_eq!(
            count(AuditFilter {
                action: Some("login.".into()),
                ..all.clone()
            })
            .await,
            15
        );
        assert_eq!(
            count(AuditFilter {
                action: Some("login.*".into()),
                ..all.clone()
            })
            .await,
            15
        );
        assert_eq!(
            count(AuditFilter {
                action: Some("login".into()),
                ..all.clone()
            })
            .await,
            0
        );
        assert_eq!(
            count(AuditFilter {
                app: Some("myapp".into()),
                ..all.clone()
            })
            .await,
            15
        );
        assert_eq!(
            count(AuditFilter {
                request_id: Some("req-7".into()),
                ..all.clone()
            })
            .await,
            1
        );
        assert_eq!(
            count(AuditFilter {
                outcome: Some("denied".into()),
                ..all.clone()
            })
            .await,
            6
        );
        let window = AuditFilter {
            since: Some(NOW + Duration::seconds(10)),
            until: Some(NOW + Duration::seconds(20)),
            ..all.clone()
        };
        // Events 10..=19 happen at NOW + n s + 0.123 s, all inside [10 s, 20 s).
        assert_eq!(count(window).await, 10, "[{}]", t.backend);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn the_pager_reads_everything_in_ascending_pages() {
    for t in seeded(25).await {
        let mut pager = t.store.audit_pager(AuditFilter::default(), 10);
        let mut sizes = Vec::new();
        let mut last = 0;
        while let Some(page) = pager.next_page().await.unwrap() {
            assert!(page.iter().all(|e| e.seq > last));
            last = page.last().map_or(last, |e| e.seq);
            sizes.push(page.len());
        }
        assert_eq!(sizes, vec![10, 10, 5], "[{}]", t.backend);
        t.cleanup().await;
    }
}

/// Shifts rows `from..` up by one (through a range the CHECK allows) to make room at `from`.
fn shift_up_from(from: i64) -> String {
    format!(
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= {from}; \
         UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000"
    )
}

/// A name, the tampering SQL for a backend, and the expected verdict.
type TamperCase = (
    &'static str,
    Box<dyn Fn(Backend) -> String>,
    Result<u64, (i64, BreakReason)>,
);

#[tokio::test]
async fn verify_names_the_first_bad_event_after_direct_tampering() {
    let cases: Vec<TamperCase> = vec![
        ("untouched", Box::new(|_| "SELECT 1".into()), Ok(6)),
        (
            "edited",
            Box::new(|_| "UPDATE audit_events SET outcome = 'success' WHERE seq = 5".into()),
            Err((5, BreakReason::Edited)),
        ),
        (
            "edited details",
            Box::new(|b| match b {
                Backend::Sqlite => {
                    "UPDATE audit_events SET details = '{\"n\":3}' WHERE seq = 3".into()
                }
                Backend::Postgres => {
                    "UPDATE audit_events SET details = '{\"n\":3}'::jsonb WHERE seq = 3".into()
                }
            }),
            Err((3, BreakReason::Edited)),
        ),
        (
            "deleted in the middle",
            Box::new(|_| "DELETE FROM audit_events WHERE seq = 3".into()),
            Err((3, BreakReason::Deleted { first: 3, last: 3 })),
        ),
        (
            "deleted tail",
            Box::new(|_| "DELETE FROM audit_events WHERE seq >= 5".into()),
            Err((5, BreakReason::Deleted { first: 5, last: 6 })),
        ),
        (
            "inserted in the middle",
            Box::new(|b| {
                format!(
                    "{}; INSERT INTO audit_events (seq, event_id, occurred_at, actor_type, action, \
                     outcome, details, prev_mac, mac) SELECT 3, {}, occurred_at, 'system', 'forged', \
                     'success', details, mac, mac FROM audit_events WHERE seq = 2",
                    shift_up_from(3),
                    new_uuid_sql(b)
                )
            }),
            Err((3, BreakReason::Inserted)),
        ),
        (
            "reordered",
            Box::new(|_| {
                "UPDATE audit_events SET seq = 1002 WHERE seq = 2; \
                 UPDATE audit_events SET seq = 2 WHERE seq = 4; \
                 UPDATE audit_events SET seq = 4 WHERE seq = 1002"
                    .into()
            }),
            Err((2, BreakReason::Reordered { original_seq: 4 })),
        ),
    ];
    for (name, sql, expected) in cases {
        for t in seeded(6).await {
            tamper(&t, &sql(t.backend)).await;
            assert_eq!(verdict(&t).await, expected, "[{}] {name}", t.backend);
            // The protections are back.
            assert_invariant(
                &t,
                t.raw_execute("DELETE FROM audit_events").await,
                "audit events are append-only",
            );
            t.cleanup().await;
        }
    }
}

#[tokio::test]
async fn replicas_appending_concurrently_build_one_gapless_chain() {
    const REPLICAS: usize = 3;
    const TASKS_PER_REPLICA: usize = 4;
    const BATCHES: usize = 10;
    const BATCH: usize = 5;
    for t in test_stores().await {
        let mut replicas = Vec::new();
        for _ in 0..REPLICAS {
            let options = StoreOptions {
                max_connections: Some(4),
                ..StoreOptions::default()
            };
            replicas.push(Arc::new(
                Store::connect_with(&t.url, options).await.expect("replica"),
            ));
        }
        let mut tasks = Vec::new();
        for r in &replicas {
            for _ in 0..TASKS_PER_REPLICA {
                let store = r.clone();
                tasks.push(tokio::spawn(async move {
                    for b in 0..BATCHES {
                        let events: Vec<_> = (0..BATCH).map(|i| event(b * BATCH + i)).collect();
                        store
                            .append_audit_events(&events, &KEY)
                            .await
                            .expect("append");
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("task");
        }
        let total = (REPLICAS * TASKS_PER_REPLICA * BATCHES * BATCH) as u64;
        assert_eq!(verdict(&t).await, Ok(total), "[{}]", t.backend);
        assert_eq!(t.store.audit_chain_head().await.unwrap().seq, total as i64);
        for r in replicas {
            r.close().await;
        }
        t.cleanup().await;
    }
}

/// Prints append throughput with batching; run with `--ignored --nocapture`.
#[tokio::test]
#[ignore = "measurement, not a check"]
async fn append_throughput_with_batches_of_256() {
    for t in test_stores().await {
        let batches = 40;
        let events: Vec<_> = (0..256).map(event).collect();
        let start = std::time::Instant::now();
        for _ in 0..batches {
            let fresh: Vec<_> = events
                .iter()
                .cloned()
                .map(|mut e| {
                    e.event_id = Uuid::new_v4();
                    e
                })
                .collect();
            t.store
                .append_audit_events(&fresh, &KEY)
                .await
                .expect("append");
        }
        let secs = start.elapsed().as_secs_f64();
        let n = (batches * 256) as f64;
        eprintln!(
            "[{}] appended {n} events in {secs:.2}s: {:.0} events/s",
            t.backend,
            n / secs
        );
        let start = std::time::Instant::now();
        assert_eq!(verdict(&t).await, Ok(n as u64));
        eprintln!(
            "[{}] verified in {:.2}s",
            t.backend,
            start.elapsed().as_secs_f64()
        );
        t.cleanup().await;
    }
}
