//! A gateway wired to mock CircleCI, GitHub and webhook receivers, with the job worker off so
//! tests run jobs themselves.

#![allow(dead_code)]

use rgw_server::jobs::worker::{Ran, run_once};
use rgw_store::{Job, JobFilter};
use rgw_testkit::mocks::circleci::MockCircleCi;
use rgw_testkit::mocks::github::MockGitHub;
use rgw_testkit::mocks::hooks::MockHooks;
use rgw_testkit::{RACK_APP, TestApp, TestOptions, body_json};
use serde_json::{Value, json};

pub const CIRCLE_TOKEN: &str = "circle-token-0123456789";
pub const GITHUB_TOKEN: &str = "ghp_test_token_0123456789";
pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789abcdef";

/// The mocks a test gateway talks to.
pub struct Mocks {
    pub circle: MockCircleCi,
    pub github: MockGitHub,
    pub hooks: MockHooks,
}

impl Mocks {
    pub async fn start() -> Mocks {
        Mocks {
            circle: MockCircleCi::start(CIRCLE_TOKEN).await,
            github: MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await,
            hooks: MockHooks::start().await,
        }
    }

    /// Configuration pointing at the mocks, plus `extra` (e.g. app settings).
    pub fn env(&self, extra: &[(&str, &str)]) -> TestOptions {
        let mut env: Vec<(String, String)> = vec![
            ("RGW_CIRCLECI_API_URL".into(), self.circle.api_url.clone()),
            ("RGW_CIRCLECI_TOKEN".into(), CIRCLE_TOKEN.into()),
            ("RGW_GITHUB_API_URL".into(), self.github.api_url.clone()),
            ("RGW_GITHUB_TOKEN".into(), GITHUB_TOKEN.into()),
            ("RGW_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into()),
            ("RGW_INTEGRATION_TIMEOUT_SECS".into(), "1".into()),
            ("RGW_JOBS_WORKER".into(), "false".into()),
            ("RGW_JOBS_LEASE_SECS".into(), "30".into()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        TestOptions { env }
    }
}

/// Settings for CircleCI auto-approval of job `hold` on `myapp`.
pub const CIRCLECI: &[(&str, &str)] = &[
    ("RGW_APP_MYAPP_SETTING_CI_PROVIDER", "circleci"),
    (
        "RGW_APP_MYAPP_SETTING_CIRCLECI_AUTO_APPROVE_ON_APPROVAL",
        "true",
    ),
    ("RGW_APP_MYAPP_SETTING_CIRCLECI_APPROVAL_JOB_NAME", "hold"),
];

/// Settings for GitHub verification of `acme/myapp`.
pub const GITHUB: &[(&str, &str)] = &[
    ("RGW_APP_MYAPP_SETTING_VCS_PROVIDER", "github"),
    ("RGW_APP_MYAPP_SETTING_VCS_REPO", "acme/myapp"),
];

/// Runs due jobs until none is left; returns what ran.
pub async fn drain(app: &TestApp) -> Vec<Ran> {
    let mut ran = Vec::new();
    for _ in 0..100 {
        match run_once(&app.state).await.expect("worker step") {
            Some(r) => ran.push(r),
            None => return ran,
        }
    }
    panic!("jobs kept coming: {ran:?}");
}

/// Every job, oldest first.
pub async fn jobs(app: &TestApp) -> Vec<Job> {
    let mut all = app
        .store()
        .list_jobs(&JobFilter {
            limit: 500,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    all.reverse();
    all
}

/// The jobs of one kind, oldest first.
pub async fn jobs_of(app: &TestApp, kind: &str) -> Vec<Job> {
    jobs(app)
        .await
        .into_iter()
        .filter(|j| j.kind == kind)
        .collect()
}

/// A CI token for `myapp`.
pub async fn ci_token(app: &TestApp, name: &str) -> String {
    if app
        .store()
        .get_user_by_email("ci@example.com")
        .await
        .is_err()
    {
        app.create_service_user("ci@example.com").await;
    }
    app.create_token("ci@example.com", name, "cicd").await
}

/// Creates a request as `token` with `branch` and `ci_metadata`.
pub async fn request(
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
        .json(&json!({
            "app": RACK_APP,
            "git_commit_hash": commit,
            "git_branch": branch,
            "ci_metadata": meta,
            "message": message,
        }))
        .send()
        .await
        .unwrap();
    body_json(resp).await
}

/// Creates a request and returns its public id (asserting 201).
pub async fn request_ok(
    app: &TestApp,
    token: &str,
    commit: &str,
    branch: &str,
    meta: Value,
) -> String {
    let (status, body) = request(app, token, commit, branch, meta, "Deploy to production").await;
    assert_eq!(status, 201, "[{}] {body}", app.backend);
    body["public_id"].as_str().unwrap().to_owned()
}

/// The audit events on a request's trail (newest first), read by admin `session`.
pub async fn trail(app: &TestApp, session: &str, id: &str) -> Vec<Value> {
    app.state.auditor.flush().await;
    let resp = app
        .get(&format!(
            "/api/v1/audit-events?deploy_approval_request_id={id}&limit=200"
        ))
        .bearer_auth(session)
        .send()
        .await
        .unwrap();
    let (status, body) = body_json(resp).await;
    assert_eq!(status, 200, "{body}");
    body["audit_events"].as_array().cloned().unwrap_or_default()
}

/// The actions on a request's trail.
pub async fn actions(app: &TestApp, session: &str, id: &str) -> Vec<String> {
    trail(app, session, id)
        .await
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}
