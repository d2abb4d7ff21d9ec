//! The job outbox: transactional enqueue, exclusive claims, backoff and dead-lettering.

use std::collections::HashSet;

use rgw_store::testing::test_stores;
use rgw_store::{JobStatus, NewJob, job_backoff};
use time::Duration;

use crate::support::*;

fn job(key: Option<&str>, max_attempts: i64) -> NewJob {
    NewJob {
        kind: "circleci.approve_job".into(),
        payload: serde_json::json!({"workflow_id": "abc-123"}),
        idempotency_key: key.map(str::to_owned),
        run_at: NOW,
        max_attempts,
        deploy_approval_request_id: None,
    }
}

#[tokio::test]
async fn a_job_enqueued_with_a_state_change_commits_or_rolls_back_with_it() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let mut tx = t.store.begin().await.unwrap();
        let req = tx
            .create_request(&new_request(&fx, SHA), NOW)
            .await
            .unwrap();
        let mut j = job(Some("k1"), 3);
        j.deploy_approval_request_id = Some(req.id);
        tx.enqueue_job(&j, NOW).await.unwrap().expect("enqueued");
        tx.rollback().await.unwrap();
        assert!(
            t.store.list_jobs(10).await.unwrap().is_empty(),
            "[{}]",
            t.backend
        );
        assert!(
            t.store
                .get_open_request("myapp", SHA, fx.token.id)
                .await
                .unwrap()
                .is_none()
        );

        let mut tx = t.store.begin().await.unwrap();
        tx.enqueue_job(&job(Some("k1"), 3), NOW)
            .await
            .unwrap()
            .expect("enqueued");
        assert!(
            tx.enqueue_job(&job(Some("k1"), 3), NOW)
                .await
                .unwrap()
                .is_none(),
            "same key is ignored"
        );
        tx.commit().await.unwrap();
        assert_eq!(t.store.list_jobs(10).await.unwrap().len(), 1);
        t.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_claimed_by_exactly_one_of_two_concurrent_claimers() {
    for t in test_stores().await {
        for _ in 0..20 {
            t.store.enqueue_job(&job(None, 3), NOW).await.unwrap();
        }
        let mut workers = tokio::task::JoinSet::new();
        for w in ["w1", "w2"] {
            let store = t.store.clone();
            workers.spawn(async move {
                let mut got = Vec::new();
                while let Some(j) = store
                    .claim_job(w, NOW + Duration::minutes(5), NOW)
                    .await
                    .unwrap()
                {
                    assert_eq!(j.locked_by.as_deref(), Some(w));
                    got.push(j.id);
                }
                got
            });
        }
        let mut seen = HashSet::new();
        let mut total = 0;
        while let Some(ids) = workers.join_next().await {
            for id in ids.unwrap() {
                total += 1;
                assert!(seen.insert(id), "[{}] job {id} claimed twice", t.backend);
            }
        }
        assert_eq!(total, 20, "[{}]", t.backend);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_failed_job_is_retried_with_backoff_and_dead_after_max_attempts() {
    assert_eq!(job_backoff(1), std::time::Duration::from_secs(10));
    assert_eq!(job_backoff(2), std::time::Duration::from_secs(20));
    assert_eq!(job_backoff(50), std::time::Duration::from_secs(3600));
    for t in test_stores().await {
        let id = t
            .store
            .enqueue_job(&job(None, 2), NOW)
            .await
            .unwrap()
            .unwrap()
            .id;
        let lease = NOW + Duration::minutes(5);
        let first = t
            .store
            .claim_job("w1", lease, NOW)
            .await
            .unwrap()
            .expect("due");
        assert_eq!(first.attempts, 1);
        assert_eq!(
            t.store.fail_job(&first, "HTTP 502", NOW).await.unwrap(),
            Some(JobStatus::Queued)
        );
        let retry_at = NOW + Duration::seconds(10);
        assert!(
            t.store
                .claim_job("w1", lease, retry_at - Duration::seconds(1))
                .await
                .unwrap()
                .is_none(),
            "backing off"
        );
        let second = t
            .store
            .claim_job("w2", lease, retry_at)
            .await
            .unwrap()
            .expect("due again");
        assert_eq!((second.id, second.attempts), (id, 2));
        assert_eq!(second.last_error.as_deref(), Some("HTTP 502"));
        // A stale worker cannot complete or fail a job it lost.
        assert!(!t.store.complete_job(&first, retry_at).await.unwrap());
        assert_eq!(
            t.store
                .fail_job(&second, "HTTP 502", retry_at)
                .await
                .unwrap(),
            Some(JobStatus::Dead)
        );
        assert!(
            t.store
                .claim_job("w1", lease, NOW + Duration::days(1))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(t.store.get_job(id).await.unwrap().status, JobStatus::Dead);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_and_a_completed_job_stays_done() {
    for t in test_stores().await {
        t.store.enqueue_job(&job(None, 3), NOW).await.unwrap();
        let lease = NOW + Duration::minutes(1);
        let crashed = t.store.claim_job("w1", lease, NOW).await.unwrap().unwrap();
        assert!(
            t.store.claim_job("w2", lease, NOW).await.unwrap().is_none(),
            "leased"
        );
        let taken = t
            .store
            .claim_job("w2", lease + Duration::minutes(1), lease)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((taken.id, taken.attempts), (crashed.id, 2));
        assert!(t.store.complete_job(&taken, lease).await.unwrap());
        assert_eq!(
            t.store.get_job(taken.id).await.unwrap().status,
            JobStatus::Succeeded
        );
        assert!(
            t.store
                .claim_job("w3", lease, NOW + Duration::days(1))
                .await
                .unwrap()
                .is_none()
        );
        t.cleanup().await;
    }
}
