//! The operator commands (`users …`, `tokens …`) run as the real binary against the same
//! database as a running gateway.

use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;

use rgw_testkit::{TEST_SECRET_KEY, TestApp, body_json, error_code};

/// Runs the binary without blocking the runtime: the gateway (and its audit writer) in this
/// test keep running while the command works on the same database.
async fn run(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rack-gateway-server"))
        .args(args)
        .env_clear()
        .env("RGW_DATABASE_URL", &app.database_url)
        .env("RGW_SECRET_KEY", TEST_SECRET_KEY)
        .env("RGW_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test]
async fn operator_commands_manage_users_and_tokens_in_the_gateway_database() {
    for app in TestApp::spawn_all().await {
        let added = run(
            &app,
            &[
                "users",
                "add",
                "--email",
                "Ops@Example.com",
                "--role",
                "deployer",
                "--password-stdin",
                "--name",
                "Ops",
            ],
            Some("a long operator password\n"),
        )
        .await;
        assert!(ok(&added).starts_with("ops@example.com deployer "));
        let login = app.post("/api/v1/auth/login")
            .json(&serde_json::json!({"email": "ops@example.com", "password": "a long operator password"}))
            .send().await.unwrap();
        assert_eq!(login.status(), 200, "the password read from stdin works");

        let bad = run(
            &app,
            &["users", "add", "--email", "x@example.com", "--role", "cicd"],
            None,
        )
        .await;
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("API tokens only"));
        ok(&run(
            &app,
            &[
                "users",
                "add",
                "--email",
                "ci@example.com",
                "--role",
                "viewer",
            ],
            None,
        )
        .await);
        assert!(ok(&run(&app, &["users", "list"], None).await).contains("ops@example.com"));

        let created = ok(&run(
            &app,
            &[
                "tokens",
                "create",
                "--name",
                "ci",
                "--role",
                "cicd",
                "--owner",
                "ci@example.com",
                "--expires-in",
                "90d",
            ],
            None,
        )
        .await);
        let token = created.strip_suffix('\n').unwrap();
        assert!(
            token.starts_with("rgw_") && token.len() == 47 && !token.contains(' '),
            "stdout is only the token: {created:?}"
        );
        let (status, me) = body_json(
            app.get("/api/v1/auth/whoami")
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, me["role"].as_str()), (200, Some("cicd")));
        assert!(ok(&run(&app, &["tokens", "list"], None).await).contains("ci@example.com"));

        ok(&run(
            &app,
            &["users", "suspend", "--email", "ci@example.com"],
            None,
        )
        .await);
        // The command is another process writing the database: the running gateway sees it
        // within the change feed's bound (at once on PostgreSQL, through its listener).
        rgw_testkit::wait::within(
            rgw_testkit::wait::CHANGE_BOUND,
            "the gateway refuses the suspended owner's token",
            || async {
                let (status, body) = body_json(
                    app.get("/api/v1/auth/whoami")
                        .bearer_auth(token)
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                (status, error_code(&body)) == (401, "account_suspended")
            },
        )
        .await;

        ok(&run(
            &app,
            &["users", "unlock", "--email", "ops@example.com"],
            None,
        )
        .await);
        ok(&run(&app, &["tokens", "revoke", "--name", "ci"], None).await);
        let revoked = app.store().get_api_token_by_name("ci").await.unwrap();
        assert!(revoked.revoked_at.is_some());
        app.cleanup().await;
    }
}
