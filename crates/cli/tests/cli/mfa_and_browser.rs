//! MFA enrolment from the CLI and the browser (OpenID Connect) login.

use super::*;

#[tokio::test]
async fn mfa_enroll_totp_then_confirming_with_a_code_verifies_the_session_and_shows_backup_codes() {
    for app in TestApp::spawn_all_with(mfa_policy_on()).await {
        app.create_user("alice@example.com", "admin", Some(PASSWORD))
            .await;
        let cli = Cli::new();
        cli.login(&app, "prod", "alice@example.com", &[]).await.ok();
        let status = cli
            .run(&["mfa", "status", "--output", "json"])
            .await
            .ok()
            .json();
        assert_eq!(
            (status["enrolled"].as_bool(), status["required"].as_bool()),
            (Some(false), Some(true))
        );

        let started = cli.run(&["mfa", "enroll", "totp"]).await;
        started.ok();
        assert!(
            started.stdout.contains("URI:    otpauth://totp/"),
            "{started:#?}"
        );
        assert!(
            started.stdout.contains('▀') || started.stdout.contains('▄'),
            "a QR code"
        );
        assert!(
            started.stdout.contains("--code"),
            "says how to confirm: {started:#?}"
        );
        let secret = started
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("Secret: "))
            .expect("the secret is printed")
            .trim()
            .to_owned();

        let before = cli.saved_token("prod");
        let code = oathtool(&app, &secret);
        let confirmed = cli.run(&["mfa", "enroll", "totp", "--code", &code]).await;
        confirmed.ok();
        assert!(confirmed.stdout.contains("Backup codes"), "{confirmed:#?}");
        let codes = confirmed
            .stdout
            .lines()
            .filter(|l| l.starts_with("  "))
            .count();
        assert_eq!(codes, 10, "{confirmed:#?}");
        let after = cli.saved_token("prod");
        assert_ne!(before, after, "the rotated session is saved");

        let status = cli
            .run(&["mfa", "status", "--output", "json"])
            .await
            .ok()
            .json();
        assert_eq!(
            (status["enrolled"].as_bool(), status["totp"].as_bool()),
            (Some(true), Some(true))
        );
        assert!(status["session_verified_at"].is_string(), "{status}");
        assert_eq!(status["backup_codes_remaining"], 10);
        cli.run(&["api-token", "list"]).await.ok();

        let fresh = cli
            .run(&["mfa", "backup-codes", "--output", "json"])
            .await
            .ok()
            .json();
        assert_eq!(
            fresh["backup_codes"].as_array().unwrap().len(),
            10,
            "{fresh}"
        );

        let code = next_code(&app, &secret);
        let again = cli.run(&["mfa", "backup-codes", "--mfa-code", &code]).await;
        again.ok();
        assert_ne!(
            cli.saved_token("prod"),
            after,
            "verifying rotates the session again"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_browser_login_waits_for_the_user_and_then_saves_the_session() {
    let provider = TestProvider::spawn().await;
    for app in TestApp::spawn_all_with(TestOptions {
        env: provider.env("example.com", None),
    })
    .await
    {
        app.create_user("dev@example.com", "ops", None).await;
        provider.set_email("dev@example.com");
        let cli = Cli::new();

        // Nobody finishes in the browser: pending until the timeout (exit 5).
        let out = cli
            .run(&["login", "sso", &app.url, "--no-browser", "--timeout", "2"])
            .await;
        out.failed(5);
        assert!(out.stderr.contains("(login_timed_out)"), "{out:#?}");
        assert!(cli.config().is_null());

        let mut child = cli
            .command(&["login", "sso", &app.url, "--no-browser"], &[])
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let login_url = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = stderr.next_line().await.unwrap() {
                if line.starts_with(&app.url) {
                    return line;
                }
            }
            panic!("rack-gateway printed no login URL");
        })
        .await
        .unwrap();

        // The browser: the confirmation page and its form, then the provider and back.
        let (start, _) = confirm_cli_login(app.client(), &login_url).await;
        assert_eq!(start.status(), 303);
        let (state_cookie, _) = cookie_value(&start, "rgw_oidc_state").expect("state cookie");
        let to_provider = start.headers()["location"].to_str().unwrap().to_owned();
        let at_provider = app.client().get(&to_provider).send().await.unwrap();
        let callback = at_provider.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        let done = app
            .client()
            .get(&callback)
            .header("cookie", format!("rgw_oidc_state={state_cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);

        let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .expect("the CLI finishes after the browser")
            .unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .await
            .unwrap();
        assert!(status.success(), "{stdout}");
        assert!(stdout.contains("Logged in to sso"), "{stdout}");
        assert_eq!(cli.config()["racks"]["sso"]["email"], "dev@example.com");
        assert_eq!(cli.config()["current"], "sso");
        let me = cli.run(&["whoami", "--output", "json"]).await.ok().json();
        assert_eq!(
            (me["email"].as_str(), me["session"]["channel"].as_str()),
            (Some("dev@example.com"), Some("cli"))
        );
        app.cleanup().await;
    }
}
