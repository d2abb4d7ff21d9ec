//! The seed's whole flow: CI requests, an admin approves with MFA, CI deploys exactly that
//! commit once.

use rgw_core::Clock;
use rgw_testkit::approvals::{convox_deploy, manifest_for, sha};
use rgw_testkit::convox::tarball;
use rgw_testkit::{RACK_APP, TestApp, TestOptions};

#[tokio::test]
async fn ci_requests_an_admin_approves_and_exactly_that_commit_deploys_once() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        let commit = sha(0xabc);
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "circleci", "cicd").await;
        let (status, req) = app.request_approval(&token, &commit).await;
        assert_eq!(status, 201, "[{}] {req}", app.backend);
        assert_eq!(req["status"], "pending");
        assert_eq!(req["git_commit_hash"], commit.as_str());
        assert_eq!(req["required_approvals"], 1);
        assert!(
            req["intent_digest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        let id = req["public_id"].as_str().unwrap().to_owned();

        // The same commit again: 409 with the open request, so CI can wait on it.
        let (status, dup) = app.request_approval(&token, &commit).await;
        assert_eq!(status, 409);
        assert_eq!(dup["error"]["code"], "open_request_exists");
        assert_eq!(dup["deploy_approval_request"]["public_id"], id.as_str());

        // Nothing deploys while it is pending, and the refusal says why.
        let convox = app.convox(&token);
        let r = convox
            .post_bytes(
                &format!("/apps/{RACK_APP}/objects/tmp/a.tgz"),
                tarball(&[("convox.yml", &manifest_for(&commit))]),
            )
            .await;
        assert_eq!(r.status(), 403);
        let text = r.text().await.unwrap();
        assert!(
            text.contains("is pending, not approved; an admin must approve it first"),
            "{text}"
        );

        let admin = app.approver("admin@example.com").await;
        let (status, approved) = app.approve(&admin, &id).await;
        assert_eq!(status, 200, "{approved}");
        assert_eq!(approved["status"], "approved");
        assert_eq!(approved["approvals"][0]["user"], "admin@example.com");
        assert_eq!(approved["approvals"][0]["mfa_method"], "totp");

        let release = convox_deploy(&convox, &commit).await;
        let (_, done) = app.get_approval(&token, &id).await;
        assert_eq!(done["status"], "deployed", "{done}");
        assert_eq!(done["release_id"], release.as_str());
        assert!(
            done["object_url"]
                .as_str()
                .unwrap()
                .starts_with("object://myapp/")
        );

        // The trail of the request: created, approved, deployed, each once.
        app.state.auditor.flush().await;
        let events = app
            .get(&format!(
                "/api/v1/audit-events?deploy_approval_request_id={id}&limit=100"
            ))
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        let (status, body) = rgw_testkit::body_json(events).await;
        assert_eq!(status, 200, "{body}");
        let actions: Vec<&str> = body["audit_events"]
            .as_array()
            .expect("events list")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for want in [
            "deploy_approval.create",
            "deploy_approval.approve",
            "deploy_approval.deploy",
        ] {
            assert_eq!(
                actions.iter().filter(|a| **a == want).count(),
                1,
                "{want} in {actions:?}"
            );
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_quorum_of_two_needs_two_distinct_admins() {
    for app in TestApp::spawn_all_fast(TestOptions {
        env: vec![("RGW_SETTING_DEPLOY_APPROVAL_QUORUM".into(), "2".into())],
    })
    .await
    {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, req) = app.request_approval(&token, &sha(2)).await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        let first = app.approver("a1@example.com").await;
        let (status, after_one) = app.approve(&first, &id).await;
        assert_eq!(
            (status, after_one["status"].as_str()),
            (200, Some("pending"))
        );
        let (status, again) = app.approve(&first, &id).await;
        assert_eq!(status, 409, "{again}");
        assert_eq!(again["error"]["code"], "already_approved");
        let second = app.approver("a2@example.com").await;
        let (status, done) = app.approve(&second, &id).await;
        assert_eq!(
            (status, done["status"].as_str()),
            (200, Some("approved")),
            "{done}"
        );
        assert_eq!(done["approvals"].as_array().unwrap().len(), 2);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_build_that_fails_on_the_rack_may_be_retried_under_the_same_approval() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        let commit = sha(3);
        let (token, id) = app.approved_deploy(&commit).await;
        let convox = app.convox(&token);
        // The rack refuses this manifest after accepting the build (unknown top-level key).
        let broken = format!("{}bogus: 1\n", manifest_for(&commit));
        let url = convox
            .upload(RACK_APP, tarball(&[("convox.yml", &broken)]))
            .await;
        let failed = convox
            .create_build(RACK_APP, &url, &[("git-sha", &commit)])
            .await;
        let failed = convox
            .wait_build(RACK_APP, failed["id"].as_str().unwrap())
            .await;
        assert_eq!(failed["status"], "failed", "{failed}");
        // The tarball is fixed only by a new approval (no re-upload after a build), but the
        // same upload may be built again once the rack says the build failed.
        let retry = convox
            .create_build(RACK_APP, &url, &[("git-sha", &commit)])
            .await;
        assert_ne!(retry["id"], failed["id"]);
        let (_, req) = app.get_approval(&token, &id).await;
        assert_eq!(req["build_id"], retry["id"]);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_sweeper_expires_a_pending_request_after_its_ttl_and_an_approval_after_its_window() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, pending) = app.request_approval(&token, &sha(4)).await;
        let (token2, approved) = app.approved_deploy(&sha(5)).await;
        app.clock.advance(time::Duration::minutes(16));
        let expired = rgw_server::approvals::sweeper::sweep_once(&app.state)
            .await
            .unwrap();
        assert_eq!(expired.len(), 1, "only the approval's window has passed");
        let (_, a) = app.get_approval(&token2, approved.as_str()).await;
        assert_eq!(
            (a["status"].as_str(), a["expired_reason"].as_str()),
            (Some("expired"), Some("approval_window"))
        );
        app.clock.advance(time::Duration::hours(24));
        assert_eq!(
            rgw_server::approvals::sweeper::sweep_once(&app.state)
                .await
                .unwrap()
                .len(),
            1
        );
        let (_, p) = app
            .get_approval(&token, pending["public_id"].as_str().unwrap())
            .await;
        assert_eq!(
            (p["status"].as_str(), p["expired_reason"].as_str()),
            (Some("expired"), Some("pending_ttl"))
        );
        assert!(app.clock.now() > time::OffsetDateTime::UNIX_EPOCH);
        app.cleanup().await;
    }
}
