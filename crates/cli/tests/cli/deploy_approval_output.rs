//! `rack-gateway deploy-approval …`: JSON output shapes, bad input, help, and requests made
//! by admins or while approvals are disabled.

use rgw_testkit::approvals::sha;

use super::deploy_approval::*;
use super::*;

#[tokio::test]
async fn show_list_and_approve_print_api_objects_as_json() {
    for app in TestApp::spawn_all().await {
        let w = World::new(&app).await;
        let out = w
            .ci(
                &app,
                &[
                    "deploy-approval",
                    "request",
                    "--app",
                    "myapp",
                    "--git-commit",
                    &sha(6),
                    "--branch",
                    BRANCH,
                    "--message",
                    "Deploy",
                    "--output",
                    "json",
                ],
            )
            .await;
        let created = out.ok().json();
        assert_eq!(created["status"], "pending");
        assert_eq!(created["app"], "myapp");
        assert_eq!(created["git_commit_hash"], sha(6).as_str());
        assert!(created["ci_metadata"].is_object(), "{created}");
        assert!(created["approvals"].is_array(), "{created}");
        let id = created["public_id"].as_str().unwrap().to_owned();

        let list = w
            .admin(&["deploy-approval", "list", "--output", "json"], &[])
            .await
            .ok()
            .json();
        assert_eq!(
            list["deploy_approval_requests"][0]["public_id"],
            id.as_str()
        );
        assert!(list.get("next_cursor").is_some(), "{list}");
        let list = w
            .ci(
                &app,
                &[
                    "deploy-approval",
                    "list",
                    "--status",
                    "approved",
                    "--output",
                    "json",
                ],
            )
            .await
            .ok()
            .json();
        assert_eq!(list["deploy_approval_requests"], json!([]));

        let shown = w
            .ci(
                &app,
                &["deploy-approval", "show", &id[..6], "--output", "json"],
            )
            .await
            .ok()
            .json();
        assert_eq!(shown, created);
        let text = w.ci(&app, &["deploy-approval", "show", &id]).await;
        text.ok();
        for line in [
            "status:      pending",
            "app:         myapp",
            "approvals:   0/1",
        ] {
            assert!(text.stdout.contains(line), "{line} in {text:#?}");
        }

        let code = next_code(&app, &w.secret);
        let approved = w
            .admin(
                &[
                    "deploy-approval",
                    "approve",
                    &id,
                    "--mfa-code",
                    &code,
                    "--yes",
                    "--output",
                    "json",
                ],
                &[],
            )
            .await
            .ok()
            .json();
        assert_eq!(approved["status"], "approved");
        assert!(approved["approval_expires_at"].is_string(), "{approved}");
        let out = w
            .ci(&app, &["deploy-approval", "wait", &id, "--output", "json"])
            .await;
        assert_eq!(out.ok().json()["status"], "approved");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn bad_input_exits_2_and_refusals_exit_1() {
    for app in TestApp::spawn_all().await {
        let w = World::new(&app).await;
        let request = |extra: &'static [&'static str]| {
            let mut args = vec![
                "deploy-approval",
                "request",
                "--app",
                "myapp",
                "--message",
                "m",
            ];
            args.extend_from_slice(extra);
            args
        };
        let commit = sha(7);
        let usage: Vec<(Vec<&str>, &str)> = vec![
            (
                request(&["--git-commit", "abc123f"]),
                "git_commit_not_found",
            ),
            (
                request(&["--git-commit", "not-a-sha"]),
                "invalid_git_commit",
            ),
            (request(&[]), "git_commit_required"),
            (
                [
                    request(&["--ci-metadata", "[1,2]"]),
                    vec!["--git-commit", &commit],
                ]
                .concat(),
                "",
            ),
            (
                [
                    request(&["--wait", "--timeout", "soon"]),
                    vec!["--git-commit", &commit],
                ]
                .concat(),
                "",
            ),
            (vec!["deploy-approval", "list", "--status", "bogus"], ""),
            (vec!["deploy-approval", "show", "x"], "invalid_request_id"),
        ];
        for (args, code) in usage {
            let out = w
                .ci(&app, &[args.as_slice(), &["--output", "json"]].concat())
                .await;
            out.failed(2);
            if !code.is_empty() {
                assert_eq!(out.json()["error"]["code"], code, "{args:?}: {out:#?}");
            }
        }
        // Nothing was created by the refused commands.
        let list = w
            .ci(&app, &["deploy-approval", "list", "--output", "json"])
            .await
            .ok()
            .json();
        assert_eq!(list["deploy_approval_requests"], json!([]));

        let out = w
            .ci(
                &app,
                &[
                    "deploy-approval",
                    "show",
                    "123e4567-e89b-12d3-a456-426614174000",
                ],
            )
            .await;
        out.failed(1);
        assert!(
            out.stderr.contains("(deploy_approval_request_not_found)"),
            "{out:#?}"
        );
        let id = w.request(&app, &commit).await;
        let out = w
            .ci(
                &app,
                &["deploy-approval", "approve", &id, "--mfa-code", "123456"],
            )
            .await;
        out.failed(1);
        assert!(
            out.stderr.contains("(api_tokens_cannot_approve)"),
            "{out:#?}"
        );
        let out = w.admin(&["deploy-approval", "approve", &id], &[]).await;
        out.failed(1);
        assert!(out.stderr.contains("(mfa_code_required)"), "{out:#?}");
        let out = w
            .admin(
                &["deploy-approval", "approve", &id, "--mfa-code", "000000"],
                &[],
            )
            .await;
        out.failed(1);
        let (_, req) = app.get_approval(&w.token, &id).await;
        assert_eq!(req["status"], "pending");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn help_shows_the_seed_commands_and_exit_codes() {
    let cli = Cli::new();
    let out = cli.run(&["deploy-approval", "--help"]).await;
    out.ok();
    for line in [
        "rack-gateway deploy-approval request --git-commit abc123f --message \"Deploy\" --wait --timeout 20m",
        "rack-gateway deploy-approval approve <request-id> --notes \"Reviewed diff, LGTM\"",
        "rack-gateway deploy-approval list --status pending",
        "3 rejected, 4 expired, 5 timed out",
    ] {
        assert!(out.stdout.contains(line), "{line} in {out:#?}");
    }
    let out = cli.run(&["--help"]).await;
    out.ok();
    for line in [
        "rack-gateway deploy-approval request --app myapp --git-commit \"$SHA\" --branch \"$BRANCH\"",
        "--ci-metadata '{\"workflow_id\":\"abc-123\",\"pipeline_number\":\"42\"}' --message \"Deploy to production\"",
        "rack-gateway deploy-approval approve <request-id> --notes \"Reviewed diff, LGTM\"",
        "rack-gateway deploy-approval list --status pending",
        "rack-gateway deploy --app myapp",
    ] {
        assert!(out.stdout.contains(line), "{line} in {out:#?}");
    }
    let out = cli.run(&["deploy", "--help"]).await;
    out.ok();
    for line in [
        "--manifest <MANIFEST>",
        "--description",
        "[DIR]",
        "5 timed out",
    ] {
        assert!(out.stdout.contains(line), "{line} in {out:#?}");
    }
}

#[tokio::test]
async fn an_admin_requests_for_a_ci_token_named_with_target_token() {
    for app in TestApp::spawn_all().await {
        let w = World::new(&app).await;
        let me = w
            .ci(&app, &["whoami", "--output", "json"])
            .await
            .ok()
            .json();
        let token_id = me["token_public_id"].as_str().unwrap().to_owned();
        let args = [
            "deploy-approval",
            "request",
            "--app",
            "myapp",
            "--git-commit",
            &sha(8),
            "--message",
            "Hotfix",
            "--output",
            "json",
        ];
        let out = w.admin(&args, &[]).await;
        out.failed(1);
        assert_eq!(out.json()["error"]["code"], "target_api_token_required");
        let created = w
            .admin(&[&args[..], &["--target-token", &token_id]].concat(), &[])
            .await
            .ok()
            .json();
        assert_eq!(created["target_api_token_id"], token_id.as_str());
        assert_eq!(created["created_by"], "alice@example.com");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_request_while_approvals_are_disabled_exits_1_with_the_gateways_code() {
    let options = TestOptions {
        env: vec![(
            "RGW_SETTING_DEPLOY_APPROVALS_ENABLED".into(),
            "false".into(),
        )],
    };
    for app in TestApp::spawn_all_with(options).await {
        let w = World::new(&app).await;
        let out = w
            .ci(
                &app,
                &[
                    "deploy-approval",
                    "request",
                    "--app",
                    "myapp",
                    "--git-commit",
                    &sha(9),
                    "--message",
                    "Deploy",
                    "--wait",
                    "--output",
                    "json",
                ],
            )
            .await;
        out.failed(1);
        assert_eq!(
            out.json()["error"]["code"],
            "approvals_disabled",
            "{out:#?}"
        );
        app.cleanup().await;
    }
}
