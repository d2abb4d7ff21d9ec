//! Local login, saved racks, logout, API tokens and usage errors.

use super::*;

#[tokio::test]
async fn a_local_login_reads_the_password_from_stdin_and_saves_the_session_privately() {
    for app in TestApp::spawn_all_with(mfa_policy_on()).await {
        app.create_user("alice@example.com", "admin", Some(PASSWORD))
            .await;
        let cli = Cli::new();
        let out = cli.login(&app, "prod", "alice@example.com", &[]).await;
        out.ok();
        assert!(
            out.stdout.contains("Logged in to prod (http://127.0.0.1:"),
            "{out:#?}"
        );
        assert!(
            out.stderr.contains("rack-gateway mfa enroll totp"),
            "MFA is required by default and the user has none: {out:#?}"
        );

        let config = cli.config();
        let saved = &config["racks"]["prod"];
        assert_eq!(saved["url"], app.url.as_str());
        assert_eq!(saved["email"], "alice@example.com");
        assert!(saved["expires_at"].is_string(), "{config}");
        let token = cli.saved_token("prod");
        assert!(token.starts_with("rgws_"), "{token}");
        assert_eq!(config["current"], "prod");
        assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&cli.config_path()), 0o600);
            assert_eq!(mode(cli.config_path().parent().unwrap()), 0o700);
        }

        let text = cli.run(&["whoami"]).await;
        text.ok();
        assert!(
            text.stdout.contains("user:        alice@example.com"),
            "{text:#?}"
        );
        assert!(text.stdout.contains("role:        admin"), "{text:#?}");
        assert!(text.stdout.contains("(rack prod)"), "{text:#?}");
        assert!(
            text.stdout.contains("mfa:         not enrolled"),
            "{text:#?}"
        );

        let me = cli.run(&["whoami", "--output", "json"]).await.ok().json();
        assert_eq!(me["kind"], "user");
        assert_eq!(me["email"], "alice@example.com");
        assert_eq!(me["rack"], "prod");
        assert_eq!(me["session"]["channel"], "cli");
        assert!(me.get("csrf_token").is_none(), "{me}");
        assert!(!me.to_string().contains(&token));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_account_with_totp_must_give_its_code_at_login() {
    for app in TestApp::spawn_all().await {
        app.create_user("alice@example.com", "admin", Some(PASSWORD))
            .await;
        let secret = enrol_totp(&app, "alice@example.com").await;
        let cli = Cli::new();

        let out = cli.login(&app, "prod", "alice@example.com", &[]).await;
        out.failed(1);
        assert!(
            out.stderr.contains("(mfa_code_required)") && out.stderr.contains("--mfa-code"),
            "{out:#?}"
        );
        assert!(cli.config().is_null(), "nothing is saved without MFA");

        let wrong = cli
            .login(&app, "prod", "alice@example.com", &["--mfa-code", "000000"])
            .await;
        wrong.failed(1);
        assert!(wrong.stderr.starts_with("error: "), "{wrong:#?}");
        assert!(
            wrong.stderr.contains("(mfa_verification_failed)"),
            "{wrong:#?}"
        );

        let code = next_code(&app, &secret);
        let out = cli
            .login(
                &app,
                "prod",
                "alice@example.com",
                &["--mfa-code", &code, "--output", "json"],
            )
            .await;
        let body = out.ok().json();
        assert_eq!(
            (body["rack"].as_str(), body["mfa_verified"].as_bool()),
            (Some("prod"), Some(true)),
            "{body}"
        );
        assert!(body.get("session_token").is_none());
        let me = cli.run(&["whoami", "--output", "json"]).await.ok().json();
        assert!(me["session"]["mfa_verified_at"].is_string(), "{me}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn api_tokens_are_created_listed_and_revoked_by_name_or_id() {
    for app in TestApp::spawn_all().await {
        let cli = Cli::new();
        admin_logged_in_with_totp(&app, &cli).await;

        let created = cli
            .run(&[
                "api-token",
                "create",
                "--name",
                "ci-deploy",
                "--role",
                "cicd",
            ])
            .await;
        created.ok();
        let token = created.stdout.trim().to_owned();
        assert!(
            token.starts_with("rgw_") && !token.contains('\n'),
            "only the token on stdout: {created:#?}"
        );
        assert!(
            created.stderr.contains("Created API token ci-deploy"),
            "{created:#?}"
        );

        // The environment wins over the saved login (the CI path).
        let env = [
            ("RACK_GATEWAY_URL", app.url.as_str()),
            ("RACK_GATEWAY_API_TOKEN", token.as_str()),
        ];
        let me = cli
            .run_with(&["whoami", "--output", "json"], None, &env)
            .await
            .ok()
            .json();
        assert_eq!(
            (me["kind"].as_str(), me["name"].as_str()),
            (Some("token"), Some("ci-deploy"))
        );
        assert_eq!(me["owner_email"], "alice@example.com");

        let scoped = cli
            .run(&[
                "api-token",
                "create",
                "--name",
                "scoped",
                "--permission",
                "gateway:deploy-approval-request:create",
                "--expires-in-days",
                "7",
                "--output",
                "json",
            ])
            .await
            .ok()
            .json();
        assert!(scoped["token"].as_str().unwrap().starts_with("rgw_"));
        assert_eq!(
            scoped["api_token"]["permissions"],
            json!(["gateway:deploy-approval-request:create"])
        );
        assert!(scoped["api_token"]["expires_at"].is_string());

        let list = cli
            .run(&["api-token", "list", "--output", "json"])
            .await
            .ok()
            .json();
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"ci-deploy") && names.contains(&"scoped"),
            "{list}"
        );
        assert!(!list.to_string().contains("rgw_"), "no secrets in the list");
        let table = cli.run(&["api-token", "list"]).await;
        assert!(
            table.ok().stdout.starts_with("NAME") && table.stdout.contains("ci-deploy"),
            "{table:#?}"
        );

        let revoked = cli.run(&["api-token", "revoke", "ci-deploy"]).await;
        assert!(
            revoked.ok().stdout.contains("Revoked API token ci-deploy"),
            "{revoked:#?}"
        );
        let refused = cli.run_with(&["whoami"], None, &env).await;
        refused.failed(1);
        assert!(refused.stderr.contains("(token_revoked)"), "{refused:#?}");

        let id = scoped["api_token"]["public_id"].as_str().unwrap();
        let by_id = cli
            .run(&["api-token", "revoke", id, "--output", "json"])
            .await
            .ok()
            .json();
        assert!(by_id["revoked_at"].is_string(), "{by_id}");

        let missing = cli.run(&["api-token", "revoke", "no-such-token"]).await;
        missing.failed(1);
        assert!(missing.stderr.contains("(token_not_found)"), "{missing:#?}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn two_saved_racks_are_kept_apart_and_rack_picks_one() {
    for app in TestApp::spawn_all().await {
        app.create_user("alice@example.com", "admin", Some(PASSWORD))
            .await;
        app.create_user("bob@example.com", "viewer", Some(PASSWORD))
            .await;
        let cli = Cli::new();
        cli.login(&app, "prod", "alice@example.com", &[]).await.ok();
        cli.login(&app, "staging", "bob@example.com", &[])
            .await
            .ok();
        assert_eq!(
            cli.config()["current"],
            "staging",
            "the last login is current"
        );
        assert_ne!(cli.saved_token("prod"), cli.saved_token("staging"));

        let email = |out: &Out| out.json()["email"].as_str().unwrap().to_owned();
        let current = cli.run(&["whoami", "--output", "json"]).await;
        assert_eq!(email(current.ok()), "bob@example.com");
        let prod = cli
            .run(&["--rack", "prod", "whoami", "--output", "json"])
            .await;
        assert_eq!(email(prod.ok()), "alice@example.com");
        let after = cli
            .run(&["whoami", "--rack", "prod", "--output", "json"])
            .await;
        assert_eq!(
            email(after.ok()),
            "alice@example.com",
            "--rack after the subcommand"
        );

        let unknown = cli.run(&["--rack", "nope", "whoami"]).await;
        unknown.failed(1);
        assert!(unknown.stderr.contains("(rack_not_found)"), "{unknown:#?}");

        // A saved session is never sent to another URL.
        let elsewhere = cli
            .run_with(
                &["whoami"],
                None,
                &[("RACK_GATEWAY_URL", "http://127.0.0.1:9")],
            )
            .await;
        elsewhere.failed(1);
        assert!(
            elsewhere.stderr.contains("(not_logged_in)"),
            "{elsewhere:#?}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn logout_ends_the_session_on_the_gateway_and_forgets_it_even_when_unreachable() {
    for app in TestApp::spawn_all().await {
        app.create_user("alice@example.com", "admin", Some(PASSWORD))
            .await;
        let cli = Cli::new();
        cli.login(&app, "prod", "alice@example.com", &[]).await.ok();
        let token = cli.saved_token("prod");

        let out = cli.run(&["logout"]).await;
        assert!(out.ok().stdout.contains("Logged out of prod."), "{out:#?}");
        assert_eq!(cli.config()["racks"], json!({}));
        assert!(cli.config().get("current").is_none());
        let (status, body) = body_json(
            app.get("/api/v1/auth/whoami")
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (401, "session_expired"));

        // Unreachable gateway: the saved session goes anyway, and the CLI says so.
        cli.login(&app, "prod", "alice@example.com", &[]).await.ok();
        let mut config = cli.config();
        config["racks"]["prod"]["url"] = json!("http://127.0.0.1:9");
        std::fs::write(cli.config_path(), config.to_string()).unwrap();
        let out = cli.run(&["logout", "--rack", "prod"]).await;
        out.failed(1);
        assert!(out.stderr.contains("was removed"), "{out:#?}");
        assert!(out.stderr.contains("(network_error)"), "{out:#?}");
        assert_eq!(cli.config()["racks"], json!({}));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_wrong_password_exits_1_with_the_gateways_message() {
    for app in TestApp::spawn_all().await {
        app.create_user("alice@example.com", "admin", Some(PASSWORD))
            .await;
        let cli = Cli::new();
        let args = [
            "login",
            "prod",
            &app.url,
            "--email",
            "alice@example.com",
            "--password-stdin",
        ];
        let out = cli.run_with(&args, Some("wrong password\n"), &[]).await;
        out.failed(1);
        assert_eq!(
            out.stderr.trim(),
            "error: the email or password is wrong (invalid_credentials)"
        );

        let mut json_args = args.to_vec();
        json_args.extend(["--output", "json"]);
        let out = cli
            .run_with(&json_args, Some("wrong password\n"), &[])
            .await;
        out.failed(1);
        assert_eq!(
            out.json(),
            json!({"error": {"code": "invalid_credentials", "message": "the email or password is wrong"}})
        );
        assert!(cli.config().is_null(), "nothing saved");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let cli = Cli::new();
    for args in [
        vec!["login"],
        vec!["api-token", "create", "--name", "x"],
        vec![
            "api-token",
            "create",
            "--name",
            "x",
            "--role",
            "cicd",
            "--permission",
            "a:b:c",
        ],
        vec!["--output", "yaml", "whoami"],
        vec![
            "login",
            "prod",
            "ftp://gateway.example.com",
            "--email",
            "a@example.com",
            "--password-stdin",
        ],
        vec![
            "login",
            "prod",
            "http://127.0.0.1:9",
            "--email",
            "a@example.com",
        ],
        vec!["login", "prod", "http://127.0.0.1:9", "--password-stdin"],
        vec!["no-such-command"],
    ] {
        let out = cli.run(&args).await;
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
        assert!(out.stderr.contains("error"), "{args:?}: {out:#?}");
    }
    let help = cli.run(&["--help"]).await;
    assert!(help.ok().stdout.contains("api-token"));
}
