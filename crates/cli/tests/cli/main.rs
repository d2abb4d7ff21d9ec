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
mod deploy;
mod deploy_approval;
mod deploy_approval_output;
mod login;
mod mfa_and_browser;
mod security_key;
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
