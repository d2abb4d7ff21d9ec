//! `rack-gateway deploy-approval …` against a real gateway: the seed's commands verbatim, every
//! exit code (0 approved, 1 error, 2 usage, 3 rejected, 4 expired, 5 timed out), the JSON
//! shapes, and `--wait` following the event stream. CI runs as a cicd API token from the
//! environment; the approver is an admin logged in through the CLI with TOTP, whose code the
//! seed's `approve` line gets from `RACK_GATEWAY_MFA_CODE`.

use std::path::Path;
use std::time::Instant;

use rgw_testkit::approvals::sha;

use super::*;

pub(super) const BRANCH: &str = "main";

/// A gateway's CI token and a logged-in admin.
pub(super) struct World {
    pub(super) ci: Cli,
    pub(super) token: String,
    pub(super) admin: Cli,
    pub(super) secret: String,
    /// An empty directory outside any git repository.
    pub(super) nowhere: tempfile::TempDir,
}

impl World {
    pub(super) async fn new(app: &TestApp) -> World {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let admin = Cli::new();
        let secret = admin_logged_in_with_totp(app, &admin).await;
        World {
            ci: Cli::new(),
            token,
            admin,
            secret,
            nowhere: tempfile::tempdir().unwrap(),
        }
    }

    pub(super) fn ci_env<'a>(&'a self, app: &'a TestApp) -> [(&'a str, &'a str); 2] {
        [
            ("RACK_GATEWAY_URL", app.url.as_str()),
            ("RACK_GATEWAY_API_TOKEN", self.token.as_str()),
        ]
    }

    /// The CI token runs `args` in `dir`.
    pub(super) fn ci_command(&self, app: &TestApp, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = self.ci.command(args, &self.ci_env(app));
        cmd.current_dir(dir);
        cmd
    }

    pub(super) async fn ci_in(&self, app: &TestApp, dir: &Path, args: &[&str]) -> Out {
        collect(self.ci_command(app, dir, args)).await
    }

    pub(super) async fn ci(&self, app: &TestApp, args: &[&str]) -> Out {
        self.ci_in(app, self.nowhere.path(), args).await
    }

    pub(super) async fn admin(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = self.admin.command(args, env);
        cmd.current_dir(self.nowhere.path());
        collect(cmd).await
    }

    /// Creates a pending request for `commit` through the CLI; returns its id.
    pub(super) async fn request(&self, app: &TestApp, commit: &str) -> String {
        let out = self
            .ci(
                app,
                &[
                    "deploy-approval",
                    "request",
                    "--app",
                    "myapp",
                    "--git-commit",
                    commit,
                    "--message",
                    "Deploy",
                ],
            )
            .await;
        out.ok();
        out.stdout.trim().to_owned()
    }
}

pub(super) async fn collect(mut cmd: Command) -> Out {
    let child = cmd.spawn().expect("start rack-gateway");
    finish(child).await
}

pub(super) async fn finish(child: tokio::process::Child) -> Out {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("rack-gateway finished within 30 s")
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The id of the request for `commit` once it exists (read as the CI token).
pub(super) async fn request_id_for(app: &TestApp, token: &str, commit: &str) -> String {
    for _ in 0..200 {
        let (status, body) = body_json(
            app.get(&format!(
                "/api/v1/deploy-approval-requests?git_commit_hash={commit}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if let Some(id) = body["deploy_approval_requests"][0]["public_id"].as_str() {
            return id.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no request for {commit} appeared");
}

/// A git repository with one commit and `.convox/app` = `myapp`; returns it and its HEAD.
pub(super) fn git_repo() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=CI", "-c", "user.email=ci@example.com"])
            .args(args)
            .current_dir(dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git is installed");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "-q", "-b", "release/2026-05"]);
    std::fs::create_dir(dir.path().join(".convox")).unwrap();
    std::fs::write(dir.path().join(".convox").join("app"), "myapp\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let head = git(&["rev-parse", "HEAD"]);
    (dir, head)
}

#[tokio::test]
async fn the_seed_commands_work_verbatim() {
    for app in TestApp::spawn_all().await {
        let w = World::new(&app).await;
        let sha_1 = sha(1);

        // rack-gateway deploy-approval request --app myapp --git-commit "$SHA" --branch "$BRANCH" \
        //   --ci-metadata '{"workflow_id":"abc-123","pipeline_number":"42"}' --message "Deploy to production"
        let out = w
            .ci(
                &app,
                &[
                    "deploy-approval",
                    "request",
                    "--app",
                    "myapp",
                    "--git-commit",
                    &sha_1,
                    "--branch",
                    BRANCH,
                    "--ci-metadata",
                    r#"{"workflow_id":"abc-123","pipeline_number":"42"}"#,
                    "--message",
                    "Deploy to production",
                ],
            )
            .await;
        out.ok();
        let id = out.stdout.trim().to_owned();
        assert_eq!(id.len(), 36, "stdout is only the request id: {out:#?}");
        assert!(
            out.stderr
                .contains(&format!("{}/deploy-approvals/{id}", app.url)),
            "the web link is printed: {out:#?}"
        );
        let (_, req) = app.get_approval(&w.token, &id).await;
        assert_eq!(req["git_commit_hash"], sha_1.as_str());
        assert_eq!(req["git_branch"], BRANCH);
        assert_eq!(
            req["ci_metadata"],
            json!({"workflow_id": "abc-123", "pipeline_number": "42"})
        );
        assert_eq!(req["message"], "Deploy to production");

        // rack-gateway deploy-approval list --status pending
        let out = w
            .admin(&["deploy-approval", "list", "--status", "pending"], &[])
            .await;
        out.ok();
        let header = out.stdout.lines().next().unwrap_or_default();
        for col in [
            "ID", "APP", "STATUS", "COMMIT", "BRANCH", "AGE", "EXPIRES", "MESSAGE",
        ] {
            assert!(header.contains(col), "{out:#?}");
        }
        let row = out.stdout.lines().nth(1).unwrap_or_default();
        for cell in [
            id.as_str(),
            "myapp",
            "pending",
            &sha_1[..7],
            "main",
            "Deploy to production",
        ] {
            assert!(row.contains(cell), "{cell} in {out:#?}");
        }

        // rack-gateway deploy-approval approve <request-id> --notes "Reviewed diff, LGTM"
        let code = next_code(&app, &w.secret);
        let out = w
            .admin(
                &[
                    "deploy-approval",
                    "approve",
                    &id,
                    "--notes",
                    "Reviewed diff, LGTM",
                ],
                &[("RACK_GATEWAY_MFA_CODE", &code)],
            )
            .await;
        out.ok();
        assert!(
            out.stdout.contains("is approved (1/1 approvals"),
            "{out:#?}"
        );
        assert!(
            out.stderr.contains("Deploy to production")
                && out.stderr.contains("workflow_id=abc-123"),
            "what is approved is shown first: {out:#?}"
        );
        let (_, req) = app.get_approval(&w.token, &id).await;
        assert_eq!(req["status"], "approved");
        assert_eq!(req["approvals"][0]["user"], "alice@example.com");
        assert_eq!(req["approvals"][0]["notes"], "Reviewed diff, LGTM");
        assert_eq!(req["approvals"][0]["mfa_method"], "totp");

        // rack-gateway deploy-approval request --git-commit abc123f --message "Deploy" --wait --timeout 20m
        // with the abbreviation of a real local commit, app and branch from the repository.
        let (repo, head) = git_repo();
        let short = &head[..7];
        let child = w
            .ci_command(
                &app,
                repo.path(),
                &[
                    "deploy-approval",
                    "request",
                    "--git-commit",
                    short,
                    "--message",
                    "Deploy",
                    "--wait",
                    "--timeout",
                    "20m",
                ],
            )
            .spawn()
            .unwrap();
        let id = request_id_for(&app, &w.token, &head).await;
        let code = next_code(&app, &w.secret);
        w.admin(
            &["deploy-approval", "approve", &id[..8], "--mfa-code", &code],
            &[],
        )
        .await
        .ok();
        let out = finish(child).await;
        out.ok();
        assert!(
            out.stdout.contains(&format!("{id} is approved")),
            "{out:#?}"
        );
        assert!(
            out.stderr.contains("app myapp (from .convox/app)")
                && out.stderr.contains(&format!("expanded {short}"))
                && out.stderr.contains("branch release/2026-05 (from git)"),
            "the defaults used are named: {out:#?}"
        );
        let (_, req) = app.get_approval(&w.token, &id).await;
        assert_eq!(req["git_commit_hash"], head.as_str());
        assert_eq!(req["git_branch"], "release/2026-05");
        assert_eq!(req["app"], "myapp");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_rejected_request_exits_3_and_an_expired_one_exits_4() {
    for app in TestApp::spawn_all().await {
        let w = World::new(&app).await;
        let id = w.request(&app, &sha(2)).await;

        let out = w
            .admin(
                &[
                    "deploy-approval",
                    "reject",
                    &id[..8],
                    "--notes",
                    "not today",
                    "--output",
                    "json",
                ],
                &[],
            )
            .await;
        let rejected = out.ok().json();
        assert_eq!(rejected["public_id"], id.as_str());
        assert_eq!(rejected["status"], "rejected");
        assert_eq!(rejected["rejection_notes"], "not today");

        let out = w
            .ci(&app, &["deploy-approval", "wait", &id, "--output", "json"])
            .await;
        out.failed(3);
        let doc = out.json();
        assert_eq!(
            doc["status"], "rejected",
            "one document, the request: {out:#?}"
        );
        assert!(
            out.stderr.contains("(deploy_approval_rejected)"),
            "{out:#?}"
        );
        w.ci(&app, &["deploy-approval", "wait", &id])
            .await
            .failed(3);

        // A pending request past its TTL (default 1440 min), expired by the sweeper.
        let id = w.request(&app, &sha(3)).await;
        app.clock.advance(time::Duration::minutes(1441));
        let expired = rgw_server::approvals::sweeper::sweep_once(&app.state)
            .await
            .unwrap();
        assert_eq!(expired.len(), 1);
        let out = w
            .ci(&app, &["deploy-approval", "wait", &id, "--output", "json"])
            .await;
        out.failed(4);
        assert_eq!(out.json()["status"], "expired");
        assert_eq!(out.json()["expired_reason"], "pending_ttl");
        let out = w.ci(&app, &["deploy-approval", "wait", &id]).await;
        out.failed(4);
        assert!(out.stdout.contains("is expired"), "{out:#?}");
        assert!(out.stderr.contains("(deploy_approval_expired)"), "{out:#?}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn waiting_times_out_with_exit_5_and_a_duplicate_request_waits_on_the_open_one() {
    for app in TestApp::spawn_all().await {
        let w = World::new(&app).await;
        let commit = sha(4);
        let id = w.request(&app, &commit).await;

        let started = Instant::now();
        let out = w
            .ci(
                &app,
                &[
                    "deploy-approval",
                    "wait",
                    &id,
                    "--timeout",
                    "1s",
                    "--output",
                    "json",
                ],
            )
            .await;
        out.failed(5);
        assert_eq!(out.json()["error"]["code"], "wait_timed_out");
        assert!(started.elapsed() < Duration::from_secs(10), "{out:#?}");

        let dup = [
            "deploy-approval",
            "request",
            "--app",
            "myapp",
            "--git-commit",
            &commit,
            "--message",
            "Deploy",
        ];
        let out = w.ci(&app, &dup).await;
        out.failed(1);
        assert_eq!(out.stdout.trim(), id, "the open request's id: {out:#?}");
        assert!(out.stderr.contains("(open_request_exists)"), "{out:#?}");
        let mut json_args = dup.to_vec();
        json_args.extend(["--output", "json"]);
        let out = w.ci(&app, &json_args).await;
        out.failed(1);
        let doc = out.json();
        assert_eq!(doc["error"]["code"], "open_request_exists");
        assert_eq!(doc["deploy_approval_request"]["public_id"], id.as_str());

        let mut wait_args = dup.to_vec();
        wait_args.extend(["--wait", "--timeout", "2s"]);
        let out = w.ci(&app, &wait_args).await;
        out.failed(5);
        assert!(
            out.stderr.contains("already exists") && out.stderr.contains(&id),
            "waits on the open request: {out:#?}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn wait_returns_within_a_second_of_an_approval() {
    for app in TestApp::spawn_all().await {
        let w = World::new(&app).await;
        let id = w.request(&app, &sha(5)).await;
        let approver = app.approver("bob@example.com").await;

        let mut child = w
            .ci_command(&app, w.nowhere.path(), &["deploy-approval", "wait", &id])
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        tokio::time::timeout(Duration::from_secs(10), stderr.read_line(&mut first))
            .await
            .expect("a first progress line")
            .unwrap();
        assert!(
            first.contains(&format!("{id}: pending, 0/1 approvals")),
            "{first}"
        );
        // Let the CLI open the event stream after its first read.
        tokio::time::sleep(Duration::from_millis(300)).await;

        let (status, body) = app.approve(&approver, &id).await;
        assert_eq!(status, 200, "{body}");
        let approved_at = Instant::now();
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .expect("wait exits after the approval")
            .unwrap();
        assert!(
            approved_at.elapsed() < Duration::from_secs(1),
            "took {:?}",
            approved_at.elapsed()
        );
        assert_eq!(status.code(), Some(0));
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).await.unwrap();
        assert!(rest.contains("approved, 1/1 approvals"), "{rest}");
        app.cleanup().await;
    }
}
