//! The request API: validation, visibility, listing and cursors, settings-driven refusals.

use rgw_testkit::approvals::sha;
use rgw_testkit::{RACK_APP, TestApp, TestOptions, body_json};
use serde_json::{Value, json};

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let resp = app
        .post("/api/v1/deploy-approval-requests")
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    body_json(resp).await
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_code_that_names_the_field() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let good = json!({"app": RACK_APP, "git_commit_hash": sha(1), "message": "Deploy"});
        let cases = [
            (
                json!({"app": RACK_APP, "git_commit_hash": "abc123f", "message": "Deploy"}),
                400,
                "invalid_body",
            ),
            (
                json!({"app": RACK_APP, "git_commit_hash": sha(1), "message": "  "}),
                422,
                "message_required",
            ),
            (
                json!({"app": RACK_APP, "git_commit_hash": sha(1), "message": "x", "ci_metadata": "42"}),
                422,
                "invalid_ci_metadata",
            ),
            (
                json!({"app": RACK_APP, "git_commit_hash": sha(1), "message": "x", "ci_metadata": {"big": "y".repeat(17 * 1024)}}),
                422,
                "invalid_ci_metadata",
            ),
            (
                json!({"app": "nosuchapp", "git_commit_hash": sha(1), "message": "x"}),
                422,
                "app_not_found",
            ),
            (
                json!({"app": RACK_APP, "git_commit_hash": sha(1), "message": "x", "target_api_token_id": "00000000-0000-0000-0000-000000000000"}),
                422,
                "unknown_target_api_token",
            ),
        ];
        for (body, status, code) in cases {
            let (got, answer) = create(&app, &token, body.clone()).await;
            assert_eq!(
                (got, answer["error"]["code"].as_str()),
                (status, Some(code)),
                "{body} → {answer}"
            );
        }
        // A viewer token may not request approvals at all.
        app.create_user("viewer@example.com", "viewer", None).await;
        let viewer = app
            .create_token("viewer@example.com", "viewer-tok", "viewer")
            .await;
        let (status, _) = create(&app, &viewer, good.clone()).await;
        assert_eq!(status, 403);
        let (status, _) = create(&app, &token, good).await;
        assert_eq!(status, 201);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_rack_that_cannot_be_reached_refuses_the_request_instead_of_guessing() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        app.rack.stop();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (status, body) = app.request_approval(&token, &sha(9)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("rack_unavailable")),
            "{body}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn tokens_see_only_their_own_requests_and_lists_page_by_cursor() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        app.create_service_user("ci@example.com").await;
        let a = app.create_token("ci@example.com", "ci-a", "cicd").await;
        let b = app.create_token("ci@example.com", "ci-b", "cicd").await;
        for n in 0..3 {
            assert_eq!(app.request_approval(&a, &sha(10 + n)).await.0, 201);
        }
        let (_, of_b) = app.request_approval(&b, &sha(20)).await;
        let list = |cred: String, q: &'static str| {
            let app = &app;
            async move {
                let r = app
                    .get(&format!("/api/v1/deploy-approval-requests{q}"))
                    .bearer_auth(cred)
                    .send()
                    .await
                    .unwrap();
                body_json(r).await
            }
        };
        let (_, page) = list(a.clone(), "?limit=2").await;
        assert_eq!(
            page["deploy_approval_requests"].as_array().unwrap().len(),
            2
        );
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        let r = app
            .get(&format!(
                "/api/v1/deploy-approval-requests?limit=2&cursor={cursor}"
            ))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap();
        let (_, rest) = body_json(r).await;
        assert_eq!(
            rest["deploy_approval_requests"].as_array().unwrap().len(),
            1
        );
        assert!(rest["next_cursor"].is_null());
        // Token A cannot read B's request: it does not exist as far as A knows.
        let id_b = of_b["public_id"].as_str().unwrap();
        assert_eq!(app.get_approval(&a, id_b).await.0, 404);
        // An admin sees all four, filtered by status.
        let admin = app.approver("admin@example.com").await;
        let (_, all) = list(admin.session.clone(), "?status=pending").await;
        assert_eq!(all["deploy_approval_requests"].as_array().unwrap().len(), 4);
        let (status, bad) = list(admin.session.clone(), "?status=approvedd").await;
        assert_eq!(
            (status, bad["error"]["code"].as_str()),
            (400, Some("invalid_status"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn with_approvals_disabled_the_request_api_says_so_and_cicd_deploys_directly() {
    for app in TestApp::spawn_all_fast(TestOptions {
        env: vec![(
            "RGW_SETTING_DEPLOY_APPROVALS_ENABLED".into(),
            "false".into(),
        )],
    })
    .await
    {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let (status, body) = app.request_approval(&token, &sha(30)).await;
        assert_eq!(status, 409);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("deploy approvals are disabled"),
            "{body}"
        );
        rgw_testkit::approvals::convox_deploy(&app.convox(&token), &sha(30)).await;
        app.cleanup().await;
    }
}
