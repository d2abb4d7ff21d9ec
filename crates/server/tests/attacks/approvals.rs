//! Attacks on the deploy approval itself (issue 10): a stolen CI token, or an insider, trying to
//! deploy something no admin approved, to reuse or stretch an approval, or to approve without a
//! real human's fresh MFA.

use rgw_testkit::approvals::{convox_deploy, manifest_for, sha};
use rgw_testkit::convox::{Convox, tarball};
use rgw_testkit::{RACK_APP, TestApp, TestOptions, body_json};
use serde_json::json;

async fn spawn() -> Vec<TestApp> {
    TestApp::spawn_all_fast(TestOptions::default()).await
}

/// Uploads `manifest` as the source tarball; returns (status, body).
async fn upload(cx: &Convox, key: &str, manifest: &str) -> (u16, String) {
    let r = cx
        .post_bytes(
            &format!("/apps/{RACK_APP}/objects/{key}"),
            tarball(&[("convox.yml", manifest)]),
        )
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn build(cx: &Convox, url: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let mut all = vec![("url", url)];
    all.extend_from_slice(fields);
    let r = cx
        .post_form(&format!("/apps/{RACK_APP}/builds"), &all)
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

fn refused(got: (u16, String), status: u16, says: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert!(got.1.contains(says), "{:?} should say {says:?}", got.1);
}

#[tokio::test]
async fn a_cicd_token_cannot_deploy_without_an_approval() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let cx = app.convox(&token);
        refused(
            upload(&cx, "tmp/a.tgz", &manifest_for(&sha(1))).await,
            403,
            "deploy approval required for app myapp",
        );
        refused(
            build(&cx, "object://myapp/tmp/a.tgz", &[("git-sha", &sha(1))]).await,
            403,
            &format!(
                "deploy approval required for commit {} on app myapp",
                sha(1)
            ),
        );
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.method != reqwest::Method::POST),
            "nothing reached the rack"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_rejected_approval_cannot_be_used_to_deploy() {
    for app in spawn().await {
        let (token, id) = app.approved_deploy(&sha(2)).await;
        let admin = app.approver("revoker@example.com").await;
        let r = app
            .post(&format!("/api/v1/deploy-approval-requests/{id}/reject"))
            .bearer_auth(&admin.session)
            .json(&json!({"notes": "not this one"}))
            .send()
            .await
            .unwrap();
        let (status, body) = body_json(r).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("rejected")),
            "{body}"
        );
        refused(
            upload(&app.convox(&token), "tmp/a.tgz", &manifest_for(&sha(2))).await,
            403,
            "is rejected, not approved",
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_expired_approval_cannot_be_used_to_deploy() {
    for app in spawn().await {
        let (token, id) = app.approved_deploy(&sha(3)).await;
        app.clock.advance(time::Duration::minutes(16));
        // Refused even before the sweeper writes `expired`...
        refused(
            upload(&app.convox(&token), "tmp/a.tgz", &manifest_for(&sha(3))).await,
            403,
            "expired at",
        );
        // ...and after it.
        rgw_server::approvals::sweeper::sweep_once(&app.state)
            .await
            .unwrap();
        let got = upload(&app.convox(&token), "tmp/a.tgz", &manifest_for(&sha(3))).await;
        refused(got, 403, &format!("deploy approval {id} expired at"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_already_deployed_approval_cannot_deploy_again() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(4)).await;
        let cx = app.convox(&token);
        convox_deploy(&cx, &sha(4)).await;
        refused(
            upload(&cx, "tmp/b.tgz", &manifest_for(&sha(4))).await,
            403,
            "already been used for a deploy",
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_approval_for_one_app_cannot_deploy_another() {
    for app in spawn().await {
        let direct = Convox::new(app.rack.url(), rgw_testkit::RACK_PASSWORD);
        assert_eq!(
            direct
                .post_form("/apps", &[("name", "other")])
                .await
                .status(),
            200
        );
        let (token, _) = app.approved_deploy(&sha(5)).await;
        let r = app
            .convox(&token)
            .post_bytes(
                "/apps/other/objects/tmp/a.tgz",
                tarball(&[("convox.yml", &manifest_for(&sha(5)))]),
            )
            .await;
        assert_eq!(r.status(), 403);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("deploy approval required for app other")
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_approval_for_one_token_cannot_be_used_by_another_token() {
    for app in spawn().await {
        let (_, _) = app.approved_deploy(&sha(6)).await;
        let thief = app.create_token("ci@example.com", "other-ci", "cicd").await;
        refused(
            upload(&app.convox(&thief), "tmp/a.tgz", &manifest_for(&sha(6))).await,
            403,
            "deploy approval required",
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_build_with_another_commits_git_sha_or_none_is_refused() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(7)).await;
        let cx = app.convox(&token);
        let (status, body) = upload(&cx, "tmp/a.tgz", &manifest_for(&sha(7))).await;
        assert_eq!(status, 200, "{body}");
        let url = "object://myapp/tmp/a.tgz";
        refused(
            build(&cx, url, &[("git-sha", &sha(8))]).await,
            422,
            "does not match the approved commit",
        );
        refused(build(&cx, url, &[]).await, 422, "must send git-sha");
        // Options smuggled where the rack reads them but the gate does not.
        let r = cx
            .request(
                reqwest::Method::POST,
                &format!("/apps/{RACK_APP}/builds?manifest=evil.yml"),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("url={url}&git-sha={}", sha(7)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = cx
            .request(reqwest::Method::POST, &format!("/apps/{RACK_APP}/builds"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("manifest", "evil.yml")
            .body(format!("url={url}&git-sha={}", sha(7)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.line() != format!("POST /apps/{RACK_APP}/builds"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_manifest_whose_images_do_not_match_the_approved_commit_is_refused() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(9)).await;
        let cx = app.convox(&token);
        let other = manifest_for(&sha(10));
        assert_eq!(upload(&cx, "tmp/a.tgz", &other).await.0, 200);
        refused(
            build(&cx, "object://myapp/tmp/a.tgz", &[("git-sha", &sha(9))]).await,
            422,
            &format!("does not match the approved commit {}", sha(9)),
        );
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.line() != format!("POST /apps/{RACK_APP}/builds"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_service_built_from_source_is_refused() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(11)).await;
        let cx = app.convox(&token);
        assert_eq!(
            upload(&cx, "tmp/a.tgz", "services:\n  web:\n    build: .\n")
                .await
                .0,
            200
        );
        refused(
            build(&cx, "object://myapp/tmp/a.tgz", &[("git-sha", &sha(11))]).await,
            422,
            "builds from source",
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_second_upload_or_build_under_one_approval_is_refused() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(12)).await;
        let cx = app.convox(&token);
        let manifest = manifest_for(&sha(12));
        assert_eq!(upload(&cx, "tmp/a.tgz", &manifest).await.0, 200);
        refused(
            upload(&cx, "tmp/b.tgz", &manifest).await,
            409,
            "is bound to object://myapp/tmp/a.tgz",
        );
        let (status, body) = build(&cx, "object://myapp/tmp/a.tgz", &[("git-sha", &sha(12))]).await;
        assert_eq!(status, 200, "{body}");
        // The tarball cannot be swapped once the build was requested...
        refused(
            upload(&cx, "tmp/a.tgz", &manifest).await,
            409,
            "already completed object upload",
        );
        // ...and a second build of it is refused while the first did not fail.
        refused(
            build(&cx, "object://myapp/tmp/a.tgz", &[("git-sha", &sha(12))]).await,
            409,
            "already completed build",
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn promoting_a_release_that_is_not_the_approved_builds_is_refused() {
    for app in spawn().await {
        // A release made on the rack outside the approval (e.g. by an old deploy).
        let direct = Convox::new(app.rack.url(), rgw_testkit::RACK_PASSWORD);
        let r = direct
            .post_form(&format!("/apps/{RACK_APP}/releases"), &[("env", "A=1")])
            .await;
        let foreign: serde_json::Value = r.json().await.unwrap();
        let foreign = foreign["id"].as_str().unwrap().to_owned();
        let (token, _) = app.approved_deploy(&sha(13)).await;
        let cx = app.convox(&token);
        let r = cx
            .post_form(
                &format!("/apps/{RACK_APP}/releases/{foreign}/promote"),
                &[("force", "false")],
            )
            .await;
        assert_eq!(r.status(), 409, "no build yet: out of order");
        // After the approved build exists, the foreign release is still not promotable.
        let url = cx
            .upload(
                RACK_APP,
                tarball(&[("convox.yml", &manifest_for(&sha(13)))]),
            )
            .await;
        let b = cx
            .create_build(RACK_APP, &url, &[("git-sha", &sha(13))])
            .await;
        cx.wait_build(RACK_APP, b["id"].as_str().unwrap()).await;
        let r = cx
            .post_form(
                &format!("/apps/{RACK_APP}/releases/{foreign}/promote"),
                &[("force", "false")],
            )
            .await;
        assert_eq!(r.status(), 409);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("a different release promote needs a new approval")
        );
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| !r.path.ends_with("/promote"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn two_concurrent_uploads_racing_for_one_approval_have_exactly_one_winner() {
    for app in spawn().await {
        let (token, id) = app.approved_deploy(&sha(14)).await;
        let cx = app.convox(&token);
        let manifest = manifest_for(&sha(14));
        let uploads = (0..6).map(|i| {
            let cx = cx.clone();
            let manifest = manifest.clone();
            async move { upload(&cx, &format!("tmp/race{i}.tgz"), &manifest).await.0 }
        });
        let statuses = futures_util::future::join_all(uploads).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        let reached = app
            .rack
            .requests()
            .iter()
            .filter(|r| r.method == reqwest::Method::POST && r.path.contains("/objects/tmp/race"))
            .count();
        assert_eq!(reached, 1, "exactly one upload reached the rack");
        let (_, req) = app.get_approval(&token, &id).await;
        assert!(
            req["object_url"]
                .as_str()
                .unwrap()
                .starts_with("object://myapp/tmp/race")
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn approving_a_newer_request_leaves_only_one_live_approval_for_the_app_and_token() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let ci = app.create_token("ci@example.com", "ci", "cicd").await;
        let admin = app.approver("admin@example.com").await;
        let (_, old) = app.request_approval(&ci, &sha(23)).await;
        let (_, new) = app.request_approval(&ci, &sha(24)).await;
        let old_id = old["public_id"].as_str().unwrap();
        assert_eq!(app.approve(&admin, old_id).await.0, 200);
        assert_eq!(
            app.approve(&admin, new["public_id"].as_str().unwrap())
                .await
                .0,
            200
        );
        let (_, old) = app.get_approval(&ci, old_id).await;
        assert_eq!(
            (old["status"].as_str(), old["expired_reason"].as_str()),
            (Some("expired"), Some("superseded"))
        );
        // The old commit can no longer be built.
        refused(
            upload(&app.convox(&ci), "tmp/a.tgz", &manifest_for(&sha(23))).await,
            200,
            "",
        );
        refused(
            build(
                &app.convox(&ci),
                "object://myapp/tmp/a.tgz",
                &[("git-sha", &sha(23))],
            )
            .await,
            422,
            "does not match the approved commit",
        );
        app.cleanup().await;
    }
}
