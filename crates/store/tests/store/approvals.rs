//! The deploy approval repository on the happy path: create, duplicate handling, lifecycle,
//! listing with filters and cursor, and the expiry sweeper.

use rgw_store::testing::test_stores;
use rgw_store::{ApprovalStatus, CreateOutcome, RequestFilter};
use time::Duration;

use crate::support::*;

#[tokio::test]
async fn a_duplicate_create_returns_the_open_request() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let new = new_request(&fx, SHA);
        let CreateOutcome::Created(first) =
            t.store.create_or_get_open_request(&new, NOW).await.unwrap()
        else {
            panic!("[{}] first create must create", t.backend);
        };
        // A retry comes with a fresh public id, as the server makes one per call.
        let CreateOutcome::Existing(again) = t
            .store
            .create_or_get_open_request(&new_request(&fx, SHA), NOW)
            .await
            .unwrap()
        else {
            panic!("[{}] duplicate must return the open request", t.backend);
        };
        assert_eq!(again.public_id, first.public_id);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_request_goes_through_the_whole_deploy_chain_and_round_trips_every_field() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let created = pending(&t.store, &fx, SHA2).await;
        assert_eq!(created.status, ApprovalStatus::Pending);
        assert_eq!(created.created_at, NOW);
        assert_eq!(created.ci_metadata.0["workflow_id"], "abc-123");
        assert_eq!(created.process_ids.0, serde_json::json!([]));
        let done = deployed(&t.store, &fx, SHA).await;
        assert_eq!(done.status, ApprovalStatus::Deployed);
        assert_eq!(done.approval_expires_at, Some(NOW + Duration::minutes(15)));
        assert_eq!(done.release_id.as_deref(), Some("RABC"));
        let by_public = t
            .store
            .get_request_by_public_id(done.public_id)
            .await
            .unwrap();
        assert_eq!(by_public.id, done.id);
        let approvals = t.store.list_approvals(done.id).await.unwrap();
        assert_eq!(approvals.len(), 1);
        assert_eq!(approvals[0].user_email, "admin@example.com");
        assert_eq!(approvals[0].mfa_method, "totp");
        // Deployed closes the request, so the same commit may be requested again.
        pending(&t.store, &fx, SHA).await;
        t.cleanup().await;
    }
}

#[tokio::test]
async fn listing_filters_by_status_app_and_commit_and_pages_by_cursor() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        for i in 0..5u32 {
            pending(&t.store, &fx, &format!("{i:040x}")).await;
        }
        let approved_req = approved(&t.store, &fx, SHA).await;
        let all = RequestFilter {
            limit: 100,
            ..RequestFilter::default()
        };
        assert_eq!(t.store.list_requests(&all).await.unwrap().len(), 6);
        let only_pending = RequestFilter {
            status: Some(ApprovalStatus::Pending),
            limit: 100,
            ..RequestFilter::default()
        };
        assert_eq!(t.store.list_requests(&only_pending).await.unwrap().len(), 5);
        let by_commit = RequestFilter {
            git_commit_hash: Some(SHA.into()),
            limit: 100,
            ..RequestFilter::default()
        };
        let found = t.store.list_requests(&by_commit).await.unwrap();
        assert_eq!(
            found.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![approved_req.id]
        );
        let other_app = RequestFilter {
            app: Some("other".into()),
            limit: 100,
            ..RequestFilter::default()
        };
        assert!(t.store.list_requests(&other_app).await.unwrap().is_empty());
        let page1 = t
            .store
            .list_requests(&RequestFilter {
                limit: 4,
                ..RequestFilter::default()
            })
            .await
            .unwrap();
        let cursor = page1.last().map(|r| r.id);
        let page2 = t
            .store
            .list_requests(&RequestFilter {
                limit: 4,
                before_id: cursor,
                ..RequestFilter::default()
            })
            .await
            .unwrap();
        assert_eq!((page1.len(), page2.len()), (4, 2), "[{}]", t.backend);
        assert!(page1.iter().all(|a| page2.iter().all(|b| b.id < a.id)));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn the_sweeper_expires_overdue_pending_and_approved_requests_only() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let stale = pending(&t.store, &fx, SHA).await; // pending TTL: NOW + 1 day
        let window = approved(&t.store, &fx, SHA2).await; // window: NOW + 15 min
        let mut tx = t.store.begin().await.unwrap();
        assert!(
            tx.expire_due_requests(NOW + Duration::minutes(14), NOW)
                .await
                .unwrap()
                .is_empty()
        );
        let expired = tx
            .expire_due_requests(NOW + Duration::minutes(15), NOW)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            expired.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![window.id],
            "[{}]",
            t.backend
        );
        assert_eq!(expired[0].status, ApprovalStatus::Expired);
        let mut tx = t.store.begin().await.unwrap();
        let expired = tx
            .expire_due_requests(NOW + Duration::days(1), NOW)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            expired.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![stale.id]
        );
        t.cleanup().await;
    }
}
