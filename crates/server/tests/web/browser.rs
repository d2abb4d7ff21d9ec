//! Real headless Chromium through the approval workflow: sign in, enrol TOTP from the QR page,
//! watch a new request appear live, fail with a wrong code, approve with the right one, see a
//! decision made elsewhere arrive without reloading, and reject with notes. Takes the README
//! screenshots on the way.

use std::time::Duration;

use rgw_core::Clock;
use rgw_testkit::approvals::sha;
use rgw_testkit::{TestApp, TestOptions};
use secrecy::SecretString;
use thirtyfour::prelude::*;

use super::support::Browser;

const PASSWORD: &str = "correct horse battery staple";

/// The TOTP code for `secret` one step after the gateway's (manual) clock: each code is
/// single-use per step, so the clock moves on first.
fn next_code(app: &TestApp, secret: &str) -> String {
    app.clock.advance(time::Duration::seconds(30));
    let unix = u64::try_from(app.clock.now().unix_timestamp()).expect("unix time");
    rgw_server::mfa::totp::code_at(&SecretString::from(secret.to_owned()), unix).expect("a code")
}

const GITHUB_TOKEN: &str = "ghp_browser_test_token";

/// The repository as GitHub knows it: each request's commit is on its branch (verification
/// at create is real, against the mock), and the release branch has PR 128 open.
async fn github() -> rgw_testkit::mocks::github::MockGitHub {
    let gh = rgw_testkit::mocks::github::MockGitHub::start(GITHUB_TOKEN, "acme", "myapp").await;
    gh.set_branch(
        "release/2026.12.2",
        &["9f4c2e17b3a8d6e0c5f1a2b3c4d5e6f708192a3b"],
    );
    gh.open_pr(128, "release/2026.12.2");
    gh.set_branch(
        "hotfix/payments-timeout",
        &["e3b1a07c9d2f4e6a8b0c1d2e3f405162738495a6"],
    );
    gh.open_pr(131, "hotfix/payments-timeout");
    gh.set_branch(
        "main",
        &[
            "41d7c8e2f0a9b3c5d6e7f8091a2b3c4d5e6f7a8b",
            &rgw_testkit::approvals::sha(0xb10d),
        ],
    );
    gh
}

fn options(gh: &rgw_testkit::mocks::github::MockGitHub) -> TestOptions {
    TestOptions {
        // Real policy: every user must have MFA.
        env: [
            ("RGW_SETTING_MFA_REQUIRE_ALL_USERS", "true"),
            ("RGW_APP_MYAPP_SETTING_VCS_PROVIDER", "github"),
            ("RGW_APP_MYAPP_SETTING_VCS_REPO", "acme/myapp"),
            ("RGW_APP_MYAPP_SETTING_CI_PROVIDER", "circleci"),
            ("RGW_APP_MYAPP_SETTING_VERIFY_GIT_COMMIT_MODE", "branch"),
            (
                "RGW_APP_MYAPP_SETTING_ALLOW_DEPLOY_FROM_DEFAULT_BRANCH",
                "true",
            ),
            ("RGW_APP_MYAPP_SETTING_REQUIRE_PR_FOR_BRANCH", "false"),
            ("RGW_GITHUB_TOKEN", GITHUB_TOKEN),
            ("RGW_GITHUB_API_URL", gh.api_url.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec(),
    }
}

#[tokio::test]
async fn an_admin_signs_in_enrols_totp_and_approves_and_rejects_live_in_chromium() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let gh = github().await;
    for app in TestApp::spawn_all_with(options(&gh)).await {
        let backend = app.backend;
        app.create_user("admin@example.com", "admin", Some(PASSWORD))
            .await;
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "circleci", "cicd").await;
        // A second admin, to decide through the API while the page watches.
        let other = app.approver("other-admin@example.com").await;

        // Sign in: the list needs a session, then MFA; enrolment comes first.
        b.driver
            .goto(app.at("/deploy-approvals"))
            .await
            .expect("open the gateway");
        assert!(
            b.path().await.starts_with("/login"),
            "[{backend}] {}",
            b.path().await
        );
        b.type_into("#email", "admin@example.com").await;
        b.type_into("#password", PASSWORD).await;
        b.click("form[action='/login'] button[type=submit]").await;
        b.find("#start-totp").await;
        assert_eq!(b.path().await, "/mfa/enroll", "[{backend}]");

        // Enrol TOTP from the QR page, confirm with a code, keep the backup codes.
        b.click("#start-totp").await;
        b.find(".qr svg").await;
        let secret = b.text("#totp-secret").await;
        b.type_into("#code", &next_code(&app, &secret)).await;
        b.click("form[action='/mfa/enroll/confirm'] button").await;
        let codes = b
            .driver
            .query(By::Css("#backup-codes li"))
            .wait(Duration::from_secs(10), Duration::from_millis(50))
            .all_from_selector_required()
            .await
            .expect("backup codes shown once");
        assert_eq!(codes.len(), 10, "[{backend}]");
        b.click("a.button.primary").await;
        b.find("#request-rows").await;
        assert_eq!(b.path().await, "/deploy-approvals", "[{backend}]");
        b.wait_text("[data-live-state]", "live").await;

        // CI asks; the request appears on the open list without a reload.
        let commit = "9f4c2e17b3a8d6e0c5f1a2b3c4d5e6f708192a3b";
        let resp = app
            .post("/api/v1/deploy-approval-requests")
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "app": "myapp",
                "git_commit_hash": commit,
                "git_branch": "release/2026.12.2",
                "ci_metadata": {"workflow_id": "5d1e0c2a-7b1f-4f7e-9d55-2a4c8e0f1b3d", "pipeline_number": "1742"},
                "message": "Release 2026.12.2: checkout retries and faster search",
            }))
            .send()
            .await
            .unwrap();
        let (status, req) = rgw_testkit::body_json(resp).await;
        assert_eq!(status, 201, "{req}");
        let id = req["public_id"].as_str().unwrap().to_owned();
        let row = format!("tr[data-request='{id}']");
        b.wait_text(&row, "pending").await;
        b.wait_text(&row, &commit[..7]).await;
        // Two more for the screenshot, from another pipeline; they appear live too.
        for (n, branch, message) in [
            (
                "e3b1a07c9d2f4e6a8b0c1d2e3f405162738495a6",
                "hotfix/payments-timeout",
                "Hotfix: raise the payments client timeout to 8 s",
            ),
            (
                "41d7c8e2f0a9b3c5d6e7f8091a2b3c4d5e6f7a8b",
                "main",
                "Nightly dependency updates",
            ),
        ] {
            let r = app
                .post("/api/v1/deploy-approval-requests")
                .bearer_auth(&token)
                .json(&serde_json::json!({"app": "myapp", "git_commit_hash": n,
                    "git_branch": branch, "ci_metadata": {}, "message": message}))
                .send()
                .await
                .unwrap();
            let (s, v) = rgw_testkit::body_json(r).await;
            assert_eq!(s, 201, "{v}");
            b.wait_text(
                &format!("tr[data-request='{}']", v["public_id"].as_str().unwrap()),
                message,
            )
            .await;
        }
        b.screenshot("pending-list.png").await;

        // The detail page, then a wrong code: refused, still pending.
        b.click(&format!("{row} a")).await;
        b.wait_text("#request-status", "pending").await;
        b.wait_text("#approval-count", "0 of 1").await;
        let link = b.attr("#commit-link", "href").await;
        assert_eq!(
            link.as_deref(),
            Some(format!("https://github.com/acme/myapp/commit/{commit}").as_str())
        );
        let pipeline = b.attr("#pipeline-link", "href").await;
        assert_eq!(
            pipeline.as_deref(),
            Some("https://app.circleci.com/pipelines/github/acme/myapp/1742")
        );
        b.screenshot("approval-detail.png").await;
        b.type_into("#totp", "000000").await;
        b.click("#approve").await;
        b.wait_text("#decision-error", "did not verify").await;
        b.wait_text("#request-status", "pending").await;

        // The right code approves it.
        b.type_into("#approve-notes", "Reviewed diff, LGTM").await;
        b.type_into("#totp", &next_code(&app, &secret)).await;
        b.click("#approve").await;
        b.wait_text("#request-status", "approved").await;
        b.wait_text(".approvers", "admin@example.com").await;
        b.wait_text(".approvers", "Reviewed diff, LGTM").await;
        let (_, api) = app.get_approval(&token, &id).await;
        assert_eq!(api["status"], "approved", "[{backend}] {api}");
        assert_eq!(api["approvals"][0]["mfa_method"], "totp");

        // A second request decided through the API by another admin: the open detail page
        // changes without a reload.
        let commit2 = sha(0xb10d);
        let (_, req2) = app.request_approval(&token, &commit2).await;
        let id2 = req2["public_id"].as_str().unwrap().to_owned();
        b.driver
            .goto(app.at(&format!("/deploy-approvals/{id2}")))
            .await
            .unwrap();
        b.wait_text("#request-status", "pending").await;
        let (s, _) = app.approve(&other, &id2).await;
        assert_eq!(s, 200);
        b.wait_text("#request-status", "approved").await;
        b.wait_text(".approvers", "other-admin@example.com").await;

        // Reject (revoke) it with notes; the notes are shown as text, never as markup.
        let notes = "Wrong branch <b>not</b> main";
        b.type_into("#reject-notes", notes).await;
        b.click("#reject").await;
        b.wait_text("#request-status", "rejected").await;
        let shown = b.text("#rejection-notes").await;
        assert_eq!(shown, notes, "[{backend}]");
        let (_, api2) = app.get_approval(&token, &id2).await;
        assert_eq!(api2["status"], "rejected");
        assert_eq!(api2["rejection_notes"], notes);

        // Sign out ends the session.
        b.click("form.signout button").await;
        b.find("#email").await;
        b.driver.goto(app.at("/deploy-approvals")).await.unwrap();
        assert!(b.path().await.starts_with("/login"), "[{backend}]");
        app.cleanup().await;
    }
    b.quit().await;
}
