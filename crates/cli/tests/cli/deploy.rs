//! `rack-gateway deploy` end to end: the binary tarballs a directory, uploads, builds, follows
//! the log, promotes and waits, through a real gateway's rack proxy in front of a fake rack
//! (fast timing). An approved commit deploys and the request becomes `deployed`; without an
//! approval, past its window, or with a manifest that names other images, the gateway's own
//! refusal is printed and the exit is 1. `.dockerignore` decides what is uploaded.

use std::io::Read as _;
use std::path::Path;

use rgw_testkit::approvals::{manifest_for, sha};
use rgw_testkit::convox::Convox;
use rgw_testkit::{RACK_PASSWORD, TestOptions};

use super::deploy_approval::{collect, git_repo};
use super::*;

/// Runs the binary in `dir` as the CI token `token`.
async fn deploy_in(app: &TestApp, token: &str, dir: &Path, args: &[&str]) -> Out {
    let cli = Cli::new();
    let mut cmd = cli.command(
        args,
        &[
            ("RACK_GATEWAY_URL", app.url.as_str()),
            ("RACK_GATEWAY_API_TOKEN", token),
        ],
    );
    cmd.current_dir(dir);
    collect(cmd).await
}

/// A CI token with no request yet.
async fn ci_token(app: &TestApp) -> String {
    app.create_service_user("ci@example.com").await;
    app.create_token("ci@example.com", "ci", "cicd").await
}

/// A plain directory (no git) holding `convox.yml` for `commit`'s image.
fn context_for(commit: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("convox.yml"), manifest_for(commit)).unwrap();
    dir
}

/// The entry names of the object at `object://myapp/<key>` on the fake rack.
async fn uploaded_names(app: &TestApp, object_url: &str) -> Vec<String> {
    let key = object_url.strip_prefix("object://myapp/").unwrap();
    let rack = Convox::new(app.rack.url(), RACK_PASSWORD);
    let resp = rack.get(&format!("/apps/myapp/objects/{key}")).await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "convox.yml" {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            assert!(text.contains("registry.example.com/myapp:"), "{text}");
        }
        names.push(name);
    }
    names
}

#[tokio::test]
async fn an_approved_commit_deploys_from_git_head_honouring_dockerignore_and_only_once() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        let (repo, head) = git_repo();
        let dir = repo.path();
        // As in CI: the working tree's manifest names the image built for HEAD.
        std::fs::write(dir.join("convox.yml"), manifest_for(&head)).unwrap();
        std::fs::write(
            dir.join(".dockerignore"),
            "# local only\nsecrets.env\n*.log\nnode_modules\n!node_modules/keep.txt\n",
        )
        .unwrap();
        std::fs::write(dir.join("secrets.env"), "PASSWORD=hunter2").unwrap();
        std::fs::write(dir.join("debug.log"), "noise").unwrap();
        std::fs::create_dir_all(dir.join("node_modules/left-pad")).unwrap();
        std::fs::write(dir.join("node_modules/left-pad/index.js"), "x").unwrap();
        std::fs::write(dir.join("node_modules/keep.txt"), "kept").unwrap();
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/app.rb"), "puts 1").unwrap();

        let (token, id) = app.approved_deploy(&head).await;
        let out = deploy_in(&app, &token, dir, &["deploy"]).await;
        out.ok();
        assert!(
            out.stderr.contains("app myapp (from .convox/app)")
                && out
                    .stderr
                    .contains(&format!("commit {head} (from git HEAD)")),
            "the defaults used are named: {out:#?}"
        );
        assert!(
            out.stdout.contains("Building: web"),
            "the build log: {out:#?}"
        );
        let (_, req) = app.get_approval(&token, &id).await;
        assert_eq!(req["status"], "deployed", "{req}");
        let release = req["release_id"].as_str().unwrap();
        let build = req["build_id"].as_str().unwrap();
        assert!(
            out.stdout.contains(&format!("Build: {build}"))
                && out.stdout.contains(&format!("Release: {release}"))
                && out.stdout.trim_end().ends_with("OK"),
            "{out:#?}"
        );
        let rack = Convox::new(app.rack.url(), RACK_PASSWORD);
        let on_rack = rack.get_json("/apps/myapp").await;
        assert_eq!(
            (on_rack["status"].as_str(), on_rack["release"].as_str()),
            (Some("running"), Some(release))
        );
        let b = rack.get_json(&format!("/apps/myapp/builds/{build}")).await;
        assert_eq!(b["git-sha"], head.as_str());
        assert_eq!(b["description"], format!("build {} first", &head[..10]));

        let names = uploaded_names(&app, req["object_url"].as_str().unwrap()).await;
        for kept in [
            "convox.yml",
            ".dockerignore",
            ".convox/app",
            "src/app.rb",
            "node_modules/keep.txt",
        ] {
            assert!(names.iter().any(|n| n == kept), "{kept} in {names:?}");
        }
        for left_out in ["secrets.env", "debug.log", "node_modules/left-pad/index.js"] {
            assert!(
                !names.iter().any(|n| n == left_out),
                "{left_out} in {names:?}"
            );
        }
        assert!(
            names
                .iter()
                .all(|n| !n.starts_with("./") && !n.starts_with('/')),
            "{names:?}"
        );

        // The approval allowed one deploy: a second is refused by the gateway.
        let out = deploy_in(&app, &token, dir, &["deploy", "--output", "json"]).await;
        out.failed(1);
        let doc = out.json();
        assert_eq!(doc["error"]["code"], "deploy_refused", "{out:#?}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(
            out.stderr.contains(message) && message.contains("deploy approval"),
            "{out:#?}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn without_an_approval_or_past_its_window_the_gateways_refusal_is_printed() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        let token = ci_token(&app).await;
        let commit = sha(70);
        let dir = context_for(&commit);
        let args = ["deploy", "--app", "myapp", "--git-commit", &commit];
        app.rack.clear_requests();
        let out = deploy_in(&app, &token, dir.path(), &args).await;
        out.failed(1);
        assert!(
            out.stderr
                .contains("error: deploy approval required for app myapp; request one with"),
            "{out:#?}"
        );
        assert!(
            app.rack.requests().iter().all(|r| r.method != "POST"),
            "nothing reached the rack: {:?}",
            app.rack.requests()
        );

        // Approved, then the 15-minute window passes before the deploy starts.
        let commit = sha(71);
        let dir = context_for(&commit);
        let (token, id) = app.approved_deploy(&commit).await;
        app.clock.advance(time::Duration::minutes(16));
        let out = deploy_in(
            &app,
            &token,
            dir.path(),
            &["deploy", "--app", "myapp", "--git-commit", &commit],
        )
        .await;
        out.failed(1);
        assert!(
            out.stderr
                .contains(&format!("deploy approval {id} expired at")),
            "{out:#?}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_manifest_naming_other_images_is_refused_at_build_and_nothing_is_promoted() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        let commit = sha(72);
        let (token, id) = app.approved_deploy(&commit).await;
        // The image is tagged with another commit than the approved one.
        let dir = context_for(&sha(73));
        let out = deploy_in(
            &app,
            &token,
            dir.path(),
            &["deploy", "--app", "myapp", "--git-commit", &commit],
        )
        .await;
        out.failed(1);
        assert!(
            out.stderr.contains(&format!(
                "image registry.example.com/myapp:{} of service web does not match the approved commit {commit}",
                sha(73)
            )),
            "{out:#?}"
        );
        let (_, req) = app.get_approval(&token, &id).await;
        assert_eq!(req["status"], "approved");
        assert!(req["release_id"].is_null(), "{req}");

        // Local mistakes are usage errors before anything is sent.
        let out = deploy_in(
            &app,
            &token,
            dir.path(),
            &[
                "deploy",
                "--app",
                "myapp",
                "--git-commit",
                &commit,
                "-m",
                "prod.yml",
            ],
        )
        .await;
        out.failed(2);
        assert!(out.stderr.contains("no manifest prod.yml"), "{out:#?}");
        std::fs::write(dir.path().join(".dockerignore"), "*.yml\n").unwrap();
        let out = deploy_in(
            &app,
            &token,
            dir.path(),
            &["deploy", "--app", "myapp", "--git-commit", &commit],
        )
        .await;
        out.failed(2);
        assert!(out.stderr.contains("excluded by .dockerignore"), "{out:#?}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn with_approvals_off_a_deploy_prints_one_json_document_and_a_failed_build_exits_1() {
    let off = TestOptions {
        env: vec![(
            "RGW_SETTING_DEPLOY_APPROVALS_ENABLED".into(),
            "false".into(),
        )],
    };
    for app in TestApp::spawn_all_fast(off).await {
        let token = ci_token(&app).await;
        let commit = sha(74);
        let dir = context_for(&commit);
        let out = deploy_in(
            &app,
            &token,
            dir.path(),
            &[
                "deploy",
                "--app",
                "myapp",
                "--git-commit",
                &commit,
                "--description",
                "release 42",
                "--output",
                "json",
            ],
        )
        .await;
        out.ok();
        let doc = out.json();
        assert_eq!(doc["status"], "deployed");
        assert_eq!(doc["app"], "myapp");
        assert_eq!(doc["git_sha"], commit.as_str());
        let release = doc["release_id"].as_str().unwrap();
        assert!(release.starts_with('R'), "{doc}");
        assert!(
            out.stderr.contains("Building: web"),
            "the log goes to stderr: {out:#?}"
        );
        let rack = Convox::new(app.rack.url(), RACK_PASSWORD);
        assert_eq!(rack.get_json("/apps/myapp").await["release"], release);
        let build = rack
            .get_json(&format!(
                "/apps/myapp/builds/{}",
                doc["build_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(build["description"], "release 42");

        // A build that fails on the rack: its log shows why, and the exit is 1.
        std::fs::write(dir.path().join("convox.yml"), "services: [web\n").unwrap();
        let out = deploy_in(
            &app,
            &token,
            dir.path(),
            &["deploy", "--app", "myapp", "--git-commit", &commit],
        )
        .await;
        out.failed(1);
        assert!(
            out.stdout.contains("ERROR: ") && out.stderr.contains("(build_failed)"),
            "{out:#?}"
        );
        assert_eq!(rack.get_json("/apps/myapp").await["release"], release);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_admin_deploys_with_the_saved_login_session() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        // Humans are gated by role and a fresh MFA step-up (the login's), not by approvals.
        let w = super::deploy_approval::World::new(&app).await;
        let commit = sha(75);
        let dir = context_for(&commit);
        let mut cmd = w
            .admin
            .command(&["deploy", "--app", "myapp", "--git-commit", &commit], &[]);
        cmd.current_dir(dir.path());
        let out = collect(cmd).await;
        out.ok();
        assert!(
            out.stdout.contains(&format!("git-sha {commit}")),
            "{out:#?}"
        );
        let rack = Convox::new(app.rack.url(), RACK_PASSWORD);
        let current = rack.get_json("/apps/myapp").await;
        let release = current["release"].as_str().unwrap();
        assert!(
            out.stdout.contains(&format!("Release: {release}")),
            "{out:#?}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_deploy_that_outlasts_its_timeout_exits_5() {
    let off = TestOptions {
        env: vec![(
            "RGW_SETTING_DEPLOY_APPROVALS_ENABLED".into(),
            "false".into(),
        )],
    };
    // The default fake rack takes about 3 s per build.
    for app in TestApp::spawn_all_with(off).await {
        let token = ci_token(&app).await;
        let commit = sha(76);
        let dir = context_for(&commit);
        let started = std::time::Instant::now();
        let out = deploy_in(
            &app,
            &token,
            dir.path(),
            &[
                "deploy",
                "--app",
                "myapp",
                "--git-commit",
                &commit,
                "--timeout",
                "1s",
                "--output",
                "json",
            ],
        )
        .await;
        out.failed(5);
        assert_eq!(out.json()["error"]["code"], "deploy_timed_out", "{out:#?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{out:#?}");
        app.cleanup().await;
    }
}
