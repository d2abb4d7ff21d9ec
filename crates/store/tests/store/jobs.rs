//! The job outbox: transactional enqueue, exclusive claims, backoff and dead-lettering.

use std::collections::HashSet;

use rgw_store::testing::test_stores;
use rgw_store::{JobFailure, JobFilter, JobStatus, NewJob};
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

fn all() -> JobFilter {
    JobFilter {
        limit: 100,
        ..JobFilter::default()
    }
}

fn retry(at: time::OffsetDateTime) -> JobFailure {
    JobFailure::RetryAt(at)
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
            t.store.list_jobs(&all()).await.unwrap().is_empty(),
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
        assert_eq!(t.store.list_jobs(&all()).await.unwrap().len(), 1);
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
            t.store
                .fail_job(&first, "HTTP 502", retry(NOW + Duration::seconds(10)), NOW)
                .await
                .unwrap(),
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
                .fail_job(&second, "HTTP 502", retry(retry_at), retry_at)
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

#[tokio::test]
async fn a_permanent_failure_stops_at_once_and_an_admin_can_retry_or_discard_it() {
    for t in test_stores().await {
        let queued = t
            .store
            .enqueue_job(&job(None, 5), NOW)
            .await
            .unwrap()
            .unwrap();
        let lease = NOW + Duration::minutes(1);
        let claimed = t.store.claim_job("w1", lease, NOW).await.unwrap().unwrap();
        assert_eq!(
            t.store
                .fail_job(&claimed, "job not found", JobFailure::Permanent, NOW)
                .await
                .unwrap(),
            Some(JobStatus::Failed),
            "[{}]",
            t.backend
        );
        let failed = t.store.get_job(queued.id).await.unwrap();
        assert_eq!(failed.finished_at, Some(NOW));
        assert!(
            t.store
                .claim_job("w1", lease, NOW + Duration::days(1))
                .await
                .unwrap()
                .is_none(),
            "a failed job is never claimed again by itself"
        );
        // Retry gives it a fresh budget and runs it now.
        let later = NOW + Duration::hours(1);
        let again = t
            .store
            .retry_job(queued.public_id, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (again.status, again.attempts, again.finished_at),
            (JobStatus::Queued, 0, None)
        );
        assert!(
            t.store
                .retry_job(queued.public_id, later)
                .await
                .unwrap()
                .is_none(),
            "already queued"
        );
        // Discarding a running job fences its worker out.
        let running = t
            .store
            .claim_job("w2", later + Duration::minutes(1), later)
            .await
            .unwrap()
            .unwrap();
        let gone = t
            .store
            .discard_job(queued.public_id, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gone.status, JobStatus::Discarded);
        assert!(!t.store.complete_job(&running, later).await.unwrap());
        assert!(
            !t.store
                .renew_job_lease(&running, later + Duration::minutes(5), later)
                .await
                .unwrap()
        );
        assert!(
            t.store
                .discard_job(queued.public_id, later)
                .await
                .unwrap()
                .is_none()
        );
        let filter = JobFilter {
            status: Some(JobStatus::Discarded),
            ..all()
        };
        assert_eq!(t.store.list_jobs(&filter).await.unwrap().len(), 1);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_renewed_lease_keeps_a_slow_job_from_being_taken_over() {
    for t in test_stores().await {
        assert_eq!(
            t.store.next_job_due().await.unwrap(),
            None,
            "[{}]",
            t.backend
        );
        let mut later = job(None, 3);
        later.run_at = NOW + Duration::seconds(5);
        t.store.enqueue_job(&later, NOW).await.unwrap();
        assert_eq!(
            t.store.next_job_due().await.unwrap(),
            Some(NOW + Duration::seconds(5))
        );
        let at = NOW + Duration::seconds(5);
        let lease = at + Duration::minutes(1);
        let slow = t.store.claim_job("w1", lease, at).await.unwrap().unwrap();
        assert_eq!(t.store.next_job_due().await.unwrap(), Some(lease));
        let renewed_at = lease - Duration::seconds(10);
        assert!(
            t.store
                .renew_job_lease(&slow, lease + Duration::minutes(1), renewed_at)
                .await
                .unwrap()
        );
        assert!(
            t.store
                .claim_job("w2", lease + Duration::minutes(2), lease)
                .await
                .unwrap()
                .is_none(),
            "the renewed lease still holds"
        );
        assert_eq!(
            t.store.get_job(slow.id).await.unwrap().heartbeat_at,
            Some(renewed_at)
        );
        assert!(t.store.complete_job(&slow, lease).await.unwrap());
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_job_abandoned_on_its_last_attempt_is_buried_dead() {
    for t in test_stores().await {
        let j = t
            .store
            .enqueue_job(&job(None, 1), NOW)
            .await
            .unwrap()
            .unwrap();
        let lease = NOW + Duration::minutes(1);
        t.store.claim_job("w1", lease, NOW).await.unwrap().unwrap();
        assert!(
            t.store.bury_abandoned_jobs(NOW).await.unwrap().is_empty(),
            "lease still held"
        );
        assert!(
            t.store
                .claim_job("w2", lease, lease)
                .await
                .unwrap()
                .is_none()
        );
        let buried = t.store.bury_abandoned_jobs(lease).await.unwrap();
        assert_eq!(buried.len(), 1, "[{}]", t.backend);
        assert_eq!(t.store.get_job(j.id).await.unwrap().status, JobStatus::Dead);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn the_first_integration_ref_written_wins() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = t
            .store
            .create_request(&new_request(&fx, SHA), NOW)
            .await
            .unwrap();
        assert_eq!(
            t.store
                .get_integration_ref(req.id, "github.comment")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            t.store
                .put_integration_ref_once(req.id, "github.comment", "11", NOW)
                .await
                .unwrap(),
            "11"
        );
        assert_eq!(
            t.store
                .put_integration_ref_once(req.id, "github.comment", "22", NOW)
                .await
                .unwrap(),
            "11",
            "[{}] the loser reads the winner's value",
            t.backend
        );
        assert!(
            !t.store
                .replace_integration_ref(req.id, "github.comment", "22", "33", NOW)
                .await
                .unwrap()
        );
        assert!(
            t.store
                .replace_integration_ref(req.id, "github.comment", "11", "33", NOW)
                .await
                .unwrap()
        );
        assert_eq!(
            t.store
                .get_integration_ref(req.id, "github.comment")
                .await
                .unwrap()
                .as_deref(),
            Some("33")
        );
        t.cleanup().await;
    }
}
