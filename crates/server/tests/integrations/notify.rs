//! Slack and signed webhooks on each transition, with what an approver needs and a link to the
//! approval page; retries keep the delivery id; Slack's permanent errors stop.

use rgw_core::Clock;
use rgw_server::integrations::webhook::verify;
use rgw_store::JobStatus;
use rgw_testkit::TestApp;
use rgw_testkit::approvals::{convox_deploy, sha};
use rgw_testkit::mocks::FaultKind;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn slack_and_signed_webhooks_follow_a_request_from_creation_to_deploy() {
    let mocks = Mocks::start().await;
    let slack = mocks.hooks.slack_url();
    let hook = mocks.hooks.hook_url("audit");
    let env = [
        ("RGW_SETTING_DEFAULT_SLACK_WEBHOOK_URL", slack.as_str()),
        ("RGW_APP_MYAPP_SETTING_WEBHOOK_URLS", hook.as_str()),
    ];
    for app in TestApp::spawn_all_fast(mocks.env(&env)).await {
        let before_slack = mocks.hooks.slack_messages().len();
        let before_hooks = mocks.hooks.deliveries("audit").len();
        let commit = sha(0x600 + app.backend.to_string().len() as u64);
        let token = ci_token(&app, "ci").await;
        let id = request_ok(
            &app,
            &token,
            &commit,
            "main",
            json!({"workflow_id": "w", "build_url": "https://ci.example.com/b/9"}),
        )
        .await;
        drain(&app).await;
        let admin = app.approver("admin@example.com").await;
        assert_eq!(app.approve(&admin, &id).await.0, 200);
        drain(&app).await;
        convox_deploy(&app.convox(&token), &commit).await;
        drain(&app).await;

        let messages = &mocks.hooks.slack_messages()[before_slack..];
        assert_eq!(
            messages.len(),
            3,
            "[{}] created, approved, deployed",
            app.backend
        );
        let texts: Vec<String> = messages.iter().map(|m| m.json().to_string()).collect();
        for (text, what) in
            texts
                .iter()
                .zip(["Deploy approval needed", "Deploy approved", "Deployed"])
        {
            assert!(text.contains(what), "{what}: {text}");
            assert!(text.contains(&format!("/deploy-approvals/{id}")), "{text}");
            assert!(
                text.contains("myapp") && text.contains(&commit[..7]),
                "{text}"
            );
        }
        assert!(
            texts[0].contains("API token ci")
                && texts[0].contains("Expires")
                && texts[0].contains("https://ci.example.com/b/9"),
            "{}",
            texts[0]
        );
        assert!(texts[1].contains("admin@example.com"), "{}", texts[1]);

        let deliveries = &mocks.hooks.deliveries("audit")[before_hooks..];
        let events: Vec<String> = deliveries
            .iter()
            .map(|d| d.header("x-rgw-event").unwrap())
            .collect();
        assert_eq!(
            events,
            [
                "deploy_approval.created",
                "deploy_approval.approved",
                "deploy_approval.deployed"
            ]
        );
        let now = app.clock.now().unix_timestamp();
        for d in deliveries {
            let ts = d.header("x-rgw-timestamp").unwrap();
            let sig = d.header("x-rgw-signature").unwrap();
            assert!(
                verify(WEBHOOK_SECRET.as_bytes(), &ts, &d.body, &sig, now),
                "signed: {sig}"
            );
            let body = d.json();
            assert_eq!(body["deploy_approval_request"]["public_id"], id.as_str());
            assert_eq!(
                body["delivery_id"].as_str(),
                d.header("x-rgw-delivery").as_deref()
            );
        }
        assert_eq!(
            deliveries[2].json()["deploy_approval_request"]["status"],
            "deployed"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_delivery_id_and_slack_refusals_are_permanent() {
    let mocks = Mocks::start().await;
    let slack = mocks.hooks.slack_url();
    let env = [
        ("RGW_APP_MYAPP_SETTING_SLACK_WEBHOOK_URL", slack.as_str()),
        (
            "RGW_SETTING_DEFAULT_WEBHOOK_URLS",
            "http://127.0.0.1:9/never",
        ),
    ];
    let mut env = env.to_vec();
    let hook = mocks.hooks.hook_url("retry");
    env[1].1 = hook.as_str();
    for app in TestApp::spawn_all_with(mocks.env(&env)).await {
        let before = mocks.hooks.deliveries("retry").len();
        mocks.hooks.journal.fault(
            "POST /hooks/retry",
            1,
            FaultKind::Status(503, "busy".into()),
        );
        mocks.hooks.journal.fault(
            "POST /services/",
            1,
            FaultKind::Status(404, "no_service".into()),
        );
        let token = ci_token(&app, "ci").await;
        request_ok(&app, &token, &sha(0x700), "main", json!({})).await;
        drain(&app).await;
        let slack_job = jobs_of(&app, "slack.notify").await.pop().unwrap();
        assert_eq!(
            slack_job.status,
            JobStatus::Failed,
            "[{}] {:?}",
            app.backend,
            slack_job.last_error
        );
        assert!(
            slack_job
                .last_error
                .as_deref()
                .unwrap()
                .contains("HTTP 404 no_service")
        );
        assert!(
            !slack_job
                .last_error
                .as_deref()
                .unwrap()
                .contains("secretpath"),
            "the URL is a credential"
        );
        let hook_job = jobs_of(&app, "webhook.deliver").await.pop().unwrap();
        assert_eq!(hook_job.status, JobStatus::Queued);
        app.clock.advance(time::Duration::seconds(10));
        drain(&app).await;
        let deliveries = &mocks.hooks.deliveries("retry")[before..];
        assert_eq!(deliveries.len(), 2);
        assert_eq!(
            deliveries[0].header("x-rgw-delivery"),
            deliveries[1].header("x-rgw-delivery")
        );
        assert_eq!(
            deliveries[0].header("x-rgw-delivery"),
            Some(hook_job.public_id.to_string())
        );
        assert_eq!(
            jobs_of(&app, "webhook.deliver").await.pop().unwrap().status,
            JobStatus::Succeeded
        );
        app.cleanup().await;
    }
}
