//! Single sign-on against a real OpenID provider running in the test process.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rgw_testkit::{TestApp, TestOptions, body_json, cookie_value, error_code};
use serde_json::json;
use sha2::{Digest, Sha256};

use rgw_testkit::oidc::{Scenario, TestProvider, confirm_cli_login};

/// Drives a browser through start → provider → callback; returns the callback response.
async fn browser_login(app: &TestApp, start_url: &str) -> reqwest::Response {
    let start = app.client().get(start_url).send().await.unwrap();
    assert_eq!(start.status(), 302, "start redirects to the provider");
    follow_to_callback(app, start).await
}

/// From a redirect to the provider (with the state cookie) through the provider to the
/// callback; returns the callback response.
async fn follow_to_callback(app: &TestApp, start: reqwest::Response) -> reqwest::Response {
    let (state_cookie, _) = cookie_value(&start, "rgw_oidc_state").expect("state cookie");
    let to_provider = start.headers()["location"].to_str().unwrap().to_owned();
    let at_provider = app.client().get(&to_provider).send().await.unwrap();
    assert_eq!(at_provider.status(), 302);
    let callback = at_provider.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(callback.starts_with(&app.url), "{callback}");
    app.client()
        .get(&callback)
        .header("cookie", format!("rgw_oidc_state={state_cookie}"))
        .send()
        .await
        .unwrap()
}

async fn spawn(provider: &TestProvider, auto_create: Option<&str>) -> Vec<TestApp> {
    TestApp::spawn_all_with(TestOptions {
        env: provider.env("example.com", auto_create),
    })
    .await
}

#[tokio::test]
async fn single_sign_on_logs_an_invited_user_in_and_returns_to_the_page() {
    let provider = TestProvider::spawn().await;
    for app in spawn(&provider, None).await {
        app.create_user("dev@example.com", "deployer", None).await;
        provider.set(Scenario::for_email("Dev@Example.com"));
        let resp = browser_login(
            &app,
            &app.at("/api/v1/auth/oidc/start?return_to=/approvals"),
        )
        .await;
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], "/approvals");
        let (cookie, _) = cookie_value(&resp, "rgw_session").expect("session cookie");
        let me = app
            .get("/api/v1/auth/whoami")
            .header("cookie", format!("rgw_session={cookie}"))
            .send()
            .await
            .unwrap();
        let (status, me) = body_json(me).await;
        assert_eq!(
            (status, me["email"].as_str()),
            (200, Some("dev@example.com"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn single_sign_on_refuses_bad_tokens_unknown_users_and_other_domains() {
    let provider = TestProvider::spawn().await;
    for app in spawn(&provider, None).await {
        app.create_user("dev@example.com", "viewer", None).await;
        let cases: Vec<(Scenario, u16, &str)> = vec![
            (
                Scenario::for_email("stranger@example.com"),
                403,
                "user_not_invited",
            ),
            (
                Scenario::for_email("dev@evil.test"),
                403,
                "oidc_domain_not_allowed",
            ),
            (
                Scenario {
                    audience: Some("someone-else".into()),
                    ..Scenario::for_email("dev@example.com")
                },
                401,
                "oidc_wrong_audience",
            ),
            (
                Scenario {
                    nonce: Some("replayed-nonce".into()),
                    ..Scenario::for_email("dev@example.com")
                },
                401,
                "oidc_wrong_nonce",
            ),
            (
                Scenario {
                    expired: true,
                    ..Scenario::for_email("dev@example.com")
                },
                401,
                "oidc_token_expired",
            ),
            (
                Scenario {
                    hs256: true,
                    ..Scenario::for_email("dev@example.com")
                },
                401,
                "oidc_signature_invalid",
            ),
            (
                Scenario {
                    email_verified: false,
                    ..Scenario::for_email("dev@example.com")
                },
                403,
                "oidc_email_unverified",
            ),
        ];
        for (scenario, status, code) in cases {
            provider.set(scenario.clone());
            let resp = browser_login(&app, &app.at("/api/v1/auth/oidc/start")).await;
            assert!(cookie_value(&resp, "rgw_session").is_none(), "{scenario:?}");
            let (got, body) = body_json(resp).await;
            assert_eq!(
                (got, error_code(&body)),
                (status, code),
                "{scenario:?}: {body}"
            );
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn single_sign_on_creates_unknown_users_with_the_configured_role() {
    let provider = TestProvider::spawn().await;
    for app in spawn(&provider, Some("viewer")).await {
        provider.set(Scenario::for_email("new@example.com"));
        let resp = browser_login(&app, &app.at("/api/v1/auth/oidc/start")).await;
        assert_eq!(resp.status(), 302);
        let user = app
            .store()
            .get_user_by_email("new@example.com")
            .await
            .unwrap();
        assert_eq!(
            (user.role.as_str(), user.password_hash.is_none()),
            ("viewer", true)
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_callback_without_the_browser_binding_cookie_is_refused() {
    let provider = TestProvider::spawn().await;
    for app in spawn(&provider, None).await {
        app.create_user("dev@example.com", "viewer", None).await;
        provider.set(Scenario::for_email("dev@example.com"));
        let start = app.get("/api/v1/auth/oidc/start").send().await.unwrap();
        let to_provider = start.headers()["location"].to_str().unwrap().to_owned();
        let at_provider = app.client().get(&to_provider).send().await.unwrap();
        let callback = at_provider.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        let (status, body) = body_json(app.client().get(&callback).send().await.unwrap()).await;
        assert_eq!((status, error_code(&body)), (400, "login_flow_invalid"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_cli_browser_flow_hands_out_one_session_to_the_holder_of_the_code_verifier() {
    let provider = TestProvider::spawn().await;
    for app in spawn(&provider, None).await {
        app.create_user("dev@example.com", "ops", None).await;
        provider.set(Scenario::for_email("dev@example.com"));
        let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let (status, started) = body_json(
            app.post("/api/v1/auth/cli/start")
                .json(&json!({"code_challenge": challenge}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        let flow_id = started["flow_id"].as_str().unwrap().to_owned();
        let complete = |v: &str| {
            app.post("/api/v1/auth/cli/complete")
                .json(&json!({"flow_id": flow_id, "code_verifier": v}))
                .send()
        };
        let (status, body) = body_json(complete(&verifier).await.unwrap()).await;
        assert_eq!((status, body["status"].as_str()), (202, Some("pending")));

        // The link first shows where the login came from, so a forwarded link is recognisable;
        // its form (in the same browser) continues to the provider.
        let login_url = started["login_url"].as_str().unwrap();
        let (confirmed, html) = confirm_cli_login(app.client(), login_url).await;
        assert!(
            html.contains("127.0.0.1") && html.contains("<form method=\"post\""),
            "{html}"
        );
        assert_eq!(
            confirmed.status(),
            303,
            "the form continues to the provider"
        );
        let page = follow_to_callback(&app, confirmed).await;
        assert_eq!(page.status(), 200);
        assert!(
            cookie_value(&page, "rgw_session").is_none(),
            "the CLI flow sets no browser session"
        );

        let wrong = URL_SAFE_NO_PAD.encode([8u8; 32]);
        let (status, body) = body_json(complete(&wrong).await.unwrap()).await;
        assert_eq!((status, error_code(&body)), (401, "code_verifier_invalid"));
        let (status, body) = body_json(complete(&verifier).await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        let token = body["session_token"].as_str().unwrap().to_owned();
        let (_, me) = body_json(
            app.get("/api/v1/auth/whoami")
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (me["email"].as_str(), me["session"]["channel"].as_str()),
            (Some("dev@example.com"), Some("cli"))
        );
        let (status, body) = body_json(complete(&verifier).await.unwrap()).await;
        assert_eq!(
            (status, error_code(&body)),
            (409, "login_flow_consumed"),
            "exactly once"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn single_sign_on_endpoints_say_so_when_no_issuer_is_configured() {
    let app = TestApp::spawn_on(
        rgw_store::testing::sqlite_test_store().await,
        TestOptions::default(),
    )
    .await;
    let (status, body) = body_json(app.get("/api/v1/auth/oidc/start").send().await.unwrap()).await;
    assert_eq!((status, error_code(&body)), (404, "oidc_not_configured"));
    app.cleanup().await;
}

#[tokio::test]
async fn an_operator_can_unlink_a_single_sign_on_binding_so_that_the_next_login_binds_again() {
    let provider = TestProvider::spawn().await;
    for app in spawn(&provider, None).await {
        app.create_user("dev@example.com", "viewer", None).await;
        provider.set(Scenario {
            subject: Some("old-subject".into()),
            ..Scenario::for_email("dev@example.com")
        });
        let resp = browser_login(&app, &app.at("/api/v1/auth/oidc/start")).await;
        assert_eq!(resp.status(), 302);
        // The account was re-created at the provider: a new subject is refused...
        provider.set(Scenario {
            subject: Some("new-subject".into()),
            ..Scenario::for_email("dev@example.com")
        });
        let (status, body) =
            body_json(browser_login(&app, &app.at("/api/v1/auth/oidc/start")).await).await;
        assert_eq!((status, error_code(&body)), (403, "oidc_identity_mismatch"));
        // ...until an operator unlinks the old binding.
        // Async: a blocking wait would freeze this test's runtime, and with it the gateway,
        // possibly in the middle of an audit transaction the command then waits for.
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rack-gateway-server"))
            .args(["users", "unlink-sso", "--email", "dev@example.com"])
            .env_clear()
            .env("RGW_DATABASE_URL", &app.database_url)
            .env("RGW_SECRET_KEY", rgw_testkit::TEST_SECRET_KEY)
            .env("RGW_LOG", "warn")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let resp = browser_login(&app, &app.at("/api/v1/auth/oidc/start")).await;
        assert_eq!(resp.status(), 302);
        let user = app
            .store()
            .get_user_by_email("dev@example.com")
            .await
            .unwrap();
        assert_eq!(user.oidc_subject.as_deref(), Some("new-subject"));
        app.cleanup().await;
    }
}
