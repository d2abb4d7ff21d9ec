//! Jobs for admins (API and `rack-gateway-server jobs`), every transition's job, and the worker
//! loop waking on enqueue instead of polling.

use std::process::Output;
use std::time::{Duration, Instant};

use rgw_server::auth::Channel;
use rgw_store::JobStatus;
use rgw_testkit::approvals::sha;
use rgw_testkit::mocks::FaultKind;
use rgw_testkit::{TEST_SECRET_KEY, TestApp, TestOptions, body_json, error_code};
use serde_json::json;

use crate::support::*;

async fn cli(app: &TestApp, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rack-gateway-server"))
        .args(args)
        .env_clear()
        .env("RGW_DATABASE_URL", &app.database_url)
        .env("RGW_SECRET_KEY", TEST_SECRET_KEY)
        .env("RGW_LOG", "warn")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn admins_list_retry_and_discard_jobs_over_the_api_and_the_command_line() {
    let mocks = Mocks::start().await;
    let slack = mocks.hooks.slack_url();
    let env = [("RGW_SETTING_DEFAULT_SLACK_WEBHOOK_URL", slack.as_str())];
    for app in TestApp::spawn_all_with(mocks.env(&env)).await {
        let admin = app.approver("admin@example.com").await;
        app.create_user("viewer@example.com", "viewer", None).await;
        let viewer = app.session_for("viewer@example.com", Channel::Cli).await;
        mocks.hooks.journal.fault(
            "POST /services/",
            1,
            FaultKind::Status(410, "channel_is_archived".into()),
        );
        let token = ci_token(&app, "ci").await;
        request_ok(&app, &token, &sha(0x800), "main", json!({})).await;
        drain(&app).await;
        let failed = jobs_of(&app, "slack.notify").await.pop().unwrap();
        assert_eq!(failed.status, JobStatus::Failed, "[{}]", app.backend);

        for cred in [&viewer, &token] {
            let resp = app
                .get("/api/v1/jobs")
                .bearer_auth(cred)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403);
        }
        let resp = app
            .get("/api/v1/jobs?status=failed")
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        let (status, list) = body_json(resp).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
        assert_eq!(list["jobs"][0]["kind"], "slack.notify");
        assert_eq!(list["jobs"][0]["event"], "created");
        let resp = app
            .get("/api/v1/jobs?status=nope")
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(&body_json(resp).await.1), "invalid_status");
        let resp = app
            .get("/api/v1/jobs?limit=1")
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        let (_, page) = body_json(resp).await;
        let cursor = page["next_cursor"].as_str().expect("more pages").to_owned();
        let resp = app
            .get(&format!("/api/v1/jobs?limit=1&cursor={cursor}"))
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        let (_, page2) = body_json(resp).await;
        assert_ne!(page["jobs"][0]["public_id"], page2["jobs"][0]["public_id"]);

        let id = failed.public_id;
        let resp = app
            .post(&format!("/api/v1/jobs/{id}/retry"))
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        let (status, body) = body_json(resp).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("queued")),
            "{body}"
        );
        let resp = app
            .post(&format!("/api/v1/jobs/{id}/retry"))
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(&body_json(resp).await.1), "invalid_job_state");
        let resp = app
            .post(&format!("/api/v1/jobs/{id}/discard"))
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        assert_eq!(body_json(resp).await.1["status"], "discarded");
        let resp = app
            .post(&format!("/api/v1/jobs/{}/retry", uuid::Uuid::new_v4()))
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);

        // The operator command sees and changes the same rows.
        let out = cli(&app, &["jobs", "list", "--status", "discarded"]).await;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && text.contains(&id.to_string()) && text.contains("slack.notify"),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cli(&app, &["jobs", "retry", &id.to_string()]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cli(&app, &["jobs", "retry", &id.to_string()]).await;
        assert!(!out.status.success(), "a queued job cannot be retried");
        // The command ran on the real clock, which is ahead of the test's.
        app.clock.advance(time::Duration::minutes(5));
        let ran = drain(&app).await;
        assert!(
            ran.iter()
                .any(|r| r.job == id && r.status == JobStatus::Succeeded),
            "{ran:?}"
        );
        let out = cli(&app, &["jobs", "show", &id.to_string()]).await;
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"succeeded\""));
        let out = cli(&app, &["jobs", "discard", &id.to_string()]).await;
        assert!(!out.status.success(), "a succeeded job cannot be discarded");
        let actions = actions(
            &app,
            &admin.session,
            failed.payload.0["request_id"].as_str().unwrap(),
        )
        .await;
        assert!(
            actions.iter().filter(|a| *a == "job.retry").count() >= 2,
            "{actions:?}"
        );
        assert!(actions.contains(&"job.discard".to_owned()));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn every_transition_enqueues_its_job_including_expiry_by_the_sweeper_and_supersession() {
    for app in TestApp::spawn_all().await {
        let token = ci_token(&app, "ci").await;
        let (_, a) = app.request_approval(&token, &sha(0x900)).await;
        let (_, b) = app.request_approval(&token, &sha(0x901)).await;
        let (_, c) = app.request_approval(&token, &sha(0x902)).await;
        let admin = app.approver("admin@example.com").await;
        let id = |v: &serde_json::Value| v["public_id"].as_str().unwrap().to_owned();
        assert_eq!(app.approve(&admin, &id(&a)).await.0, 200);
        assert_eq!(app.approve(&admin, &id(&b)).await.0, 200);
        app.clock.advance(time::Duration::days(2));
        rgw_server::approvals::sweeper::sweep_once(&app.state)
            .await
            .unwrap();
        let mut seen: Vec<(String, String)> = jobs_of(&app, "deploy_approval.transition")
            .await
            .iter()
            .map(|j| {
                (
                    j.payload.0["request_id"].as_str().unwrap().to_owned(),
                    j.payload.0["event"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        seen.sort();
        let mut want = vec![
            (id(&a), "created".to_owned()),
            (id(&a), "approved".to_owned()),
            (id(&a), "expired".to_owned()), // superseded by b
            (id(&b), "created".to_owned()),
            (id(&b), "approved".to_owned()),
            (id(&b), "expired".to_owned()), // window passed
            (id(&c), "created".to_owned()),
            (id(&c), "expired".to_owned()), // pending TTL passed
        ];
        want.sort();
        assert_eq!(seen, want, "[{}]", app.backend);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_worker_wakes_on_enqueue_instead_of_polling() {
    let mocks = Mocks::start().await;
    let hook = mocks.hooks.hook_url("wake");
    // Polling once an hour: only the in-process wake-up can run the job quickly.
    let mut opts: TestOptions = mocks.env(&[("RGW_SETTING_DEFAULT_WEBHOOK_URLS", hook.as_str())]);
    opts.env.retain(|(k, _)| k != "RGW_JOBS_WORKER");
    opts.env.push(("RGW_JOBS_POLL_SECS".into(), "3600".into()));
    for app in TestApp::spawn_all_with(opts.clone()).await {
        let before = mocks.hooks.deliveries("wake").len();
        let token = ci_token(&app, "ci").await;
        // Let the worker go idle first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        request_ok(&app, &token, &sha(0xa00), "main", json!({})).await;
        while mocks.hooks.deliveries("wake").len() == before {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "[{}] the worker did not wake",
                app.backend
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = started.elapsed();
        eprintln!(
            "[{}] request created → webhook delivered in {took:?}",
            app.backend
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
        app.cleanup().await;
    }
}
