//! Security keys in real Chromium (a CDP virtual authenticator): register a key on the account
//! page, then approve one request with it. WebAuthn needs the gateway named by host name, so
//! this test runs its own gateway at `http://localhost:PORT` on each backend's fresh store.

use std::sync::Arc;

use rgw_core::{Clock, ManualClock, SystemClock};
use rgw_server::AppState;
use rgw_server::auth::RequestMeta;
use rgw_server::mfa::MfaUser;
use rgw_store::NewUser;
use rgw_store::testing::test_stores;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::support::Browser;

const PASSWORD: &str = "correct horse battery staple";

/// A gateway on `localhost` in front of a fake rack with the app `myapp`.
async fn localhost_gateway(
    store: &rgw_store::testing::TestStore,
) -> (
    String,
    AppState,
    ManualClock,
    tokio::sync::oneshot::Sender<()>,
    fake_rack::FakeRack,
) {
    let rack_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rack = fake_rack::spawn(
        rack_listener,
        fake_rack::Options {
            password: rgw_testkit::RACK_PASSWORD.into(),
            apps: vec![rgw_testkit::RACK_APP.into()],
            ..Default::default()
        },
    )
    .await
    .expect("a fake rack");
    let rack_url = rack.url().replacen(
        "://",
        &format!("://convox:{}@", rgw_testkit::RACK_PASSWORD),
        1,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://localhost:{port}");
    let env = [
        ("RGW_LISTEN", format!("127.0.0.1:{port}")),
        ("RGW_DATABASE_URL", store.url.clone()),
        ("RGW_SECRET_KEY", rgw_testkit::TEST_SECRET_KEY.to_owned()),
        ("RGW_PUBLIC_URL", url.clone()),
        ("RGW_RACK_URL", rack_url),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let config = rgw_server::Config::load(None, env.to_vec()).expect("configuration");
    let clock = ManualClock::new(SystemClock.now());
    let state = AppState::new(config, store.store.clone())
        .unwrap()
        .with_clock(Arc::new(clock.clone()) as Arc<dyn Clock>);
    let serve = state.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = rgw_server::serve(listener, serve, async {
            let _ = stopped.await;
        })
        .await;
    });
    (url, state, clock, stop, rack)
}

fn code(clock: &ManualClock, secret: &SecretString) -> String {
    clock.advance(time::Duration::seconds(30));
    let unix = u64::try_from(clock.now().unix_timestamp()).unwrap();
    rgw_server::mfa::totp::code_at(secret, unix).unwrap()
}

#[tokio::test]
async fn an_admin_registers_a_security_key_and_approves_a_request_with_it_in_chromium() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let cdp = b.driver.cdp();
    cdp.send_raw("WebAuthn.enable", json!({}))
        .await
        .expect("WebAuthn domain");
    cdp.send_raw(
        "WebAuthn.addVirtualAuthenticator",
        json!({"options": {"protocol": "ctap2", "transport": "usb", "hasResidentKey": true,
                           "hasUserVerification": true, "isUserVerified": true,
                           "automaticPresenceSimulation": true}}),
    )
    .await
    .expect("a virtual authenticator");
    for store in test_stores().await {
        let backend = store.backend;
        let (url, state, clock, stop, _rack) = localhost_gateway(&store).await;
        let hash = rgw_server::auth::password::hash_async(SecretString::from(PASSWORD.to_owned()))
            .await
            .unwrap();
        let new = |email: &str, role: &str, pw: Option<String>, service: bool| NewUser {
            email: email.into(),
            name: String::new(),
            role: role.into(),
            password_hash: pw,
            is_service: service,
            mfa_enforced: false,
        };
        let admin = state
            .store
            .create_user(
                &new("admin@example.com", "admin", Some(hash), false),
                clock.now(),
            )
            .await
            .unwrap();
        let totp = rgw_server::mfa::totp::enroll_confirmed(&state, &MfaUser::from(&admin))
            .await
            .unwrap();
        let ci = state
            .store
            .create_user(&new("ci@example.com", "viewer", None, true), clock.now())
            .await
            .unwrap();
        let (token, _) = rgw_server::api::tokens::create_and_audit(
            &state,
            rgw_server::audit::Actor::System,
            rgw_server::api::tokens::TokenSpec {
                name: &rgw_core::TokenName::parse("circleci").unwrap(),
                scope: &rgw_server::api::tokens::TokenScope::parse(Some("cicd"), None).unwrap(),
                owner: &ci,
                expires_in: None,
                created_by: None,
            },
            &RequestMeta::default(),
        )
        .await
        .unwrap();

        // Sign in with password and TOTP.
        b.driver.goto(format!("{url}/account")).await.unwrap();
        b.type_into("#email", "admin@example.com").await;
        b.type_into("#password", PASSWORD).await;
        b.click("form[action='/login'] button[type=submit]").await;
        b.type_into("#code", &code(&clock, &totp.secret_base32))
            .await;
        b.click("form[action='/mfa'] button").await;

        // Register a key from the account page.
        b.type_into("[data-webauthn-name]", "Virtual key").await;
        b.click("[data-webauthn-register]").await;
        b.wait_text("dl.facts", "Virtual key").await;

        // CI asks; the admin approves with the key (the challenge is bound to this request).
        let r = reqwest::Client::new()
            .post(format!("{url}/api/v1/deploy-approval-requests"))
            .bearer_auth(token.expose_secret())
            .json(&json!({"app": "myapp", "git_commit_hash": "9f4c2e17b3a8d6e0c5f1a2b3c4d5e6f708192a3b",
                          "git_branch": "main", "ci_metadata": {}, "message": "key"}))
            .send()
            .await
            .unwrap();
        let (s, req) = rgw_testkit::body_json(r).await;
        assert_eq!(s, 201, "[{backend}] {req}");
        let id = req["public_id"].as_str().unwrap().to_owned();
        b.driver
            .goto(format!("{url}/deploy-approvals/{id}"))
            .await
            .unwrap();
        b.click("[data-webauthn-approve]").await;
        b.wait_text("#request-status", "approved").await;
        let approvals = state
            .store
            .list_approvals(
                state
                    .store
                    .get_request_by_public_id(id.parse().unwrap())
                    .await
                    .unwrap()
                    .id,
            )
            .await
            .unwrap();
        assert_eq!(approvals.len(), 1);
        assert_eq!(approvals[0].mfa_method, "webauthn", "[{backend}]");
        b.driver.delete_all_cookies().await.unwrap();
        let _ = stop.send(());
        state.auditor.shutdown().await;
        store.cleanup().await;
    }
    b.quit().await;
}
