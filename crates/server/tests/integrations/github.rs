//! GitHub: commit verification at creation (head or branch history, default branch, required
//! PR, fail closed), one PR comment edited in place through every change, and the commit status.

use std::time::Duration;

use rgw_server::jobs::worker::run_once;
use rgw_store::JobStatus;
use rgw_testkit::approvals::sha;
use rgw_testkit::mocks::FaultKind;
use rgw_testkit::{TestApp, body_json, error_code};
use serde_json::json;

use crate::support::*;

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = GITHUB.to_vec();
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn a_request_is_verified_against_the_branch_head_and_gets_its_pull_request() {
    let mocks = Mocks::start().await;
    let (old, head) = (sha(0x100), sha(0x101));
    mocks.github.set_branch("main", &[&sha(0x1)]);
    mocks.github.set_branch("feature/login", &[&old, &head]);
    mocks.github.set_branch("no-pr", &[&sha(0x102)]);
    let pr = mocks.github.open_pr(12, "feature/login");
    for app in TestApp::spawn_all_with(mocks.env(&with(&[]))).await {
        let token = ci_token(&app, "ci").await;
        let cases = [
            (old.clone(), "feature/login", 422, "commit_not_branch_head"),
            (sha(0x102), "no-pr", 422, "pull_request_required"),
            (sha(0x1), "main", 422, "default_branch_not_allowed"),
            (head.clone(), "gone", 422, "branch_not_found"),
            (
                head.clone(),
                "a/../../../../user",
                422,
                "invalid_git_branch",
            ),
        ];
        for (commit, branch, want, code) in &cases {
            let (status, body) = request(&app, &token, commit, branch, json!({}), "Deploy").await;
            assert_eq!(
                (status, error_code(&body)),
                (*want, *code),
                "[{}] {branch}: {body}",
                app.backend
            );
        }
        let (status, body) =
            request(&app, &token, &head, "feature/login", json!({}), "Deploy").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["pr_url"], pr.as_str());
        let calls = mocks
            .github
            .journal
            .matching("GET /api/v3/repos/acme/myapp/branches/feature/login");
        assert!(!calls.is_empty());
        assert_eq!(
            calls[0].header("authorization").unwrap(),
            format!("Bearer {GITHUB_TOKEN}")
        );
        assert_eq!(
            calls[0].header("accept").as_deref(),
            Some("application/vnd.github+json")
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn branch_mode_accepts_a_commit_in_the_branch_history_and_refuses_one_outside_it() {
    let mocks = Mocks::start().await;
    let (a, b, c) = (sha(0x200), sha(0x201), sha(0x202));
    mocks.github.set_branch("main", &[&sha(0x2)]);
    mocks.github.set_branch("release", &[&a, &b]);
    mocks.github.set_branch("other", &[&c]);
    let env = with(&[
        ("RGW_APP_MYAPP_SETTING_VERIFY_GIT_COMMIT_MODE", "branch"),
        ("RGW_APP_MYAPP_SETTING_REQUIRE_PR_FOR_BRANCH", "false"),
        (
            "RGW_APP_MYAPP_SETTING_ALLOW_DEPLOY_FROM_DEFAULT_BRANCH",
            "true",
        ),
    ]);
    for app in TestApp::spawn_all_with(mocks.env(&env)).await {
        let token = ci_token(&app, "ci").await;
        let (status, body) = request(&app, &token, &c, "release", json!({}), "Deploy").await;
        assert_eq!(
            (status, error_code(&body)),
            (422, "commit_not_on_branch"),
            "[{}] {body}",
            app.backend
        );
        for (commit, branch) in [(&a, "release"), (&b, "release"), (&sha(0x2), "main")] {
            let (status, body) = request(&app, &token, commit, branch, json!({}), "Deploy").await;
            assert_eq!(status, 201, "{branch} {commit}: {body}");
            assert!(body["pr_url"].is_null());
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn github_verification_fails_closed_when_github_cannot_answer_or_is_not_configured() {
    let mocks = Mocks::start().await;
    let head = sha(0x300);
    mocks.github.set_branch("main", &[&sha(0x3)]);
    mocks.github.set_branch("feat", &[&head]);
    mocks.github.open_pr(3, "feat");
    for app in TestApp::spawn_all_with(mocks.env(&with(&[]))).await {
        let token = ci_token(&app, "ci").await;
        mocks.github.journal.fault(
            "/branches/feat",
            1,
            FaultKind::Status(502, "{\"message\":\"Server Error\"}".into()),
        );
        let (status, body) = request(&app, &token, &head, "feat", json!({}), "Deploy").await;
        assert_eq!(
            (status, error_code(&body)),
            (503, "github_unavailable"),
            "[{}] {body}",
            app.backend
        );
        mocks.github.journal.fault(
            "/branches/feat",
            1,
            FaultKind::Delay(Duration::from_secs(3)),
        );
        let (status, body) = request(&app, &token, &head, "feat", json!({}), "Deploy").await;
        assert_eq!(
            (status, error_code(&body)),
            (503, "github_unavailable"),
            "timeout: {body}"
        );
        let (status, body) = request(&app, &token, &head, "feat", json!({}), "Deploy").await;
        assert_eq!(status, 201, "GitHub is back: {body}");
        app.cleanup().await;
    }
    // No token: refuse rather than create unverified requests.
    let mut env = mocks.env(&with(&[]));
    env.env.retain(|(k, _)| k != "RGW_GITHUB_TOKEN");
    for app in TestApp::spawn_all_with(env).await {
        let token = ci_token(&app, "ci").await;
        let (status, body) = request(&app, &token, &head, "feat", json!({}), "Deploy").await;
        assert_eq!(
            (status, error_code(&body)),
            (503, "github_misconfigured"),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("RGW_GITHUB_TOKEN")
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn one_pr_comment_is_edited_in_place_through_every_change_and_the_commit_status_follows() {
    let mocks = Mocks::start().await;
    mocks.github.set_branch("main", &[&sha(0x4)]);
    let env = with(&[("RGW_SETTING_DEPLOY_APPROVAL_QUORUM", "2")]);
    for (n, app) in TestApp::spawn_all_with(mocks.env(&env))
        .await
        .into_iter()
        .enumerate()
    {
        let branch = format!("feat-{n}");
        let head = sha(0x400 + n as u64);
        let pr = 40 + n as u64;
        mocks.github.set_branch(&branch, &[&head]);
        mocks.github.open_pr(pr, &branch);
        let token = ci_token(&app, "ci").await;
        let id = request_ok(&app, &token, &head, &branch, json!({})).await;
        drain(&app).await;
        let comments = mocks.github.comments(pr);
        assert_eq!(comments.len(), 1, "[{}]", app.backend);
        let (cid, body) = &comments[0];
        assert!(
            body.contains("pending") && body.contains(&format!("/deploy-approvals/{id}")),
            "{body}"
        );
        assert!(
            body.contains("needs 2") && body.contains("Deploy to production"),
            "{body}"
        );
        let statuses = |sha: &str| {
            mocks
                .github
                .statuses()
                .into_iter()
                .filter(|s| s.sha == sha)
                .collect::<Vec<_>>()
        };
        let first = statuses(&head);
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].state.as_str(), first[0].context.as_str()),
            ("pending", "rack-gateway/deploy-approval")
        );
        assert!(
            first[0]
                .target_url
                .ends_with(&format!("/deploy-approvals/{id}"))
        );

        let a = app.approver("alice@example.com").await;
        let b = app.approver("bob@example.com").await;
        assert_eq!(app.approve(&a, &id).await.0, 200);
        drain(&app).await;
        let after_vote = mocks.github.comments(pr);
        assert_eq!(after_vote.len(), 1);
        assert!(
            after_vote[0].1.contains("alice@\u{200d}example.com"),
            "{}",
            after_vote[0].1
        );
        assert_eq!(app.approve(&b, &id).await.0, 200);
        drain(&app).await;
        let approved = mocks.github.comments(pr);
        assert_eq!(
            (approved.len(), approved[0].0),
            (1, *cid),
            "edited, not posted again"
        );
        assert!(
            approved[0].1.contains("approved") && approved[0].1.contains("Expires"),
            "{}",
            approved[0].1
        );
        // Revoke: the same comment says rejected and shows the notes.
        let resp = app
            .post(&format!("/api/v1/deploy-approval-requests/{id}/reject"))
            .bearer_auth(&a.session)
            .json(&json!({"notes": "wrong build"}))
            .send()
            .await
            .unwrap();
        assert_eq!(body_json(resp).await.0, 200);
        drain(&app).await;
        let rejected = mocks.github.comments(pr);
        assert_eq!(rejected.len(), 1);
        assert!(
            rejected[0].1.contains("rejected") && rejected[0].1.contains("wrong build"),
            "{}",
            rejected[0].1
        );
        let states: Vec<String> = statuses(&head).into_iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            ["pending", "pending", "success", "failure"],
            "[{}]",
            app.backend
        );
        assert_eq!(
            mocks
                .github
                .journal
                .matching(&format!(
                    "POST /api/v3/repos/acme/myapp/issues/{pr}/comments"
                ))
                .len(),
            1
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_comment_posted_by_a_worker_that_died_is_adopted_and_a_deleted_one_is_replaced() {
    let mocks = Mocks::start().await;
    mocks.github.set_branch("main", &[&sha(0x5)]);
    let mut env = with(&[]);
    env.push(("RGW_INTEGRATION_TIMEOUT_SECS", "30"));
    for (n, app) in TestApp::spawn_all_with(mocks.env(&env))
        .await
        .into_iter()
        .enumerate()
    {
        let branch = format!("fix-{n}");
        let head = sha(0x500 + n as u64);
        let pr = 50 + n as u64;
        mocks.github.set_branch(&branch, &[&head]);
        mocks.github.open_pr(pr, &branch);
        let token = ci_token(&app, "ci").await;
        let id = request_ok(&app, &token, &head, &branch, json!({})).await;
        let fanned = run_once(&app.state).await.unwrap().unwrap();
        assert_eq!(fanned.kind, "deploy_approval.transition");
        // The comment is posted, then the worker dies before it learns the comment's id.
        mocks.github.journal.fault(
            &format!("POST /api/v3/repos/acme/myapp/issues/{pr}/comments"),
            1,
            FaultKind::DelayResponse(Duration::from_secs(60)),
        );
        let state = app.state.clone();
        let worker = tokio::spawn(async move { run_once(&state).await });
        for _ in 0..200 {
            if !mocks.github.comments(pr).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        worker.abort();
        let _ = worker.await;
        assert_eq!(
            mocks.github.comments(pr).len(),
            1,
            "[{}] posted",
            app.backend
        );
        app.clock.advance(time::Duration::seconds(31));
        let ran = run_once(&app.state).await.unwrap().unwrap();
        assert_eq!(
            (ran.kind.as_str(), ran.status),
            ("github.sync", JobStatus::Succeeded),
            "{ran:?}"
        );
        let comments = mocks.github.comments(pr);
        assert_eq!(comments.len(), 1, "adopted by its marker, not posted twice");
        assert!(comments[0].1.contains(&id));
        // Someone deletes it; the next change posts a fresh one and edits that from then on.
        mocks.github.delete_comment(comments[0].0);
        let admin = app.approver("admin@example.com").await;
        assert_eq!(app.approve(&admin, &id).await.0, 200);
        drain(&app).await;
        let fresh = mocks.github.comments(pr);
        assert_eq!(fresh.len(), 1);
        assert_ne!(fresh[0].0, comments[0].0);
        assert!(fresh[0].1.contains("approved"));
        app.cleanup().await;
    }
}
