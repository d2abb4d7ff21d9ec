//! Helpers for the identity attacks: parallel bursts against one or two gateways, audit
//! counting, and a user with a confirmed TOTP.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rgw_server::mfa::{MfaUser, totp};
use rgw_store::AuditFilter;
use rgw_testkit::oidc::TestProvider;
use rgw_testkit::{TestApp, TestOptions};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const PASSWORD: &str = "correct horse battery staple";

/// `POST /api/v1/auth/login` at `base`, returning the status and error code.
pub async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> (u16, String) {
    let resp = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password, "channel": "cli"}))
        .send()
        .await
        .expect("login request");
    let (status, body) = rgw_testkit::body_json(resp).await;
    (status, rgw_testkit::error_code(&body).to_owned())
}

/// Every audit event with `action` (an exact action), after both gateways flushed.
pub async fn audit_events(apps: &[&TestApp], action: &str) -> Vec<rgw_core::audit::AuditRecord> {
    for app in apps {
        app.state.auditor.flush().await;
    }
    let filter = AuditFilter {
        action: Some(action.to_owned()),
        ..Default::default()
    };
    let page = apps[0]
        .store()
        .list_audit_events(&filter, None, 1000)
        .await
        .expect("list audit events");
    page.events.into_iter().map(|e| e.record).collect()
}

/// Argon2 verifications run by both gateways.
pub fn password_checks(apps: &[&TestApp]) -> u64 {
    apps.iter()
        .map(|a| a.state.auth.password_verifications())
        .sum()
}

/// Enrols a confirmed TOTP for `email`; returns the base32 secret.
pub async fn enrol_totp(app: &TestApp, email: &str) -> SecretString {
    let user = app.store().get_user_by_email(email).await.unwrap();
    let enrolment = totp::enroll_confirmed(&app.state, &MfaUser::from(&user))
        .await
        .expect("enrol TOTP");
    SecretString::from(enrolment.secret_base32.expose_secret().to_owned())
}

/// A six-digit code that is not valid for `secret` at `unix` (nor one step around it).
pub fn wrong_totp(secret: &SecretString, unix: u64) -> String {
    let valid: Vec<String> = [unix - 30, unix, unix + 30]
        .iter()
        .filter_map(|t| totp::code_at(secret, *t))
        .collect();
    (0..1000)
        .map(|n| format!("{:06}", 123_457 + n))
        .find(|c| !valid.contains(c))
        .expect("a wrong code")
}

/// Sends one request per item of `bodies` at once, alternating between the gateways, and
/// returns every status.
pub async fn burst_post(
    apps: &[&TestApp],
    path: &str,
    bearer: Option<&str>,
    bodies: Vec<Value>,
) -> Vec<u16> {
    let http = reqwest::Client::new();
    let bearer = bearer.map(str::to_owned).map(Arc::new);
    let tasks: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let url = apps[i % apps.len()].at(path);
            let (http, bearer) = (http.clone(), bearer.clone());
            tokio::spawn(async move {
                let mut req = http.post(url).json(&body);
                if let Some(b) = bearer {
                    req = req.bearer_auth(b.as_str());
                }
                req.send().await.expect("burst request").status().as_u16()
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("burst task"));
    }
    out
}

/// A gateway per backend with single sign-on against `provider` (domain `example.com`).
pub async fn sso_apps(provider: &TestProvider) -> Vec<TestApp> {
    TestApp::spawn_all_with(TestOptions {
        env: provider.env("example.com", None),
    })
    .await
}

/// Starts a CLI login as the CLI would (`POST /auth/cli/start`); returns the flow id and the
/// login link.
pub async fn start_cli_login(app: &TestApp) -> (String, String) {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(CLI_VERIFIER.as_bytes()));
    let (status, started) = rgw_testkit::body_json(
        app.post("/api/v1/auth/cli/start")
            .json(&json!({"code_challenge": challenge}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    (
        started["flow_id"].as_str().unwrap().to_owned(),
        started["login_url"].as_str().unwrap().to_owned(),
    )
}

/// The PKCE verifier the "CLI" of [`start_cli_login`] keeps.
pub const CLI_VERIFIER: &str = "attacker-cli-verifier-0123456789-0123456789-abcdef";

/// What the CLI side of a flow gets when it polls `POST /auth/cli/complete`.
pub async fn poll_cli_login(app: &TestApp, flow_id: &str) -> (u16, Value) {
    rgw_testkit::body_json(
        app.post("/api/v1/auth/cli/complete")
            .json(&json!({"flow_id": flow_id, "code_verifier": CLI_VERIFIER}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Follows a redirect to the provider (with the state cookie) through the provider to the
/// gateway's callback; returns the callback's answer.
pub async fn follow_to_callback(app: &TestApp, start: reqwest::Response) -> reqwest::Response {
    let (state_cookie, _) =
        rgw_testkit::cookie_value(&start, "rgw_oidc_state").expect("state cookie");
    let to_provider = start.headers()["location"].to_str().unwrap().to_owned();
    let at_provider = app.client().get(&to_provider).send().await.unwrap();
    assert_eq!(at_provider.status(), 302);
    let callback = at_provider.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    app.client()
        .get(&callback)
        .header("cookie", format!("rgw_oidc_state={state_cookie}"))
        .send()
        .await
        .unwrap()
}

/// A complete web single sign-on; returns the callback's status and error code.
pub async fn web_sso(app: &TestApp) -> (u16, String) {
    let start = app.get("/api/v1/auth/oidc/start").send().await.unwrap();
    assert_eq!(start.status(), 302);
    let resp = follow_to_callback(app, start).await;
    let status = resp.status().as_u16();
    let (_, body) = rgw_testkit::body_json(resp).await;
    (status, rgw_testkit::error_code(&body).to_owned())
}
