//! Races between gateways sharing one database: concurrent approvals of one request, sweepers
//! on several replicas, and supersession of unused approvals.

use rgw_core::approval::ApprovalStatus;
use rgw_store::testing::test_stores;
use rgw_store::{NewDeployApproval, Store};
use std::sync::Arc;

use time::Duration;
use tokio::sync::Barrier;

use crate::support::*;

fn approval(req: &rgw_store::DeployApprovalRequest, user_id: i64) -> NewDeployApproval {
    NewDeployApproval {
        request_id: req.id,
        user_id,
        notes: None,
        mfa_method: "totp".into(),
        intent_digest: req.intent_digest.clone().unwrap_or_default(),
        mfa_binding: format!("deploy_approval.approve:{}", req.public_id),
    }
}

/// One approver's whole approve transaction: lock the row, count, insert, move to approved.
async fn approve_as(store: Store, req_id: i64, user_id: i64, start: Arc<Barrier>) {
    start.wait().await;
    let mut tx = store.begin().await.unwrap();
    let req = tx.lock_request(req_id).await.unwrap();
    tx.add_approval(&approval(&req, user_id), NOW)
        .await
        .unwrap();
    // Widen the race: without the row lock the other approver inserts meanwhile and neither
    // transaction sees both approvals.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let approvals = tx.list_approvals(req.id).await.unwrap();
    if approvals.len() as i64 >= req.required_approvals {
        assert!(
            tx.approve_request(req.id, NOW + Duration::minutes(15), NOW)
                .await
                .unwrap()
        );
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn two_concurrent_approvals_with_quorum_two_leave_the_request_approved() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        for round in 0..5 {
            let sha = format!("{:040x}", round + 1);
            let mut new = new_request(&fx, &sha);
            new.required_approvals = 2;
            let req = t.store.create_request(&new, NOW).await.unwrap();
            // Two connections (two gateways) approve at the same moment.
            let other = Store::connect(&t.url).await.unwrap();
            let start = Arc::new(Barrier::new(2));
            let a = tokio::spawn(approve_as(
                t.store.clone(),
                req.id,
                fx.admin.id,
                start.clone(),
            ));
            let b = tokio::spawn(approve_as(other, req.id, fx.admin2.id, start));
            a.await.unwrap();
            b.await.unwrap();
            let done = t.store.get_request(req.id).await.unwrap();
            assert_eq!(
                done.status,
                ApprovalStatus::Approved,
                "[{}] round {round}: the second approval must see the first",
                t.backend
            );
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn sweepers_on_several_gateways_expire_each_request_exactly_once() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let mut ids = Vec::new();
        for i in 0..20 {
            let sha = format!("{:040x}", 100 + i);
            ids.push(pending(&t.store, &fx, &sha).await.id);
        }
        let later = NOW + Duration::days(2);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let store = Store::connect(&t.url).await.unwrap();
            tasks.push(tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let got = tx.expire_due_requests(later, later).await.unwrap();
                tx.commit().await.unwrap();
                got.into_iter().map(|r| r.id).collect::<Vec<_>>()
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(
            all, ids,
            "[{}] every request expired once, by one sweeper",
            t.backend
        );
        let r = t.store.get_request(ids[0]).await.unwrap();
        assert_eq!(r.expired_reason.as_deref(), Some("pending_ttl"));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn approving_a_newer_request_supersedes_unused_approvals_of_the_same_token_and_app() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let unused = approved(&t.store, &fx, SHA).await;
        let in_use = approved(&t.store, &fx, "1111111111111111111111111111111111111111").await;
        record_object(&t.store, &in_use, "object:///myapp/a.tgz").await;
        let newer = approved(&t.store, &fx, SHA2).await;
        let mut tx = t.store.begin().await.unwrap();
        let superseded = tx.supersede_unused_approvals(&newer, NOW).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            superseded.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![unused.id]
        );
        let r = t.store.get_request(unused.id).await.unwrap();
        assert_eq!(
            (r.status, r.expired_reason.as_deref()),
            (ApprovalStatus::Expired, Some("superseded"))
        );
        assert_eq!(
            t.store.get_request(in_use.id).await.unwrap().status,
            ApprovalStatus::Approved,
            "a chain already under way is not cut off"
        );
        let live = t
            .store
            .live_requests_for(fx.token.id, "myapp", NOW)
            .await
            .unwrap();
        assert_eq!(
            live.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![newer.id, in_use.id]
        );
        t.cleanup().await;
    }
}
