//! Attacks through the integrations (issue 12): request fields that try to move GitHub or
//! CircleCI API paths, messages that try to ping or forge links in Slack and GitHub, secrets
//! leaking into jobs, forged or replayed webhooks, and CI tokens reaching the jobs admin.

use rgw_server::integrations::webhook::{sign, verify};
use rgw_server::jobs::worker::run_once;
use rgw_store::JobFilter;
use rgw_testkit::approvals::sha;
use rgw_testkit::mocks::FaultKind;
use rgw_testkit::mocks::github::MockGitHub;
use rgw_testkit::mocks::hooks::MockHooks;
use rgw_testkit::{RACK_APP, TestApp, TestOptions, body_json, error_code};
use serde_json::{Value, json};

const GITHUB_TOKEN: &str = "ghp_attack_suite_token_42";
const CIRCLE_TOKEN: &str = "circle_attack_suite_token_42";
const WEBHOOK_SECRET: &str = "attack-suite-webhook-secret";

fn options(github: &MockGitHub, hooks: &MockHooks, extra: &[(&str, &str)]) -> TestOptions {
    let mut env: Vec<(String, String)> = vec![
        ("RGW_GITHUB_API_URL".into(), github.api_url.clone()),
        ("RGW_GITHUB_TOKEN".into(), GITHUB_TOKEN.into()),
        (
            "RGW_CIRCLECI_API_URL".into(),
            format!("{}/circle", hooks.url),
        ),
        ("RGW_CIRCLECI_TOKEN".into(), CIRCLE_TOKEN.into()),
        ("RGW_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into()),
        ("RGW_JOBS_WORKER".into(), "false".into()),
        ("RGW_INTEGRATION_TIMEOUT_SECS".into(), "2".into()),
        (
            "RGW_SETTING_DEFAULT_SLACK_WEBHOOK_URL".into(),
            hooks.slack_url(),
        ),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    TestOptions { env }
}

async fn token(app: &TestApp) -> String {
    app.create_service_user("ci@example.com").await;
    app.create_token("ci@example.com", "ci", "cicd").await
}

async fn create(
    app: &TestApp,
    token: &str,
    commit: &str,
    branch: &str,
    meta: Value,
    message: &str,
) -> (u16, Value) {
    let resp = app
        .post("/api/v1/deploy-approval-requests")
        .bearer_auth(token)
        .json(&json!({"app": RACK_APP, "git_commit_hash": commit, "git_branch": branch, "ci_metadata": meta, "message": message}))
        .send()
        .await
        .unwrap();
    body_json(resp).await
}

async fn drain(app: &TestApp) {
    while run_once(&app.state).await.unwrap().is_some() {}
}

#[tokio::test]
async fn a_branch_name_cannot_walk_the_github_api_path() {
    let (github, hooks) = (
        MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await,
        MockHooks::start().await,
    );
    github.set_branch("main", &[&sha(1)]);
    let env = [
        ("RGW_APP_MYAPP_SETTING_VCS_PROVIDER", "github"),
        ("RGW_APP_MYAPP_SETTING_VCS_REPO", "acme/myapp"),
    ];
    for app in TestApp::spawn_all_with(options(&github, &hooks, &env)).await {
        let t = token(&app).await;
        for branch in [
            "../../../../user/repos",
            "x/../../other/repo",
            "a\\..\\b",
            "feat?ref=main",
            "feat#x",
            "%2e%2e/%2e%2e",
        ] {
            let (status, body) = create(&app, &t, &sha(2), branch, json!({}), "Deploy").await;
            assert_eq!(
                (status, error_code(&body)),
                (422, "invalid_git_branch"),
                "[{}] {branch}: {body}",
                app.backend
            );
        }
        let strays: Vec<_> = github
            .journal
            .requests()
            .into_iter()
            .filter(|r| !r.path.starts_with("/api/v3/repos/acme/myapp"))
            .collect();
        assert!(
            strays.is_empty(),
            "requests left the repository: {strays:?}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_forged_workflow_id_cannot_reach_another_circleci_path() {
    let (github, hooks) = (
        MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await,
        MockHooks::start().await,
    );
    let env = [
        ("RGW_APP_MYAPP_SETTING_CI_PROVIDER", "circleci"),
        (
            "RGW_APP_MYAPP_SETTING_CIRCLECI_AUTO_APPROVE_ON_APPROVAL",
            "true",
        ),
        ("RGW_APP_MYAPP_SETTING_CIRCLECI_APPROVAL_JOB_NAME", "hold"),
    ];
    for app in TestApp::spawn_all_with(options(&github, &hooks, &env)).await {
        let t = token(&app).await;
        for wf in [
            "../me",
            "abc/../../project/gh/acme/x/envvar",
            "00000000-0000-0000-0000-000000000000/../../me",
        ] {
            let (status, body) = create(
                &app,
                &t,
                &sha(3),
                "main",
                json!({"workflow_id": wf}),
                "Deploy",
            )
            .await;
            assert_eq!(
                (status, error_code(&body)),
                (422, "invalid_ci_metadata"),
                "[{}] {wf}: {body}",
                app.backend
            );
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_requester_message_cannot_ping_a_slack_channel_or_forge_a_link() {
    let (github, hooks) = (
        MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await,
        MockHooks::start().await,
    );
    for app in TestApp::spawn_all_with(options(&github, &hooks, &[])).await {
        let before = hooks.slack_messages().len();
        let t = token(&app).await;
        let evil = "<!channel> urgent: <https://evil.example/approve|Approve here> & <@U123>";
        let (status, body) = create(&app, &t, &sha(4), "main", json!({}), evil).await;
        assert_eq!(status, 201, "{body}");
        drain(&app).await;
        let msg = hooks.slack_messages()[before].json().to_string();
        for raw in ["<!channel>", "<https://evil.example", "<@U123>"] {
            assert!(
                !msg.contains(raw),
                "[{}] {raw} reached Slack unescaped: {msg}",
                app.backend
            );
        }
        assert!(msg.contains("&lt;!channel&gt;"), "{msg}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_requester_message_cannot_mention_people_or_inject_html_in_the_pr_comment() {
    let (github, hooks) = (
        MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await,
        MockHooks::start().await,
    );
    github.set_branch("main", &[&sha(5)]);
    github.set_branch("feat", &[&sha(6)]);
    github.open_pr(7, "feat");
    let env = [
        ("RGW_APP_MYAPP_SETTING_VCS_PROVIDER", "github"),
        ("RGW_APP_MYAPP_SETTING_VCS_REPO", "acme/myapp"),
    ];
    for (n, app) in TestApp::spawn_all_with(options(&github, &hooks, &env))
        .await
        .into_iter()
        .enumerate()
    {
        let t = token(&app).await;
        let before = github.comments(7).len();
        let (status, body) = create(
            &app,
            &t,
            &sha(6),
            "feat",
            json!({}),
            "ping @acme/admins <img src=x onerror=alert(1)> -->",
        )
        .await;
        assert_eq!(status, 201, "{body}");
        drain(&app).await;
        let comments = github.comments(7);
        assert_eq!(comments.len(), before + 1, "[{n}]");
        let text = &comments.last().unwrap().1;
        assert!(
            !text.contains("@acme/admins") && text.contains("@\u{200d}acme/admins"),
            "{text}"
        );
        assert!(!text.contains("<img") && text.contains("&lt;img"), "{text}");
        assert_eq!(
            text.matches("-->").count(),
            1,
            "only the gateway's own marker closes a comment: {text}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn no_credential_ever_lands_in_a_job_its_error_or_the_jobs_api() {
    let (github, hooks) = (
        MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await,
        MockHooks::start().await,
    );
    let env = [
        ("RGW_APP_MYAPP_SETTING_CI_PROVIDER", "circleci"),
        (
            "RGW_APP_MYAPP_SETTING_CIRCLECI_AUTO_APPROVE_ON_APPROVAL",
            "true",
        ),
        ("RGW_APP_MYAPP_SETTING_CIRCLECI_APPROVAL_JOB_NAME", "hold"),
    ];
    for app in TestApp::spawn_all_with(options(&github, &hooks, &env)).await {
        hooks.journal.fault(
            "POST /services/",
            10,
            FaultKind::Status(403, "invalid_token".into()),
        );
        let t = token(&app).await;
        let admin = app.approver("admin@example.com").await;
        let wf = uuid::Uuid::new_v4().to_string();
        let (_, req) = create(
            &app,
            &t,
            &sha(8),
            "main",
            json!({"workflow_id": wf}),
            "Deploy",
        )
        .await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        assert_eq!(app.approve(&admin, &id).await.0, 200);
        drain(&app).await;
        let jobs = app
            .store()
            .list_jobs(&JobFilter {
                limit: 100,
                ..JobFilter::default()
            })
            .await
            .unwrap();
        assert!(
            jobs.iter().any(|j| j.kind == "circleci.approve")
                && jobs.iter().any(|j| j.kind == "slack.notify")
        );
        let resp = app
            .get("/api/v1/jobs?limit=100")
            .bearer_auth(&admin.session)
            .send()
            .await
            .unwrap();
        let api = resp.text().await.unwrap();
        let stored = format!("{jobs:?}");
        for secret in [
            GITHUB_TOKEN,
            CIRCLE_TOKEN,
            WEBHOOK_SECRET,
            "secretpathXYZ",
            &t,
        ] {
            assert!(
                !stored.contains(secret),
                "[{}] {secret} stored in a job",
                app.backend
            );
            assert!(!api.contains(secret), "{secret} shown by the jobs API");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_ci_token_cannot_reach_the_jobs_admin_or_another_requests_jobs() {
    let (github, hooks) = (
        MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await,
        MockHooks::start().await,
    );
    for app in TestApp::spawn_all_with(options(&github, &hooks, &[])).await {
        let t = token(&app).await;
        let other = app.create_token("ci@example.com", "other-ci", "cicd").await;
        let (_, req) = create(&app, &t, &sha(9), "main", json!({}), "Deploy").await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        drain(&app).await;
        let job = app
            .store()
            .list_jobs(&JobFilter {
                limit: 1,
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .remove(0);
        for (method, path) in [
            ("GET", "/api/v1/jobs".to_owned()),
            ("POST", format!("/api/v1/jobs/{}/retry", job.public_id)),
            ("POST", format!("/api/v1/jobs/{}/discard", job.public_id)),
        ] {
            let req = if method == "GET" {
                app.get(&path)
            } else {
                app.post(&path)
            };
            let resp = req.bearer_auth(&t).send().await.unwrap();
            assert_eq!(resp.status(), 403, "[{}] {method} {path}", app.backend);
        }
        let resp = app
            .get(&format!("/api/v1/deploy-approval-requests/{id}/jobs"))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            404,
            "another token's request stays invisible"
        );
        app.cleanup().await;
    }
}

#[test]
fn a_webhook_delivery_cannot_be_forged_altered_or_replayed_later() {
    let secret = WEBHOOK_SECRET.as_bytes();
    let body = br#"{"event":"deploy_approval.approved"}"#;
    let now = 1_800_000_000;
    let sig = sign(secret, now, body);
    assert!(verify(secret, &now.to_string(), body, &sig, now + 10));
    assert!(
        !verify(
            b"another-secret-of-some-length",
            &now.to_string(),
            body,
            &sig,
            now
        ),
        "forged with another key"
    );
    assert!(
        !verify(
            secret,
            &now.to_string(),
            br#"{"event":"deploy_approval.deployed"}"#,
            &sig,
            now
        ),
        "altered body"
    );
    assert!(
        !verify(secret, &(now + 1).to_string(), body, &sig, now),
        "moved timestamp"
    );
    assert!(
        !verify(secret, &now.to_string(), body, &sig, now + 3600),
        "replayed an hour later"
    );
    assert!(!verify(secret, &now.to_string(), body, "sha256=zz", now));
    assert!(!verify(secret, "soon", body, &sig, now));
}

#[tokio::test]
async fn an_admin_reading_settings_or_the_audit_log_never_sees_a_webhook_secret() {
    for app in TestApp::spawn_all().await {
        app.create_user("boss@example.com", "admin", None).await;
        let boss = app
            .session_with_mfa("boss@example.com", rgw_server::auth::Channel::Cli)
            .await;
        let secret_url = "https://hooks.slack.com/services/T000/B000/s3cr3tPath";
        let (status, put) = body_json(
            app.client()
                .put(app.at("/api/v1/settings/slack_webhook_url"))
                .bearer_auth(&boss)
                .json(&json!({"value": secret_url, "app": RACK_APP}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{put}");
        assert_eq!(put["value"], "https://hooks.slack.com/********");
        let (status, list) = body_json(
            app.get(&format!("/api/v1/settings?app={RACK_APP}"))
                .bearer_auth(&boss)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert!(!list.to_string().contains("s3cr3tPath"), "{list}");
        let (_, audit) = body_json(
            app.get("/api/v1/audit-events?action=setting.change")
                .bearer_auth(&boss)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(!audit.to_string().contains("s3cr3tPath"), "{audit}");
        assert!(audit.to_string().contains("hooks.slack.com"), "{audit}");
        // The stored value is intact: it is what the notifications use.
        let stored = app
            .store()
            .get_setting(RACK_APP, "slack_webhook_url")
            .await
            .unwrap();
        assert_eq!(stored.unwrap().value.0, json!(secret_url));
        app.cleanup().await;
    }
}

/// A gateway auto-approving CircleCI hold `hold` on the mock CircleCI.
async fn circleci_apps(circle: &rgw_testkit::mocks::circleci::MockCircleCi) -> Vec<TestApp> {
    let env = [
        ("RGW_CIRCLECI_API_URL", circle.api_url.as_str()),
        ("RGW_CIRCLECI_TOKEN", CIRCLE_TOKEN),
        ("RGW_JOBS_WORKER", "false"),
        ("RGW_INTEGRATION_TIMEOUT_SECS", "2"),
        ("RGW_APP_MYAPP_SETTING_CI_PROVIDER", "circleci"),
        (
            "RGW_APP_MYAPP_SETTING_CIRCLECI_AUTO_APPROVE_ON_APPROVAL",
            "true",
        ),
        ("RGW_APP_MYAPP_SETTING_CIRCLECI_APPROVAL_JOB_NAME", "hold"),
        ("RGW_APP_MYAPP_SETTING_VCS_REPO", "acme/myapp"),
    ];
    TestApp::spawn_all_with(TestOptions {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    })
    .await
}

fn hold() -> [(&'static str, &'static str, &'static str); 2] {
    [
        ("hold", "approval", "on_hold"),
        ("deploy", "build", "blocked"),
    ]
}

/// A request for `commit` naming CircleCI workflow `wf`, approved by a new admin, with the
/// jobs that follow run once: `(admin, request id)`.
async fn approved_naming(
    app: &TestApp,
    wf: uuid::Uuid,
    commit: &str,
) -> (rgw_testkit::approvals::Approver, String) {
    let t = token(app).await;
    let admin = app.approver("admin@example.com").await;
    let (_, req) = create(
        app,
        &t,
        commit,
        "main",
        json!({"workflow_id": wf.to_string()}),
        "Deploy",
    )
    .await;
    let id = req["public_id"].as_str().unwrap().to_owned();
    assert_eq!(app.approve(&admin, &id).await.0, 200);
    drain(app).await;
    (admin, id)
}

#[tokio::test]
async fn an_approval_of_one_commit_cannot_release_the_ci_hold_of_another_commits_pipeline() {
    let circle = rgw_testkit::mocks::circleci::MockCircleCi::start(CIRCLE_TOKEN).await;
    for app in circleci_apps(&circle).await {
        // The caller names a workflow whose pipeline built a different (unreviewed) commit.
        let evil = circle.add_workflow("deploy", &hold());
        circle.set_commit(evil, &sha(31));
        approved_naming(&app, evil, &sha(30)).await;
        assert_eq!(
            circle.approve_calls(),
            0,
            "the other commit's hold was released"
        );
        let jobs = app
            .store()
            .list_jobs(&JobFilter {
                limit: 100,
                ..JobFilter::default()
            })
            .await
            .unwrap();
        let job = jobs.iter().find(|j| j.kind == "circleci.approve").unwrap();
        assert!(
            job.last_error
                .as_deref()
                .is_some_and(|e| e.contains("not the approved")),
            "{job:?}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_revoked_approval_cannot_release_its_ci_hold_when_the_job_retries_later() {
    let circle = rgw_testkit::mocks::circleci::MockCircleCi::start(CIRCLE_TOKEN).await;
    for app in circleci_apps(&circle).await {
        // The hold is not reached yet: the job retries with backoff.
        let wf = circle.add_workflow("deploy", &[("hold", "approval", "blocked")]);
        circle.set_commit(wf, &sha(32));
        let (admin, id) = approved_naming(&app, wf, &sha(32)).await;
        // The admin revokes; then the hold is reached and the job's retry comes due.
        let r = app
            .post(&format!("/api/v1/deploy-approval-requests/{id}/reject"))
            .bearer_auth(&admin.session)
            .json(&json!({"notes": "wrong build"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        circle.set_job_status(wf, "hold", "on_hold");
        app.clock.advance(time::Duration::hours(1));
        drain(&app).await;
        assert_eq!(
            circle.approve_calls(),
            0,
            "a revoked approval released the hold"
        );
        app.cleanup().await;
    }
}
