//! Attacks on the jobs admin page: its retry and discard forms used by someone without
//! `gateway:job:manage`, and without their CSRF token. Each test fails if the attack works.

use rgw_testkit::{TestApp, TestOptions};
use serde_json::json;

use super::cookie;

/// A queued job straight in the outbox, for the jobs page to act on.
async fn queued_job(app: &TestApp) -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut tx = app.state.store.begin().await.unwrap();
    let job = tx
        .enqueue_job(
            &rgw_store::NewJob {
                kind: "slack.notify".into(),
                payload: json!({}),
                idempotency_key: None,
                run_at: now,
                max_attempts: 5,
                deploy_approval_request_id: None,
            },
            now,
        )
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    job.public_id.to_string()
}

#[tokio::test]
async fn a_viewer_cannot_retry_or_discard_a_job_from_the_jobs_page() {
    for app in TestApp::spawn_all_with(TestOptions::default()).await {
        let id = queued_job(&app).await;
        for role in ["viewer", "deployer"] {
            let email = format!("{role}@example.com");
            app.create_user(&email, role, None).await;
            let c = cookie(&app, &email, true).await;
            let r = app
                .get("/deploy-approvals")
                .header("cookie", &c)
                .send()
                .await
                .unwrap();
            let html = r.text().await.unwrap();
            assert!(
                !html.contains("href=\"/admin/jobs\""),
                "[{}] {role}: no nav link",
                app.backend
            );
            let csrf = html
                .split("name=\"csrf\" value=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("a csrf token on the page")
                .to_owned();
            let r = app
                .get("/admin/jobs")
                .header("cookie", &c)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{role} opens the jobs page");
            for action in ["retry", "discard"] {
                let r = app
                    .post(&format!("/admin/jobs/{id}/{action}"))
                    .header("cookie", &c)
                    .form(&[("csrf", csrf.as_str())])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 403, "{role} {action}");
            }
        }
        let job = app
            .state
            .store
            .list_jobs(&rgw_store::JobFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(job[0].status.as_str(), "queued", "nothing changed");
    }
}

#[tokio::test]
async fn a_jobs_page_form_without_its_csrf_token_is_refused() {
    for app in TestApp::spawn_all_with(TestOptions::default()).await {
        let id = queued_job(&app).await;
        app.create_user("admin@example.com", "admin", None).await;
        let c = cookie(&app, "admin@example.com", true).await;
        for form in [vec![], vec![("csrf", "forged")]] {
            let r = app
                .post(&format!("/admin/jobs/{id}/discard"))
                .header("cookie", &c)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_client_error(), "{}", r.status());
        }
        let job = app
            .state
            .store
            .list_jobs(&rgw_store::JobFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(job[0].status.as_str(), "queued", "nothing changed");
    }
}
