//! The operator commands (`users …`, `tokens …`) run as the real binary against the same
//! database as a running gateway.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use rgw_testkit::{TEST_SECRET_KEY, TestApp, body_json, error_code};

fn run(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rack-gateway-server"))
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
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
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
        );
        assert!(ok(&added).starts_with("ops@example.com deployer "));
        let login = app.post("/api/v1/auth/login")
            .json(&serde_json::json!({"email": "ops@example.com", "password": "a long operator password"}))
            .send().await.unwrap();
        assert_eq!(login.status(), 200, "the password read from stdin works");

        let bad = run(
            &app,
            &["users", "add", "--email", "x@example.com", "--role", "cicd"],
            None,
        );
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
        ));
        assert!(ok(&run(&app, &["users", "list"], None)).contains("ops@example.com"));

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
        ));
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
        assert!(ok(&run(&app, &["tokens", "list"], None)).contains("ci@example.com"));

        ok(&run(
            &app,
            &["users", "suspend", "--email", "ci@example.com"],
            None,
        ));
        let (status, body) = body_json(
            app.get("/api/v1/auth/whoami")
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (401, "account_suspended"));

        ok(&run(
            &app,
            &["users", "unlock", "--email", "ops@example.com"],
            None,
        ));
        ok(&run(&app, &["tokens", "revoke", "--name", "ci"], None));
        let revoked = app.store().get_api_token_by_name("ci").await.unwrap();
        assert!(revoked.revoked_at.is_some());
        app.cleanup().await;
    }
}
