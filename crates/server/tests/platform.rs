//! Cross-cutting behaviour of the assembled gateway: the audit API over real traffic, and MFA
//! policy applied by the real router to the API and the rack proxy.

use rgw_server::auth::Channel;
use rgw_testkit::convox::Convox;
use rgw_testkit::{TestApp, TestOptions, body_json, error_code};

fn mfa_required() -> TestOptions {
    TestOptions {
        env: vec![("RGW_SETTING_MFA_REQUIRE_ALL_USERS".into(), "true".into())],
    }
}

#[tokio::test]
async fn admins_page_and_filter_the_audit_log_and_others_are_refused() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", None).await;
        app.create_user("viewer@example.com", "viewer", None).await;
        let admin = app.session_for("admin@example.com", Channel::Cli).await;
        let viewer = app.session_for("viewer@example.com", Channel::Cli).await;
        // Real traffic that produces events: three denied proxy calls by the viewer.
        let cx = Convox::new(app.at("/api/v1/rack-proxy"), viewer.clone());
        for _ in 0..3 {
            assert_eq!(cx.delete("/apps/myapp").await.status(), 403);
        }
        app.state.auditor.flush().await;

        let (status, body) = body_json(
            app.get("/api/v1/audit-events?action=rack.request&outcome=denied&limit=2")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let first = body["audit_events"].as_array().unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0]["actor_email"], "viewer@example.com");
        assert_eq!(first[0]["http_status"], 403);
        let cursor = body["next_cursor"].as_str().unwrap().to_string();
        let (_, page2) = body_json(
            app.get(&format!(
                "/api/v1/audit-events?action=rack.request&outcome=denied&limit=2&cursor={cursor}"
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        )
        .await;
        let second = page2["audit_events"].as_array().unwrap();
        assert_eq!(second.len(), 1, "{page2}");
        assert!(page2["next_cursor"].is_null());
        assert!(second[0]["seq"].as_i64() < first[1]["seq"].as_i64());

        let (status, body) = body_json(
            app.get("/api/v1/audit-events")
                .bearer_auth(&viewer)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(error_code(&body), "permission_denied");

        let (status, body) = body_json(
            app.get("/api/v1/audit-events?since=yesterday")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (400, "invalid_time"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_audit_export_streams_json_lines_and_csv() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", None).await;
        let admin = app.session_for("admin@example.com", Channel::Cli).await;
        let cx = Convox::new(app.at("/api/v1/rack-proxy"), admin.clone());
        for _ in 0..5 {
            assert_eq!(cx.get("/apps").await.status(), 200);
        }
        app.state.auditor.flush().await;
        let resp = app
            .get("/api/v1/audit-events/export?format=jsonl&action=rack.request")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
        let text = resp.text().await.unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert!(
            lines
                .windows(2)
                .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()),
            "oldest first"
        );

        let csv = app
            .get("/api/v1/audit-events/export?format=csv&action=rack.request")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(csv.starts_with("seq,event_id,occurred_at"));
        assert_eq!(csv.lines().count(), 6);
        let (status, _) = body_json(
            app.get("/api/v1/audit-events/export?format=xml")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn by_default_a_session_without_mfa_can_only_enrol_on_the_api_and_the_rack_proxy() {
    for app in TestApp::spawn_all_with(mfa_required()).await {
        app.create_user("dev@example.com", "deployer", None).await;
        let session = app.session_for("dev@example.com", Channel::Cli).await;
        let (status, body) = body_json(
            app.get("/api/v1/api-tokens")
                .bearer_auth(&session)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "mfa_enrollment_required")
        );
        let (status, _) = body_json(
            app.get("/api/v1/auth/whoami")
                .bearer_auth(&session)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "who-am-I stays open");
        let (status, _) = body_json(
            app.get("/api/v1/mfa/status")
                .bearer_auth(&session)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "enrolment stays open");
        let through_proxy = Convox::new(app.at("/api/v1/rack-proxy"), session.clone())
            .get("/apps")
            .await;
        assert_eq!(through_proxy.status(), 403);
        let text = through_proxy.text().await.unwrap();
        assert!(
            !text.starts_with('{') && text.to_lowercase().contains("enrol"),
            "rack-style text: {text}"
        );
        // API tokens carry no second factor and are not held at enrolment.
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "viewer").await;
        assert_eq!(
            Convox::new(app.at("/api/v1/rack-proxy"), token)
                .get("/apps")
                .await
                .status(),
            200
        );
        app.cleanup().await;
    }
}
