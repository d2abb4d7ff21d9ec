//! The chain's claims in the database: one winner per step, artefacts recorded only by the
//! claimant, failed builds replaced only under a claim, deploys only by the claimed promote.

use rgw_store::testing::test_stores;
use rgw_store::{ApprovalStatus, Claim, ClaimExpect};
use time::Duration;

use crate::support::*;

const U: &str = "UPDATE deploy_approval_requests SET";

#[tokio::test]
async fn object_url_is_recorded_only_by_the_claimant_and_only_once() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        let unclaimed = t
            .raw_execute(&format!(
                "{U} object_url = 'object:///a' WHERE id = {}",
                req.id
            ))
            .await;
        assert_invariant(
            &t,
            unclaimed,
            "object_url can only be recorded by the upload that claimed the step",
        );
        record_object(&t.store, &req, "object:///a").await;
        t.raw_execute(&raw_claim(req.id, "object")).await.unwrap();
        let again = t
            .raw_execute(&format!(
                "{U} object_url = 'object:///b' WHERE id = {}",
                req.id
            ))
            .await;
        assert_invariant(&t, again, "object_url is already set");
        let cleared = t
            .raw_execute(&format!("{U} object_url = NULL WHERE id = {}", req.id))
            .await;
        assert_invariant(&t, cleared, "object_url is already set");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn two_concurrent_claims_on_one_step_have_exactly_one_winner() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = t.store.clone();
                let req = req.clone();
                tokio::spawn(async move {
                    let url = format!("object:///myapp/{}.tgz", i % 2);
                    store
                        .claim_step(
                            req.id,
                            ClaimExpect::Object { url: &url },
                            NOW,
                            NOW - Duration::minutes(15),
                        )
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            if let Some(c) = task.await.unwrap() {
                won.push(c);
            }
        }
        assert_eq!(won.len(), 1, "[{}] exactly one claim wins", t.backend);
        // A loser cannot confirm with a claim of its own making.
        let forged = Claim {
            at: NOW + Duration::seconds(1),
            ..won[0]
        };
        assert!(
            !t.store
                .confirm_object(&forged, "object:///myapp/9.tgz", NOW)
                .await
                .unwrap()
        );
        // Released, the step can be claimed again; claims older than the bound are abandoned.
        assert!(t.store.release_claim(&won[0], NOW).await.unwrap());
        let c = claim(
            &t.store,
            &req,
            ClaimExpect::Object {
                url: "object:///myapp/0.tgz",
            },
        )
        .await
        .expect("claim after release");
        let later = NOW + Duration::minutes(16);
        let takeover = t
            .store
            .claim_step(
                req.id,
                ClaimExpect::Object {
                    url: "object:///myapp/0.tgz",
                },
                NOW + Duration::minutes(1),
                later - Duration::minutes(15),
            )
            .await
            .unwrap();
        assert!(takeover.is_some(), "a stale claim is taken over");
        assert!(
            !t.store
                .confirm_object(&c, "object:///myapp/0.tgz", NOW)
                .await
                .unwrap()
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_failed_build_may_be_replaced_only_by_a_claimed_build_before_a_release() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        record_object(&t.store, &req, "object:///a").await;
        record_build(&t.store, &req, "object:///a", "B1").await;
        // Not without a claim...
        let res = t
            .raw_execute(&format!("{U} build_id = 'B2' WHERE id = {}", req.id))
            .await;
        assert_invariant(
            &t,
            res,
            "build_id can only be recorded by the build that claimed the step",
        );
        // ...and not against a build other than the recorded one.
        let wrong = ClaimExpect::Build {
            object_url: "object:///a",
            replacing: Some("B9"),
        };
        assert!(claim(&t.store, &req, wrong).await.is_none());
        let fresh = ClaimExpect::Build {
            object_url: "object:///a",
            replacing: None,
        };
        assert!(
            claim(&t.store, &req, fresh).await.is_none(),
            "a second build needs the failed one named"
        );
        let replace = ClaimExpect::Build {
            object_url: "object:///a",
            replacing: Some("B1"),
        };
        let c = claim(&t.store, &req, replace).await.expect("replace claim");
        assert!(t.store.confirm_build(&c, "B2", NOW).await.unwrap());
        assert_eq!(
            t.store
                .get_request(req.id)
                .await
                .unwrap()
                .build_id
                .as_deref(),
            Some("B2")
        );
        // Once the build produced a release, no build replaces it.
        assert!(t.store.set_release_id(req.id, "R1", NOW).await.unwrap());
        let replace = ClaimExpect::Build {
            object_url: "object:///a",
            replacing: Some("B2"),
        };
        assert!(claim(&t.store, &req, replace).await.is_none());
        t.raw_execute(&raw_claim(req.id, "build")).await.unwrap();
        let res = t
            .raw_execute(&format!("{U} build_id = 'B3' WHERE id = {}", req.id))
            .await;
        assert_invariant(&t, res, "build_id is already set");
        let res = t
            .raw_execute(&format!("{U} build_id = NULL WHERE id = {}", req.id))
            .await;
        assert_invariant(&t, res, "build_id cannot be cleared");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn deployed_only_by_the_claimed_promote() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let req = approved(&t.store, &fx, SHA).await;
        record_object(&t.store, &req, "object:///a").await;
        record_build(&t.store, &req, "object:///a", "B1").await;
        assert!(t.store.set_release_id(req.id, "R1", NOW).await.unwrap());
        let res = t
            .raw_execute(&format!("{U} status = 'deployed' WHERE id = {}", req.id))
            .await;
        assert_invariant(
            &t,
            res,
            "status can only become deployed by the promote that claimed the chain",
        );
        assert!(
            claim(&t.store, &req, ClaimExpect::Promote { release: "R2" })
                .await
                .is_none(),
            "only the recorded release may be promoted"
        );
        let c = claim(&t.store, &req, ClaimExpect::Promote { release: "R1" })
            .await
            .expect("promote claim");
        // The sweeper leaves an in-flight promote alone even after the window...
        let after = NOW + Duration::minutes(16);
        let mut tx = t.store.begin().await.unwrap();
        assert!(
            tx.expire_due_requests(after, NOW - Duration::minutes(1))
                .await
                .unwrap()
                .is_empty()
        );
        tx.commit().await.unwrap();
        // ...and the deploy counts because the promote was allowed in time.
        assert!(t.store.confirm_deployed(&c, after).await.unwrap());
        let done = t.store.get_request(req.id).await.unwrap();
        assert_eq!(done.status, ApprovalStatus::Deployed);
        assert_eq!(done.promote_allowed_at, Some(NOW));
        t.cleanup().await;
    }
}
