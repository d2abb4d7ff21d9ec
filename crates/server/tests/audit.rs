//! The audit trail from the server's side: the background writer (batching, backpressure,
//! flush on shutdown, redaction) on every backend, and the `audit` commands run as the real
//! binary against a temporary SQLite database.

use std::process::Command;
use std::time::Instant;

use rgw_server::audit::{Actor, AuditError, AuditEvent, Auditor, AuditorOptions, Outcome};
use rgw_server::keys::Keys;
use rgw_store::Store;
use rgw_store::testing::{TestStore, sqlite_test_store, test_stores};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

const SECRET: &str = "test-secret-test-secret-test-secret-0123";

fn key() -> [u8; 32] {
    *Keys::derive(SECRET.as_bytes()).audit_mac.expose()
}

fn event(n: usize) -> AuditEvent {
    AuditEvent::new(
        datetime!(2026-03-01 12:00:00 UTC) + time::Duration::milliseconds(n as i64),
        Actor::User {
            user_id: 1,
            email: "ada@example.com".into(),
        },
        "rack.request",
        Outcome::Success,
    )
    .resource("GET /apps")
    .request(
        Some("10.0.0.1".into()),
        Some("convox/3".into()),
        Some(format!("req-{n}")),
    )
    .http(200, 3)
    .details(json!({"n": n}))
}

fn small_queue() -> AuditorOptions {
    AuditorOptions {
        queue_capacity: 16,
        batch_max: 32,
        ..AuditorOptions::default()
    }
}

async fn count(store: &Store) -> i64 {
    store.audit_chain_head().await.expect("head").seq
}

#[tokio::test]
async fn the_writer_flushes_every_queued_event_on_shutdown() {
    for t in test_stores().await {
        let auditor = Auditor::spawn(t.store.clone(), key(), small_queue());
        let mut tasks = Vec::new();
        for task in 0..4 {
            let a = auditor.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..250 {
                    a.record(event(task * 1000 + i)).await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        auditor.shutdown().await;
        assert_eq!(count(&t.store).await, 1000, "[{}]", t.backend);
        let verdict = t.store.verify_audit_chain(&key()).await.expect("verify");
        assert_eq!(verdict.map(|s| s.count), Ok(1000), "[{}]", t.backend);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn record_and_wait_returns_once_the_event_is_committed() {
    for t in test_stores().await {
        let auditor = Auditor::spawn(t.store.clone(), key(), AuditorOptions::default());
        auditor.record(event(1)).await;
        let seq = auditor.record_and_wait(event(2)).await.expect("durable");
        assert_eq!(seq, 2, "[{}] queued events keep their order", t.backend);
        let stored = t
            .store
            .get_audit_event(seq)
            .await
            .expect("read")
            .expect("present");
        assert_eq!(stored.record.request_id.as_deref(), Some("req-2"));
        auditor.shutdown().await;
        let late = auditor.record_and_wait(event(3)).await;
        assert!(
            matches!(late, Err(AuditError::Closed)),
            "[{}] {late:?}",
            t.backend
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn secrets_never_reach_the_audit_table() {
    for t in test_stores().await {
        let auditor = Auditor::spawn(
            t.store.clone(),
            key(),
            AuditorOptions {
                secret_names: vec!["STRIPE_KEY".into()],
                ..AuditorOptions::default()
            },
        );
        let e = AuditEvent::new(
            OffsetDateTime::now_utc(),
            Actor::Anonymous { claimed: Some("ada@example.com".into()) },
            "login.password",
            Outcome::Failed,
        )
        .resource("POST /api/v1/auth/login?token=rgw_AAAAsecretTOKENvalue1234")
        .request(None, Some("curl Bearer abcdefSECRETjwt".into()), None)
        .details(json!({
            "password": "hunter2-SECRET",
            "token": "rgw_AAAAsecretTOKENvalue1234",
            "headers": {"Authorization": "Basic Y29udm94OlNFQ1JFVA==", "Cookie": "rgw_session=SECRETcookie"},
            "env": {"STRIPE_KEY": "sk_live_SECRET", "PORT": "3000"},
            "rack_url": "https://convox:SECRETpw@rack.example.com",
        }));
        let seq = auditor.record_and_wait(e).await.expect("durable");
        let stored = t
            .store
            .get_audit_event(seq)
            .await
            .expect("read")
            .expect("present");
        let row = serde_json::to_string(&rgw_server::audit::view::AuditEventView::from(stored))
            .expect("json");
        for secret in ["hunter2", "rgw_AAAA", "Y29udm94", "SECRET", "sk_live"] {
            assert!(
                !row.contains(secret),
                "[{}] {secret} stored in {row}",
                t.backend
            );
        }
        assert!(
            row.contains("\"PORT\":\"3000\""),
            "[{}] non-secret values are kept: {row}",
            t.backend
        );
        auditor.shutdown().await;
        t.cleanup().await;
    }
}

/// Prints what `record` costs a request and what the writer sustains; run with
/// `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn measure_record_cost_and_writer_throughput() {
    for t in test_stores().await {
        // Below the queue's capacity: what a request pays when the writer keeps up.
        let auditor = Auditor::spawn(t.store.clone(), key(), AuditorOptions::default());
        let burst = 5_000;
        let start = Instant::now();
        for i in 0..burst {
            auditor.record(event(i)).await;
        }
        let enqueue = start.elapsed();
        auditor.shutdown().await;
        // Sustained: four times the queue, so callers are paced by the writer (backpressure).
        let auditor = Auditor::spawn(t.store.clone(), key(), AuditorOptions::default());
        let n = 40_000;
        let start = Instant::now();
        for i in 0..n {
            auditor.record(event(i)).await;
        }
        auditor.shutdown().await;
        let total = start.elapsed();
        assert_eq!(count(&t.store).await, (burst + n) as i64);
        eprintln!(
            "[{}] record(): {:.1} µs/event when the queue has room; writer sustained {:.0} events/s",
            t.backend,
            enqueue.as_secs_f64() * 1e6 / burst as f64,
            n as f64 / total.as_secs_f64()
        );
        t.cleanup().await;
    }
}

// ---- the `audit` commands, run as the real binary ----

fn run(t: &TestStore, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rack-gateway-server"))
        .args(args)
        .env_remove("RGW_CONFIG")
        .env("RGW_SECRET_KEY", SECRET)
        .env("RGW_DATABASE_URL", &t.url)
        .env("RUST_LOG", "off")
        .output()
        .expect("run rack-gateway-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The SQLite triggers guarding the audit tables, as the migrations create them.
const SQLITE_TRIGGERS: &str = "
CREATE TRIGGER trg_audit_events_no_update BEFORE UPDATE ON audit_events FOR EACH ROW
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER trg_audit_events_no_delete BEFORE DELETE ON audit_events FOR EACH ROW
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER trg_audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head FOR EACH ROW
WHEN NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.mac <> OLD.mac)
BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END;";

/// Runs `sql` with the triggers dropped, in one script on one connection, then recreates them.
async fn tamper(t: &TestStore, sql: &str) {
    let script = format!(
        "DROP TRIGGER trg_audit_events_no_update; DROP TRIGGER trg_audit_events_no_delete; \
         DROP TRIGGER trg_audit_chain_head_forward_only; {sql}; {SQLITE_TRIGGERS}"
    );
    t.raw_execute(&script).await.expect("tamper");
}

async fn seeded(n: usize) -> TestStore {
    let t = sqlite_test_store().await;
    let auditor = Auditor::spawn(t.store.clone(), key(), AuditorOptions::default());
    for i in 1..=n {
        auditor.record(event(i)).await;
    }
    auditor.shutdown().await;
    t
}

#[tokio::test]
async fn audit_verify_exits_zero_on_an_intact_chain_and_one_naming_the_first_bad_event() {
    let t = seeded(5).await;
    let (code, stdout, stderr) = run(&t, &["audit", "verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("audit chain intact: 5 events, head "),
        "{stdout}"
    );

    tamper(
        &t,
        "UPDATE audit_events SET outcome = 'denied' WHERE seq = 3",
    )
    .await;
    let (code, stdout, _) = run(&t, &["audit", "verify"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("seq 3 (event_id "), "{stdout}");
    assert!(stdout.contains("edited"), "{stdout}");
    t.cleanup().await;
}

#[tokio::test]
async fn a_checkpoint_reveals_a_truncated_tail_that_the_rewound_head_hides() {
    let t = seeded(6).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = dir.path().join("checkpoint.json");
    let cp_arg = cp.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = run(&t, &["audit", "checkpoint", "--output", cp_arg]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    tamper(
        &t,
        "DELETE FROM audit_events WHERE seq >= 5; \
         UPDATE audit_chain_head SET seq = 4, mac = (SELECT mac FROM audit_events WHERE seq = 4)",
    )
    .await;
    let (code, stdout, _) = run(&t, &["audit", "verify"]);
    assert_eq!(
        code, 0,
        "without a checkpoint a rewound head hides the cut: {stdout}"
    );
    let (code, stdout, _) = run(&t, &["audit", "verify", "--checkpoint", cp_arg]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("tail truncated"), "{stdout}");
    assert!(
        stdout.contains("covers seq 6, but the chain ends at seq 4"),
        "{stdout}"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn audit_export_streams_json_lines_and_csv_filtered_by_time() {
    let t = seeded(5).await;
    let (code, stdout, stderr) = run(&t, &["audit", "export", "--format", "jsonl"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[4]["request_id"], "req-5");
    assert_eq!(lines[0]["mac"].as_str().map(str::len), Some(64));

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("audit.csv");
    let (code, _, stderr) = run(
        &t,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--output",
            file.to_str().expect("utf-8"),
            "--since",
            "2026-03-01T12:00:00.002Z",
            "--until",
            "2026-03-01T12:00:00.004Z",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(&file).expect("csv written");
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("seq,event_id,occurred_at,"), "{csv}");
    assert_eq!(rows.len(), 3, "header + events 2 and 3: {csv}");
    assert!(rows[1].starts_with("2,"), "{csv}");
    t.cleanup().await;
}
