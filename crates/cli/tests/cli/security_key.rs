//! `deploy-approval approve` for an admin whose only factor is a security key: the binary
//! prints the request's web UI page (under `RGW_PUBLIC_URL`, the WebAuthn origin) and waits on
//! the event stream; the test plays the browser's part through the API (start the ceremony,
//! sign with a software passkey, approve), and the binary returns once that approval is
//! recorded. Waiting too long exits 5. `request` prints the same public link.

use std::time::Instant;

use rgw_server::mfa::{MfaUser, webauthn};
use rgw_testkit::approvals::sha;
use tokio::io::AsyncBufReadExt;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::RequestChallengeResponse;

use super::deploy_approval::{World, finish};
use super::*;

const PUBLIC: &str = "https://gateway.example.test";
const EMAIL: &str = "kim@example.com";

/// An admin with one registered software passkey and no TOTP, logged in as rack `prod` (the
/// saved CLI session written as `login` writes it).
async fn admin_with_only_a_key(app: &TestApp, cli: &Cli) -> SoftPasskey {
    let user = app.create_user(EMAIL, "admin", Some(PASSWORD)).await;
    let who = MfaUser::from(&user);
    let mut key = SoftPasskey::new(true);
    let (ceremony, options) = webauthn::start_registration(&app.state, &who)
        .await
        .unwrap();
    let reg = key
        .do_registration(url::Url::parse(PUBLIC).unwrap(), options)
        .unwrap();
    webauthn::finish_registration(&app.state, &who, ceremony, "YubiKey", &reg)
        .await
        .unwrap();
    // The login's second factor was proven in the browser (the gateway holds every session of
    // an enrolled user at MFA verification), so the saved session is MFA-verified.
    let session = app.session_with_mfa(EMAIL, Channel::Cli).await;
    std::fs::create_dir_all(cli.config_path().parent().unwrap()).unwrap();
    std::fs::write(
        cli.config_path(),
        json!({"racks": {"prod": {"url": app.url, "session_token": session, "email": EMAIL}},
               "current": "prod"})
        .to_string(),
    )
    .unwrap();
    key
}

/// What the web UI does when the admin clicks "Approve" and touches the key.
async fn approve_in_the_browser(app: &TestApp, key: &mut SoftPasskey, id: &str) {
    let browser = app.session_with_mfa(EMAIL, Channel::Cli).await;
    let (status, started) = body_json(
        app.post(&format!(
            "/api/v1/deploy-approval-requests/{id}/webauthn/start"
        ))
        .bearer_auth(&browser)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let options: RequestChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let assertion = key
        .do_authentication(url::Url::parse(PUBLIC).unwrap(), options)
        .unwrap();
    let (_, current) = app.get_approval(&browser, id).await;
    let (status, body) = body_json(
        app.post(&format!("/api/v1/deploy-approval-requests/{id}/approve"))
            .bearer_auth(&browser)
            .json(&json!({
                "notes": "checked the diff",
                "intent_digest": current["intent_digest"],
                "mfa": {"webauthn": {"ceremony_id": started["ceremony_id"], "assertion": assertion}},
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_admin_with_only_a_security_key_approves_in_the_web_ui_and_the_cli_returns() {
    let public = TestOptions {
        env: vec![("RGW_PUBLIC_URL".into(), PUBLIC.into())],
    };
    for app in TestApp::spawn_all_with(public).await {
        let w = World::new(&app).await;
        let admin = Cli::new();
        let mut key = admin_with_only_a_key(&app, &admin).await;
        // CI reaches the gateway at its internal address; the link it prints for admins is
        // under the public URL.
        let commit = sha(80);
        let mut cmd = w.ci.command(
            &[
                "deploy-approval",
                "request",
                "--app",
                "myapp",
                "--git-commit",
                &commit,
                "--message",
                "Deploy",
            ],
            &[
                ("RACK_GATEWAY_URL", app.url.as_str()),
                ("RACK_GATEWAY_API_TOKEN", w.token.as_str()),
                ("RGW_PUBLIC_URL", PUBLIC),
            ],
        );
        cmd.current_dir(w.nowhere.path());
        let out = super::deploy_approval::collect(cmd).await;
        out.ok();
        let id = out.stdout.trim().to_owned();
        let link = format!("{PUBLIC}/deploy-approvals/{id}");
        assert!(
            out.stderr.contains(&format!("Review it at {link}")),
            "{out:#?}"
        );
        let env = [("RGW_PUBLIC_URL", PUBLIC)];

        // Nobody approves: it gives up with exit 5, having printed where to approve.
        let mut cmd = admin.command(
            &["deploy-approval", "approve", &id[..8], "--timeout", "1s"],
            &env,
        );
        cmd.current_dir(w.nowhere.path());
        let out = super::deploy_approval::collect(cmd).await;
        out.failed(5);
        assert!(
            out.stderr.contains(&link) && out.stderr.contains("security key"),
            "{out:#?}"
        );
        assert!(
            out.stderr.contains("message:     Deploy"),
            "what is approved is shown: {out:#?}"
        );
        assert!(out.stderr.contains("(wait_timed_out)"), "{out:#?}");

        let mut cmd = admin.command(
            &["deploy-approval", "approve", &id[..8], "--output", "json"],
            &env,
        );
        cmd.current_dir(w.nowhere.path());
        let mut child = cmd.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut shown = String::new();
        while !shown.contains("Waiting for the approval") {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), stderr.read_line(&mut line))
                .await
                .expect("the CLI says what it waits for")
                .unwrap();
            assert!(n > 0, "stderr ended early: {shown}");
            shown.push_str(&line);
        }
        assert!(shown.contains(&link), "{shown}");
        // Let the CLI open the event stream.
        tokio::time::sleep(Duration::from_millis(300)).await;

        approve_in_the_browser(&app, &mut key, &id).await;
        let approved_at = Instant::now();
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .expect("the CLI returns after the approval")
            .unwrap();
        assert!(
            approved_at.elapsed() < Duration::from_secs(1),
            "took {:?}",
            approved_at.elapsed()
        );
        assert_eq!(status.code(), Some(0));
        let out = finish(child).await;
        let doc = out.json();
        assert_eq!(doc["status"], "approved");
        assert_eq!(doc["approvals"][0]["user"], EMAIL);
        assert_eq!(doc["approvals"][0]["mfa_method"], "webauthn");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn with_a_quorum_of_two_the_cli_returns_once_this_admins_key_approval_is_recorded() {
    let options = TestOptions {
        env: vec![
            ("RGW_PUBLIC_URL".into(), PUBLIC.into()),
            ("RGW_SETTING_DEPLOY_APPROVAL_QUORUM".into(), "2".into()),
        ],
    };
    for app in TestApp::spawn_all_with(options).await {
        let w = World::new(&app).await;
        let admin = Cli::new();
        let mut key = admin_with_only_a_key(&app, &admin).await;
        let id = w.request(&app, &sha(81)).await;

        let mut cmd = admin.command(
            &["deploy-approval", "approve", &id, "--no-browser"],
            &[("RGW_PUBLIC_URL", PUBLIC)],
        );
        cmd.current_dir(w.nowhere.path());
        let mut child = cmd.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut shown = String::new();
        while !shown.contains("Waiting for the approval") {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), stderr.read_line(&mut line))
                .await
                .expect("the CLI says what it waits for")
                .unwrap();
            assert!(n > 0, "stderr ended early: {shown}");
            shown.push_str(&line);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        approve_in_the_browser(&app, &mut key, &id).await;
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .expect("the CLI returns once this admin's approval is recorded")
            .unwrap();
        assert_eq!(status.code(), Some(0));
        let out = finish(child).await;
        assert!(
            out.stdout
                .contains(&format!("{id} is pending (1/2 approvals")),
            "{out:#?}"
        );
        let (_, req) = app.get_approval(&w.token, &id).await;
        assert_eq!(req["status"], "pending");
        app.cleanup().await;
    }
}
