//! Local password login: cookie flags, rotation, CLI sessions, lockout across replicas and the
//! unknown-email path.

use rgw_testkit::{TestApp, body_json, cookie_value, error_code};
use serde_json::json;

pub const PASSWORD: &str = "correct horse battery staple";

/// Logs in over HTTP and returns the response.
pub async fn login(app: &TestApp, email: &str, password: &str, channel: &str) -> reqwest::Response {
    app.post("/api/v1/auth/login")
        .json(&json!({ "email": email, "password": password, "channel": channel }))
        .send()
        .await
        .unwrap()
}

/// Logs in on the web channel and returns the session cookie value and the CSRF token.
pub async fn web_login(app: &TestApp, email: &str) -> (String, String) {
    let resp = login(app, email, PASSWORD, "web").await;
    assert_eq!(resp.status(), 200);
    let (cookie, _) = cookie_value(&resp, app.cookie_name()).expect("session cookie");
    let (_, body) = body_json(resp).await;
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn local_login_sets_a_hardened_session_cookie_and_whoami_reports_the_user() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "deployer", Some(PASSWORD))
            .await;
        let resp = login(&app, "Dev@Example.com", PASSWORD, "web").await;
        assert_eq!(resp.status(), 200, "{:?}", app.backend);
        let (cookie, line) =
            cookie_value(&resp, "rgw_session").expect("session cookie on loopback http");
        assert!(cookie.starts_with("rgws_"));
        let lower = line.to_ascii_lowercase();
        assert!(lower.contains("httponly"), "{line}");
        assert!(lower.contains("samesite=lax"), "{line}");
        assert!(lower.contains("path=/"), "{line}");
        assert!(
            !lower.contains("secure"),
            "plain http on loopback is the one exception: {line}"
        );
        let (_, body) = body_json(resp).await;
        assert_eq!(body["user"]["email"], "dev@example.com");
        assert!(
            body.get("session_token").is_none(),
            "web logins never expose the token in JSON"
        );

        let resp = app
            .get("/api/v1/auth/whoami")
            .header("cookie", format!("rgw_session={cookie}"))
            .send()
            .await
            .unwrap();
        let (status, me) = body_json(resp).await;
        assert_eq!(status, 200);
        assert_eq!(me["kind"], "user");
        assert_eq!(me["role"], "deployer");
        assert_eq!(me["session"]["channel"], "web");
        assert_eq!(me["csrf_token"], body["csrf_token"]);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_session_cookie_is_secure_with_a_host_prefix_on_an_https_public_url() {
    let env = vec![(
        "RGW_PUBLIC_URL".to_owned(),
        "https://gateway.example.com".to_owned(),
    )];
    let app = TestApp::spawn_on(
        rgw_store::testing::sqlite_test_store().await,
        rgw_testkit::TestOptions { env },
    )
    .await;
    app.create_user("dev@example.com", "viewer", Some(PASSWORD))
        .await;
    let resp = login(&app, "dev@example.com", PASSWORD, "web").await;
    let (_, line) = cookie_value(&resp, "__Host-rgw_session").expect("__Host- cookie");
    let lower = line.to_ascii_lowercase();
    assert!(
        lower.contains("secure") && lower.contains("httponly") && lower.contains("samesite=lax"),
        "{line}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn login_rotates_the_session_and_the_old_cookie_stops_working() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        let (first, _) = web_login(&app, "dev@example.com").await;
        let resp = app
            .post("/api/v1/auth/login")
            .header("cookie", format!("rgw_session={first}"))
            .json(&json!({ "email": "dev@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        let (second, _) = cookie_value(&resp, "rgw_session").unwrap();
        assert_ne!(first, second);
        let old = app
            .get("/api/v1/auth/whoami")
            .header("cookie", format!("rgw_session={first}"))
            .send()
            .await
            .unwrap();
        let (status, body) = body_json(old).await;
        assert_eq!((status, error_code(&body)), (401, "session_expired"));
        let new = app
            .get("/api/v1/auth/whoami")
            .header("cookie", format!("rgw_session={second}"))
            .send()
            .await
            .unwrap();
        assert_eq!(new.status(), 200);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_cli_login_returns_a_bearer_session_token_that_needs_no_csrf_token() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "ops", Some(PASSWORD))
            .await;
        let resp = login(&app, "dev@example.com", PASSWORD, "cli").await;
        assert!(cookie_value(&resp, "rgw_session").is_none());
        let (status, body) = body_json(resp).await;
        assert_eq!(status, 200);
        let token = body["session_token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("rgws_"));
        assert!(body["expires_at"].as_str().is_some());
        let me = app
            .get("/api/v1/auth/whoami")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (_, me) = body_json(me).await;
        assert_eq!(me["session"]["channel"], "cli");
        assert!(me.get("csrf_token").is_none());
        let out = app
            .post("/api/v1/auth/logout")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        let after = app
            .get("/api/v1/auth/whoami")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (status, body) = body_json(after).await;
        assert_eq!((status, error_code(&body)), (401, "session_expired"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn wrong_passwords_lock_the_email_across_two_gateway_instances_sharing_one_database() {
    for a in TestApp::spawn_all().await {
        let b = a.spawn_replica().await;
        a.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        for i in 0..4 {
            let app = if i % 2 == 0 { &a } else { &b };
            let (status, body) =
                body_json(login(app, "dev@example.com", "wrong password!", "web").await).await;
            assert_eq!(
                (status, error_code(&body)),
                (401, "invalid_credentials"),
                "attempt {i}"
            );
        }
        let (status, body) =
            body_json(login(&b, "dev@example.com", "wrong password!", "web").await).await;
        assert_eq!(
            (status, error_code(&body)),
            (429, "login_locked"),
            "the fifth failure locks"
        );
        let (status, body) = body_json(login(&a, "dev@example.com", PASSWORD, "web").await).await;
        assert_eq!(
            (status, error_code(&body)),
            (429, "login_locked"),
            "the right password waits too"
        );
        // An admin unlock clears the lockout at once.
        let admin = a.create_user("admin@example.com", "admin", None).await;
        let admin = a
            .session_with_mfa(&admin.email, rgw_server::auth::Channel::Cli)
            .await;
        let dev = a
            .store()
            .get_user_by_email("dev@example.com")
            .await
            .unwrap();
        let resp = b
            .post(&format!("/api/v1/users/{}/unlock", dev.public_id))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            login(&a, "dev@example.com", PASSWORD, "web").await.status(),
            200
        );
        // Without an admin, the lockout ends by itself.
        for _ in 0..5 {
            login(&a, "dev@example.com", "wrong password!", "web").await;
        }
        assert_eq!(
            login(&b, "dev@example.com", PASSWORD, "web").await.status(),
            429
        );
        a.clock.advance(time::Duration::minutes(16));
        assert_eq!(
            login(&b, "dev@example.com", PASSWORD, "web").await.status(),
            200
        );
        b.cleanup().await;
        a.cleanup().await;
    }
}

#[tokio::test]
async fn an_unknown_email_runs_one_argon2_verification_like_a_known_one() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        let before = app.state.auth.password_verifications();
        let (s1, unknown) =
            body_json(login(&app, "ghost@example.com", PASSWORD, "web").await).await;
        let mid = app.state.auth.password_verifications();
        let (s2, known) =
            body_json(login(&app, "dev@example.com", "wrong password!", "web").await).await;
        let after = app.state.auth.password_verifications();
        assert_eq!((mid - before, after - mid), (1, 1));
        assert_eq!((s1, s2), (401, 401));
        assert_eq!(
            unknown, known,
            "unknown and known emails get the same answer"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn suspended_and_locked_accounts_cannot_log_in() {
    for app in TestApp::spawn_all().await {
        let s = app
            .create_user("s@example.com", "viewer", Some(PASSWORD))
            .await;
        let l = app
            .create_user("l@example.com", "viewer", Some(PASSWORD))
            .await;
        let now = rgw_core::Clock::now(&app.clock);
        app.store()
            .set_user_suspended(s.id, Some(now), now)
            .await
            .unwrap();
        app.store().lock_user(l.id, "test", now).await.unwrap();
        let (status, body) = body_json(login(&app, "s@example.com", PASSWORD, "web").await).await;
        assert_eq!((status, error_code(&body)), (403, "account_suspended"));
        let (status, body) = body_json(login(&app, "l@example.com", PASSWORD, "web").await).await;
        assert_eq!((status, error_code(&body)), (403, "account_locked"));
        app.cleanup().await;
    }
}
