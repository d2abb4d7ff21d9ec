//! End-to-end tests of the `rack-gateway` binary against a real gateway
//! (`rgw_testkit::TestApp`, SQLite always, PostgreSQL when `RGW_TEST_POSTGRES_URL` is set).
//! Each test runs the binary as a child process with its config in a temp dir and no
//! terminal, so nothing ever prompts. TOTP codes come from `oathtool` at the gateway's
//! manual clock, which each new code advances by one 30 s step (codes are single-use per step).
//! Login, token and MFA tests live here; `deploy_approval.rs` has the deploy-approval commands.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rgw_core::Clock;
use rgw_server::auth::Channel;
use rgw_testkit::{TestApp, TestOptions, body_json, cookie_value, error_code};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use rgw_testkit::oidc::{TestProvider, confirm_cli_login};

mod completions;
mod deploy_approval;
mod wait_fallback;

const BIN: &str = env!("CARGO_BIN_EXE_rack-gateway");
const PASSWORD: &str = "correct horse battery staple";

/// What a run of the binary did.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(&self) -> &Out {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    #[track_caller]
    fn failed(&self, code: i32) -> &Out {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// A CLI user: a private config location and the environment the binary runs in.
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The config file (its directory does not exist until the first login).
    fn config_path(&self) -> PathBuf {
        self.dir.path().join("rgw").join("config.json")
    }

    fn config(&self) -> Value {
        match std::fs::read_to_string(self.config_path()) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => Value::Null,
        }
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("RACK_GATEWAY_URL")
            .env_remove("RACK_GATEWAY_API_TOKEN")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", self.dir.path())
            .env("RACK_GATEWAY_CONFIG", self.config_path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, None, &[]).await
    }

    async fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
        let mut cmd = self.command(args, env);
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("start rack-gateway");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).await.unwrap();
            drop(pipe);
        }
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

    /// `login RACK URL --email E --password-stdin [extra…]`.
    async fn login(&self, app: &TestApp, rack: &str, email: &str, extra: &[&str]) -> Out {
        let mut args = vec![
            "login",
            rack,
            &app.url,
            "--email",
            email,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        self.run_with(&args, Some(&format!("{PASSWORD}\n")), &[])
            .await
    }

    fn saved_token(&self, rack: &str) -> String {
        self.config()["racks"][rack]["session_token"]
            .as_str()
            .unwrap_or_else(|| panic!("a saved session for {rack}"))
            .to_owned()
    }
}

/// The code `oathtool` computes for `secret` at the gateway's clock.
fn oathtool(app: &TestApp, secret: &str) -> String {
    let unix = app.clock.now().unix_timestamp();
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", &format!("@{unix}")])
        .output()
        .expect("oathtool is installed (apt-get install oathtool)");
    assert!(out.status.success(), "oathtool failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A fresh code: the next 30 s step on the gateway's clock.
fn next_code(app: &TestApp, secret: &str) -> String {
    app.clock.advance(time::Duration::seconds(30));
    oathtool(app, secret)
}

/// Enrols TOTP for `email` through the API (not the CLI); returns the base32 secret.
async fn enrol_totp(app: &TestApp, email: &str) -> String {
    let session = app.session_for(email, Channel::Cli).await;
    let (status, body) = body_json(
        app.post("/api/v1/mfa/totp/enroll")
            .bearer_auth(&session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret_base32"].as_str().unwrap().to_owned();
    let (status, body) = body_json(
        app.post("/api/v1/mfa/totp/confirm")
            .bearer_auth(&session)
            .json(&json!({ "code": oathtool(app, &secret) }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    secret
}

/// An admin with TOTP, logged in through the CLI as rack `prod`; returns the TOTP secret.
async fn admin_logged_in_with_totp(app: &TestApp, cli: &Cli) -> String {
    app.create_user("alice@example.com", "admin", Some(PASSWORD))
        .await;
    let secret = enrol_totp(app, "alice@example.com").await;
    let code = next_code(app, &secret);
    cli.login(app, "prod", "alice@example.com", &["--mfa-code", &code])
        .await
        .ok();
    secret
}

/// Test gateways turn `mfa_require_all_users` off by default; these tests check the CLI under
/// the production default.
fn mfa_policy_on() -> TestOptions {
    TestOptions {
        env: vec![("RGW_SETTING_MFA_REQUIRE_ALL_USERS".into(), "true".into())],
    }
}

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
