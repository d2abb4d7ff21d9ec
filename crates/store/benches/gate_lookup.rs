//! The deploy gate's lookups with 1 000 000 historical requests in the database, on SQLite and
//! (with `RGW_TEST_POSTGRES_URL`) PostgreSQL: `live_requests_for` (every gated step that changes something) and
//! `latest_request_for` (denial messages), and `live_requests_for_cached` (the in-memory copy
//! that read-only gated calls use; its first call is the database read). Half of the history belongs to the measured token and
//! app, the worst case for the `(target_api_token_id, app, status)` index.
//!
//! `cargo bench -p rgw-store --bench gate_lookup` (ROWS=… to change the history size).

use std::time::{Duration, Instant};

use rgw_core::Clock;
use rgw_store::testing::{TestStore, test_stores};
use rgw_store::{
    Backend, NewApiToken, NewDeployApproval, NewDeployApprovalRequest, NewUser, Store,
};
use time::OffsetDateTime;

const LOOKUPS: usize = 20_000;

async fn token(store: &Store, owner: i64, name: &str, now: OffsetDateTime) -> i64 {
    store
        .create_api_token(
            &NewApiToken {
                name: name.into(),
                token_hash: name.as_bytes().to_vec(),
                owner_user_id: owner,
                created_by_user_id: None,
                role: Some("cicd".into()),
                permissions: vec![],
                expires_at: None,
            },
            now,
        )
        .await
        .expect("token")
        .id
}

fn history_sql(backend: Backend, rows: u64, a: i64, b: i64) -> String {
    let cols = "public_id, app, git_commit_hash, message, status, target_api_token_id, \
                pending_expires_at, created_at, updated_at";
    match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO deploy_approval_requests ({cols}) SELECT randomblob(16), \
             CASE WHEN i % 2 = 0 THEN 'myapp' ELSE 'app' || (i % 50) END, printf('%040x', i), 'history', \
             'pending', CASE WHEN i % 4 < 2 THEN {a} ELSE {b} END, '2026-01-02T12:00:00.000000Z', \
             '2026-01-01T12:00:00.000000Z', '2026-01-01T12:00:00.000000Z' FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO deploy_approval_requests ({cols}) SELECT gen_random_uuid(), \
             CASE WHEN i % 2 = 0 THEN 'myapp' ELSE 'app' || (i % 50) END, lpad(to_hex(i), 40, '0'), 'history', \
             'pending', CASE WHEN i % 4 < 2 THEN {a} ELSE {b} END, '2026-01-02T12:00:00Z', \
             '2026-01-01T12:00:00Z', '2026-01-01T12:00:00Z' FROM generate_series(1, {rows}) AS i"
        ),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn run(t: TestStore, rows: u64) {
    let store = &t.store;
    let now = rgw_core::SystemClock.now();
    let user = |email: &str, service| NewUser {
        email: email.into(),
        name: String::new(),
        role: if service {
            "viewer".into()
        } else {
            "admin".into()
        },
        password_hash: None,
        is_service: service,
        mfa_enforced: false,
    };
    let ci = store
        .create_user(&user("ci@example.com", true), now)
        .await
        .unwrap();
    let admin = store
        .create_user(&user("admin@example.com", false), now)
        .await
        .unwrap();
    let a = token(store, ci.id, "ci-a", now).await;
    let b = token(store, ci.id, "ci-b", now).await;

    let started = Instant::now();
    t.raw_execute(&history_sql(t.backend, rows, a, b))
        .await
        .expect("history");
    t.raw_execute(
        "UPDATE deploy_approval_requests SET status = 'expired', expired_reason = 'pending_ttl', \
         expired_at = created_at WHERE message = 'history'",
    )
    .await
    .expect("expire history");
    if t.backend == Backend::Postgres {
        t.raw_execute("ANALYZE deploy_approval_requests")
            .await
            .unwrap();
    }
    let seeded = started.elapsed();

    // The one live approval of token A for myapp.
    let req = store
        .create_request(
            &NewDeployApprovalRequest {
                public_id: uuid::Uuid::new_v4(),
                app: "myapp".into(),
                git_commit_hash: "f".repeat(40),
                git_branch: None,
                pr_url: None,
                ci_metadata: serde_json::json!({}),
                message: "live".into(),
                target_api_token_id: a,
                created_by_user_id: None,
                created_by_api_token_id: Some(a),
                required_approvals: 1,
                pending_expires_at: now + time::Duration::days(1),
                intent_digest: format!("sha256:{}", "0".repeat(64)),
                approval_window_minutes: 15,
            },
            now,
        )
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.add_approval(
        &NewDeployApproval {
            request_id: req.id,
            user_id: admin.id,
            notes: None,
            mfa_method: "totp".into(),
            intent_digest: String::new(),
            mfa_binding: String::new(),
        },
        now,
    )
    .await
    .unwrap();
    assert!(
        tx.approve_request(req.id, now + time::Duration::minutes(15), now)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    for (name, kind) in [
        ("live_requests_for", 0),
        ("latest_request_for", 1),
        ("live_cached", 2),
    ] {
        let mut samples = Vec::with_capacity(LOOKUPS);
        for i in 0..LOOKUPS + 500 {
            let t0 = Instant::now();
            match kind {
                1 => {
                    let r = store.latest_request_for(a, "myapp", None).await.unwrap();
                    assert_eq!(r.map(|r| r.id), Some(req.id));
                }
                0 => {
                    let live = store.live_requests_for(a, "myapp", now).await.unwrap();
                    assert_eq!(live.len(), 1);
                }
                _ => {
                    let live = store
                        .live_requests_for_cached(a, "myapp", now)
                        .await
                        .unwrap();
                    assert_eq!(live.len(), 1);
                }
            }
            if i >= 500 {
                samples.push(t0.elapsed());
            }
        }
        samples.sort_unstable();
        println!(
            "{:<8} {name:<19} rows={rows} p50={:.3} ms p90={:.3} ms p99={:.3} ms max={:.3} ms (seeded in {:.1} s)",
            t.backend.to_string(),
            percentile(&samples, 0.5),
            percentile(&samples, 0.9),
            percentile(&samples, 0.99),
            samples.last().unwrap().as_secs_f64() * 1e3,
            seeded.as_secs_f64()
        );
    }
    t.cleanup().await;
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    for t in test_stores().await {
        run(t, rows).await;
    }
}
