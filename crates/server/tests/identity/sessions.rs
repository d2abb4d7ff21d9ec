//! Sessions: timeouts with a manual clock, CSRF, the three credential carriers, forged
//! credentials, listing and revocation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rgw_server::auth::Channel;
use rgw_server::auth::session::SessionPolicy;
use rgw_testkit::{TestApp, body_json, error_code};
use time::Duration;

use super::login::{PASSWORD, web_login};

async fn whoami_with_cookie(app: &TestApp, cookie: &str) -> (u16, serde_json::Value) {
    body_json(
        app.get("/api/v1/auth/whoami")
            .header("cookie", format!("rgw_session={cookie}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn web_sessions_expire_after_the_idle_timeout_and_activity_extends_them() {
    for app in TestApp::spawn_all().await {
        let policy = SessionPolicy::load(&app.state).await;
        assert_eq!(policy.idle, Duration::minutes(60), "the catalogue default");
        app.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        let (cookie, _) = web_login(&app, "dev@example.com").await;
        let step = policy.idle * 2 / 3;
        app.clock.advance(step);
        assert_eq!(whoami_with_cookie(&app, &cookie).await.0, 200);
        app.clock.advance(step);
        assert_eq!(
            whoami_with_cookie(&app, &cookie).await.0,
            200,
            "activity extended the idle expiry"
        );
        app.clock.advance(policy.idle + Duration::seconds(1));
        let (status, body) = whoami_with_cookie(&app, &cookie).await;
        assert_eq!((status, error_code(&body)), (401, "session_expired"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_idle_timeout_follows_the_session_idle_timeout_minutes_setting() {
    for app in TestApp::spawn_all().await {
        let now = rgw_core::Clock::now(&app.clock);
        app.store()
            .put_setting(
                "",
                "session_idle_timeout_minutes",
                &serde_json::json!(10),
                None,
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            SessionPolicy::load(&app.state).await.idle,
            Duration::minutes(10)
        );
        app.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        let (cookie, _) = web_login(&app, "dev@example.com").await;
        app.clock.advance(Duration::minutes(11));
        assert_eq!(whoami_with_cookie(&app, &cookie).await.0, 401);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn web_sessions_end_at_the_absolute_timeout_despite_activity() {
    for app in TestApp::spawn_all().await {
        let policy = SessionPolicy::load(&app.state).await;
        app.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        let (cookie, _) = web_login(&app, "dev@example.com").await;
        let step = policy.idle / 2;
        let mut elapsed = Duration::ZERO;
        while elapsed + step < policy.absolute {
            app.clock.advance(step);
            elapsed += step;
            assert_eq!(whoami_with_cookie(&app, &cookie).await.0, 200);
        }
        app.clock
            .advance(policy.absolute - elapsed + Duration::seconds(1));
        let (status, body) = whoami_with_cookie(&app, &cookie).await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "session_expired"),
            "absolute timeout"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn cookie_authenticated_unsafe_requests_need_the_session_csrf_token() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        let (cookie, csrf) = web_login(&app, "dev@example.com").await;
        let logout = |token: Option<&str>| {
            let mut req = app
                .post("/api/v1/auth/logout")
                .header("cookie", format!("rgw_session={cookie}"));
            if let Some(t) = token {
                req = req.header("x-csrf-token", t);
            }
            req.send()
        };
        let (status, body) = body_json(logout(None).await.unwrap()).await;
        assert_eq!((status, error_code(&body)), (403, "csrf_token_invalid"));
        let (status, body) = body_json(logout(Some("forged-token")).await.unwrap()).await;
        assert_eq!((status, error_code(&body)), (403, "csrf_token_invalid"));
        assert_eq!(logout(Some(&csrf)).await.unwrap().status(), 204);
        // Bearer callers need no CSRF token.
        let token = app.session_for("dev@example.com", Channel::Web).await;
        assert_eq!(
            app.post("/api/v1/auth/logout")
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status(),
            204
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn bearer_basic_and_cookie_credentials_all_authenticate() {
    for app in TestApp::spawn_all().await {
        let admin = app.create_user("admin@example.com", "admin", None).await;
        let api_token = app.create_token(&admin.email, "ci", "cicd").await;
        let session = app.session_for(&admin.email, Channel::Cli).await;
        for secret in [&api_token, &session] {
            let bearer = app
                .get("/api/v1/auth/whoami")
                .bearer_auth(secret)
                .send()
                .await
                .unwrap();
            assert_eq!(bearer.status(), 200);
            // How the stock convox CLI sends RACK_URL=https://convox:<token>@gateway/...
            let basic = format!("Basic {}", STANDARD.encode(format!("convox:{secret}")));
            let resp = app
                .get("/api/v1/auth/whoami")
                .header("authorization", basic)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
        let (_, me) = body_json(
            app.get("/api/v1/auth/whoami")
                .basic_auth("anything", Some(&api_token))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (me["kind"].as_str(), me["name"].as_str()),
            (Some("token"), Some("ci"))
        );
        assert_eq!(whoami_with_cookie(&app, &session).await.0, 200);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn forged_malformed_and_missing_credentials_get_stable_codes() {
    for app in TestApp::spawn_all().await {
        let forged = format!("rgws_{}", "A".repeat(43));
        let (status, body) = whoami_with_cookie(&app, &forged).await;
        assert_eq!((status, error_code(&body)), (401, "invalid_credentials"));
        for bad in ["garbage", "rgw_short", "Bearer"] {
            let resp = app
                .get("/api/v1/auth/whoami")
                .bearer_auth(bad)
                .send()
                .await
                .unwrap();
            let (status, body) = body_json(resp).await;
            assert_eq!(
                (status, error_code(&body)),
                (401, "invalid_credentials"),
                "{bad}"
            );
        }
        let resp = app
            .get("/api/v1/auth/whoami")
            .header("authorization", "Basic !!!")
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(&body_json(resp).await.1), "invalid_credentials");
        let (status, body) = body_json(app.get("/api/v1/auth/whoami").send().await.unwrap()).await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "authentication_required")
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn users_list_and_revoke_their_own_sessions_and_admins_anyones() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", None).await;
        app.create_user("dev@example.com", "viewer", None).await;
        app.create_user("other@example.com", "viewer", None).await;
        let admin = app.session_for("admin@example.com", Channel::Cli).await;
        let dev = app.session_for("dev@example.com", Channel::Cli).await;
        let dev2 = app.session_for("dev@example.com", Channel::Web).await;
        let other = app.session_for("other@example.com", Channel::Cli).await;

        let (status, mine) = body_json(
            app.get("/api/v1/sessions")
                .bearer_auth(&dev)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        let mine = mine.as_array().unwrap().clone();
        assert_eq!(mine.len(), 2);
        let second = mine.iter().find(|s| s["current"] == false).unwrap()["public_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let resp = app
            .delete(&format!("/api/v1/sessions/{second}"))
            .bearer_auth(&dev)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        assert_eq!(
            app.get("/api/v1/auth/whoami")
                .bearer_auth(&dev2)
                .send()
                .await
                .unwrap()
                .status(),
            401
        );

        // A viewer may neither list nor end someone else's sessions.
        let resp = app
            .get("/api/v1/sessions?user=other@example.com")
            .bearer_auth(&dev)
            .send()
            .await
            .unwrap();
        let (status, body) = body_json(resp).await;
        assert_eq!((status, error_code(&body)), (403, "permission_denied"));
        let (_, theirs) = body_json(
            app.get("/api/v1/sessions?user=other@example.com")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let id = theirs[0]["public_id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.delete(&format!("/api/v1/sessions/{id}"))
                .bearer_auth(&dev)
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            app.delete(&format!("/api/v1/sessions/{id}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .status(),
            204
        );
        let (status, body) = body_json(
            app.get("/api/v1/auth/whoami")
                .bearer_auth(&other)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (401, "session_expired"));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn mfa_rotation_replaces_the_session_and_the_proxy_entry_point_demands_csrf_for_cookies() {
    use rgw_server::auth::{Principal, RequestMeta, authenticate, session};
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "viewer", Some(PASSWORD))
            .await;
        let (cookie, csrf) = web_login(&app, "dev@example.com").await;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cookie", format!("rgw_session={cookie}").parse().unwrap());
        let err = authenticate(&app.state, &headers).await.unwrap_err();
        assert_eq!(
            err.code(),
            "csrf_token_invalid",
            "raw-header callers with a cookie always need the CSRF token"
        );
        headers.insert("x-csrf-token", csrf.parse().unwrap());
        let Principal::User(user) = authenticate(&app.state, &headers).await.unwrap() else {
            panic!("a session authenticates as a user");
        };
        assert_eq!(user.mfa_verified_at, None);
        let rotated = session::rotate_after_mfa(&app.state, &user, "totp", &RequestMeta::default())
            .await
            .unwrap();
        assert_ne!(rotated.session.public_id, user.session_public_id);
        assert_eq!(
            whoami_with_cookie(&app, &cookie).await.0,
            401,
            "the pre-MFA session is gone"
        );
        let new = secrecy::ExposeSecret::expose_secret(&rotated.token).to_owned();
        let (status, me) = whoami_with_cookie(&app, &new).await;
        assert_eq!(status, 200);
        assert!(me["session"]["mfa_verified_at"].is_string());
        app.cleanup().await;
    }
}
