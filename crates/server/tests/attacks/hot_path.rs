//! Attacks on the hot path's caches (issue 14): credentials, settings and the gate's read-only
//! approval lookup are served from memory, so each test first makes sure the thing is cached
//! (a successful call a moment before), then takes it away and proves the very next call is
//! refused — on the gateway that made the change at once, and on another gateway within the
//! stated bound.

use rgw_server::auth::Channel;
use rgw_testkit::approvals::{manifest_for, sha};
use rgw_testkit::convox::tarball;
use rgw_testkit::wait::{CHANGE_BOUND, within};
use rgw_testkit::{RACK_APP, TestApp, body_json};
use serde_json::json;

async fn whoami(app: &TestApp, credential: &str) -> u16 {
    app.get("/api/v1/auth/whoami")
        .bearer_auth(credential)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A `cicd` token created through the API by a new admin: `(admin session, token, token id)`.
async fn api_token(app: &TestApp) -> (String, String, String) {
    app.create_user("admin@example.com", "admin", None).await;
    let admin = app.session_for("admin@example.com", Channel::Cli).await;
    let (status, created) = body_json(
        app.post("/api/v1/api-tokens")
            .bearer_auth(&admin)
            .json(&json!({"name": "ci", "role": "cicd"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["api_token"]["public_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (admin, token, id)
}

#[tokio::test]
async fn a_token_revoked_a_moment_after_it_was_cached_is_refused_on_the_very_next_call() {
    for app in TestApp::spawn_all().await {
        let (admin, token, id) = api_token(&app).await;
        for _ in 0..3 {
            assert_eq!(whoami(&app, &token).await, 200);
        }
        let r = app
            .delete(&format!("/api/v1/api-tokens/{id}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(whoami(&app, &token).await, 401);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_logged_out_session_cannot_be_replayed_from_the_cache() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "viewer", None).await;
        let session = app.session_for("dev@example.com", Channel::Cli).await;
        assert_eq!(whoami(&app, &session).await, 200);
        let r = app
            .post("/api/v1/auth/logout")
            .bearer_auth(&session)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        assert_eq!(whoami(&app, &session).await, 401);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_suspended_owner_cannot_keep_using_a_cached_token_on_any_gateway() {
    for a in TestApp::spawn_all().await {
        let b = a.spawn_replica().await;
        a.create_user("admin@example.com", "admin", None).await;
        let admin = a.session_with_mfa("admin@example.com", Channel::Cli).await;
        let owner = a.create_service_user("ci@example.com").await;
        let token = a.create_token("ci@example.com", "ci", "cicd").await;
        assert_eq!(whoami(&a, &token).await, 200);
        assert_eq!(whoami(&b, &token).await, 200);
        let r = a
            .post(&format!("/api/v1/users/{}/suspend", owner.public_id))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        assert_eq!(whoami(&a, &token).await, 401, "the gateway that suspended");
        within(
            CHANGE_BOUND,
            "the other gateway refuses the token",
            || async { whoami(&b, &token).await == 401 },
        )
        .await;
        b.cleanup().await;
        a.cleanup().await;
    }
}

#[tokio::test]
async fn a_revoked_approval_stops_reads_of_its_build_on_the_very_next_call() {
    for app in TestApp::spawn_all().await {
        let commit = sha(41);
        let (token, id) = app.approved_deploy(&commit).await;
        let cx = app.convox(&token);
        let url = cx
            .upload(RACK_APP, tarball(&[("convox.yml", &manifest_for(&commit))]))
            .await;
        let build = cx
            .create_build(RACK_APP, &url, &[("git-sha", &commit)])
            .await;
        let path = format!("/apps/{RACK_APP}/builds/{}", build["id"].as_str().unwrap());
        for _ in 0..3 {
            assert_eq!(
                cx.get(&path).await.status(),
                200,
                "the approved build reads"
            );
        }
        let admin = app.approver("revoker@example.com").await;
        let (status, body) = body_json(
            app.post(&format!("/api/v1/deploy-approval-requests/{id}/reject"))
                .bearer_auth(&admin.session)
                .json(&json!({"notes": "wrong commit"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, body["status"].as_str()), (200, Some("rejected")));
        let r = cx.get(&path).await;
        assert_eq!(r.status(), 403, "{}", r.text().await.unwrap_or_default());
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_deployer_cannot_deploy_after_an_admin_forbids_human_deploys_for_the_app() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "deployer", None).await;
        app.create_user("boss@example.com", "admin", None).await;
        let dev = app.session_with_mfa("dev@example.com", Channel::Cli).await;
        let cx = app.convox(&dev);
        let upload = || async {
            cx.post_bytes(
                &format!("/apps/{RACK_APP}/objects/tmp/a.tgz"),
                tarball(&[("convox.yml", &manifest_for(&sha(2)))]),
            )
            .await
            .status()
            .as_u16()
        };
        assert_eq!(upload().await, 200, "allowed (and the settings cached)");
        let boss = app.session_with_mfa("boss@example.com", Channel::Cli).await;
        let (status, body) = body_json(
            app.client()
                .put(app.at("/api/v1/settings/human_deploys_allowed"))
                .bearer_auth(&boss)
                .json(&json!({"value": false, "app": RACK_APP}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(upload().await, 403);
        app.cleanup().await;
    }
}
