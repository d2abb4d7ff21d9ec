//! The database itself refuses out-of-order or repeated writes to deploy approval requests.
//! Every bad write here is raw SQL, bypassing the repository's guards.

use rgw_store::testing::test_stores;
use rgw_store::{ApprovalStatus, ClaimExpect, NewDeployApproval, StoreError};

use crate::support::*;

const U: &str = "UPDATE deploy_approval_requests SET";

#[tokio::test]
async fn a_second_open_request_for_the_same_app_commit_and_token_is_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let first = pending(&t.store, &fx, SHA).await;
        let raw = raw_insert_request(&t, fx.token.id, SHA, "pending");
        assert_conflict(
            &t,
            t.raw_execute(&raw).await,
            "uq_deploy_approval_requests_open",
        );
        assert_conflict(
            &t,
            t.store.create_request(&new_request(&fx, SHA), NOW).await,
            "uq_deploy_approval_requests_open",
        );
        // Still refused once approved.
        let mut tx = t.store.begin().await.unwrap();
        let approval = NewDeployApproval {
            request_id: first.id,
            user_id: fx.admin.id,
            notes: None,
            mfa_method: "webauthn".to_owned(),
            intent_digest: String::new(),
            mfa_binding: String::new(),
        };
        tx.add_approval(&approval, NOW).await.unwrap();
        assert!(tx.approve_request(first.id, NOW, NOW).await.unwrap());
        tx.commit().await.unwrap();
        assert_conflict(
            &t,
            t.raw_execute(&raw).await,
            "uq_deploy_approval_requests_open",
        );
        // Another commit, or another token, is a different request.
        t.raw_execute(&raw_insert_request(&t, fx.token.id, SHA2, "pending"))
            .await
            .unwrap();
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_new_request_is_allowed_after_the_open_one_is_rejected_or_expired() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let first = pending(&t.store, &fx, SHA).await;
        let rejected = t.store.reject_request(
            first.id,
            ApprovalStatus::Pending,
            fx.admin.id,
            Some("no"),
            NOW,
        );
        assert!(rejected.await.unwrap());
        let second = pending(&t.store, &fx, SHA).await;
        assert!(
            t.store
                .expire_request(
                    second.id,
                    ApprovalStatus::Pending,
                    rgw_core::approval::ExpiryReason::PendingTtl,
                    NOW
                )
                .await
                .unwrap()
        );
        let raw = raw_insert_request(&t, fx.token.id, SHA, "pending");
        assert_eq!(t.raw_execute(&raw).await.unwrap(), 1, "[{}]", t.backend);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn object_url_set_before_approval_is_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = pending(&t.store, &fx, SHA).await;
        let res = t
            .raw_execute(&format!(
                "{U} object_url = 'object:///x' WHERE id = {}",
                req.id
            ))
            .await;
        assert_invariant(
            &t,
            res,
            "object_url can only be set while the request is approved",
        );
        let res = t.raw_execute(&raw_claim(req.id, "object")).await;
        assert_invariant(
            &t,
            res,
            "a chain step can only be claimed while the request is approved",
        );
        assert!(
            claim(&t.store, &req, ClaimExpect::Object { url: "object:///x" })
                .await
                .is_none()
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn build_id_set_before_object_url_is_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        let res = t
            .raw_execute(&format!("{U} build_id = 'B1' WHERE id = {}", req.id))
            .await;
        assert_invariant(&t, res, "build_id can only be set after object_url");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn release_id_set_before_build_id_is_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        record_object(&t.store, &req, "object:///a").await;
        let res = t
            .raw_execute(&format!("{U} release_id = 'R1' WHERE id = {}", req.id))
            .await;
        assert_invariant(&t, res, "release_id can only be set after build_id");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn release_id_set_twice_is_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        record_object(&t.store, &req, "object:///a").await;
        record_build(&t.store, &req, "object:///a", "B1").await;
        t.raw_execute(&format!("{U} release_id = 'R1' WHERE id = {}", req.id))
            .await
            .unwrap();
        let res = t
            .raw_execute(&format!("{U} release_id = 'R2' WHERE id = {}", req.id))
            .await;
        assert_invariant(&t, res, "release_id is already set");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn deployed_without_a_release_is_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        let res = t
            .raw_execute(&format!("{U} status = 'deployed' WHERE id = {}", req.id))
            .await;
        assert_invariant(
            &t,
            res,
            "status can only become deployed after release_id is set",
        );
        // Inserting a row that is already deployed is refused too.
        let raw = raw_insert_request(&t, fx.token.id, SHA2, "deployed");
        assert_invariant(
            &t,
            t.raw_execute(&raw).await,
            "a deploy approval request must be created pending, without approvals or artefacts",
        );
        t.cleanup().await;
    }
}

/// The refusal for `from -> to`, or `None` when the lifecycle allows it.
fn expected_refusal(from: ApprovalStatus, to: ApprovalStatus) -> Option<&'static str> {
    use ApprovalStatus::*;
    match (from, to) {
        (Rejected, _) => Some("deploy approval request is rejected and can no longer change"),
        (Expired, _) => Some("deploy approval request is expired and can no longer change"),
        (Deployed, _) => Some("deploy approval request is deployed and can no longer change"),
        (Pending, Deployed) | (Pending, Pending) => {
            Some("a pending request can only become approved, rejected or expired")
        }
        (Approved, Pending) | (Approved, Approved) => {
            Some("an approved request can only become rejected, expired or deployed")
        }
        _ => None,
    }
}

#[tokio::test]
async fn illegal_status_transitions_are_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let mut n = 0u32;
        for from in ApprovalStatus::ALL {
            for to in ApprovalStatus::ALL {
                let Some(expected) = expected_refusal(from, to).filter(|_| from != to) else {
                    continue;
                };
                n += 1;
                // A distinct commit per case keeps the open-request index out of the way.
                let sha = format!("{n:040x}");
                let req = match from {
                    ApprovalStatus::Pending => pending(&t.store, &fx, &sha).await,
                    ApprovalStatus::Approved => approved(&t.store, &fx, &sha).await,
                    ApprovalStatus::Deployed => deployed(&t.store, &fx, &sha).await,
                    ApprovalStatus::Rejected => {
                        let r = pending(&t.store, &fx, &sha).await;
                        t.store
                            .reject_request(r.id, ApprovalStatus::Pending, fx.admin.id, None, NOW)
                            .await
                            .unwrap();
                        r
                    }
                    ApprovalStatus::Expired => {
                        let r = pending(&t.store, &fx, &sha).await;
                        t.store
                            .expire_request(
                                r.id,
                                ApprovalStatus::Pending,
                                rgw_core::approval::ExpiryReason::PendingTtl,
                                NOW,
                            )
                            .await
                            .unwrap();
                        r
                    }
                };
                let sql = format!("{U} status = '{}' WHERE id = {}", to.as_str(), req.id);
                match t.raw_execute(&sql).await {
                    Err(StoreError::Invariant { message }) => {
                        assert_eq!(message, expected, "[{}] {from} -> {to}", t.backend)
                    }
                    other => panic!("[{}] {from} -> {to} was not refused: {other:?}", t.backend),
                }
            }
        }
        assert_eq!(n, 14, "cases covered");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_final_request_refuses_every_change() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = deployed(&t.store, &fx, SHA).await;
        let res = t
            .raw_execute(&format!("{U} message = 'edited' WHERE id = {}", req.id))
            .await;
        assert_invariant(
            &t,
            res,
            "deploy approval request is deployed and can no longer change",
        );
        let res = t
            .raw_execute(&format!(
                "DELETE FROM deploy_approval_requests WHERE id = {}",
                req.id
            ))
            .await;
        assert_invariant(&t, res, "deploy approval requests cannot be deleted");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn the_identity_of_a_request_cannot_change() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = pending(&t.store, &fx, SHA).await;
        let expected = "the identity of a deploy approval request (public_id, app, git_commit_hash, \
                        target_api_token_id, creator, required_approvals, created_at) cannot change";
        for set in [
            format!("git_commit_hash = '{SHA2}'"),
            "app = 'other'".to_owned(),
        ] {
            let res = t
                .raw_execute(&format!("{U} {set} WHERE id = {}", req.id))
                .await;
            assert_invariant(&t, res, expected);
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn self_approval_and_approval_of_a_non_pending_request_are_refused() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let mut new = new_request(&fx, SHA);
        new.created_by_user_id = Some(fx.admin.id);
        let own = t.store.create_request(&new, NOW).await.unwrap();
        let insert = |req: i64, user: i64| {
            format!(
                "INSERT INTO deploy_approvals (request_id, user_id, mfa_method, approved_at) \
                 VALUES ({req}, {user}, 'totp', '2026-01-01T12:00:00.000000Z')"
            )
        };
        assert_invariant(
            &t,
            t.raw_execute(&insert(own.id, fx.admin.id)).await,
            "the creator of a deploy approval request cannot approve it",
        );
        // Someone else may approve it, once.
        t.raw_execute(&insert(own.id, fx.admin2.id)).await.unwrap();
        assert_conflict(
            &t,
            t.raw_execute(&insert(own.id, fx.admin2.id)).await,
            "uq_deploy_approvals_request_id_user_id",
        );
        // A rejected request takes no approvals.
        let other = pending(&t.store, &fx, SHA2).await;
        t.store
            .reject_request(other.id, ApprovalStatus::Pending, fx.admin.id, None, NOW)
            .await
            .unwrap();
        assert_invariant(
            &t,
            t.raw_execute(&insert(other.id, fx.admin2.id)).await,
            "only a pending deploy approval request can be approved",
        );
        // Recorded approvals are history.
        assert_invariant(
            &t,
            t.raw_execute("DELETE FROM deploy_approvals").await,
            "deploy approvals cannot be changed or deleted",
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn approval_requires_the_quorum_of_distinct_approvers() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let mut new = new_request(&fx, SHA);
        new.required_approvals = 2;
        let req = t.store.create_request(&new, NOW).await.unwrap();
        let mut tx = t.store.begin().await.unwrap();
        let first = NewDeployApproval {
            request_id: req.id,
            user_id: fx.admin.id,
            notes: None,
            mfa_method: "totp".into(),
            intent_digest: String::new(),
            mfa_binding: String::new(),
        };
        tx.add_approval(&first, NOW).await.unwrap();
        assert!(
            !tx.approve_request(req.id, NOW, NOW).await.unwrap(),
            "one of two is not enough"
        );
        tx.commit().await.unwrap();
        let sql = format!(
            "{U} status = 'approved', approved_at = '2026-01-01T12:00:00.000000Z' WHERE id = {}",
            req.id
        );
        assert_invariant(
            &t,
            t.raw_execute(&sql).await,
            "status can only become approved once enough approvals are recorded",
        );
        let mut tx = t.store.begin().await.unwrap();
        let second = NewDeployApproval {
            user_id: fx.admin2.id,
            ..first
        };
        tx.add_approval(&second, NOW).await.unwrap();
        assert!(tx.approve_request(req.id, NOW, NOW).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(t.store.list_approvals(req.id).await.unwrap().len(), 2);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn git_commit_hash_check_refuses_short_and_upper_case_shas() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let bad = [
            "abc123f",
            "0123456789ABCDEF0123456789ABCDEF01234567",
            "g123456789abcdef0123456789abcdef01234567",
        ];
        for sha in bad {
            let expected = "check constraint ck_deploy_approval_requests_git_commit_hash failed";
            assert_invariant(
                &t,
                t.raw_execute(&raw_insert_request(&t, fx.token.id, sha, "pending"))
                    .await,
                expected,
            );
            assert_invariant(
                &t,
                t.store.create_request(&new_request(&fx, sha), NOW).await,
                expected,
            );
        }
        t.cleanup().await;
    }
}
