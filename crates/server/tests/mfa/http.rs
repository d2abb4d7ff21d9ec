//! The MFA HTTP API: API tokens are refused, and a CLI session enrols TOTP, confirms it and
//! gets a rotated, MFA-verified session.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rgw_server::auth::RequestMeta;
use rgw_server::auth::principal::Channel;
use rgw_server::auth::{session, tokens};
use rgw_server::mfa::totp;
use rgw_store::NewApiToken;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::Duration;
use tower::ServiceExt;

use crate::support::envs;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_api_token_is_refused_by_every_mfa_endpoint() {
    for env in envs().await {
        let token = tokens::generate_api_token();
        env.state
            .store
            .create_api_token(
                &NewApiToken {
                    name: "admin-token".into(),
                    token_hash: tokens::hash(&token),
                    owner_user_id: env.user.id,
                    created_by_user_id: Some(env.user.id),
                    role: Some("admin".into()),
                    permissions: vec![],
                    expires_at: None,
                },
                env.clock_now(),
            )
            .await
            .unwrap();
        let app = rgw_server::router(env.state.clone());
        for (method, path, body) in [
            ("GET", "/api/v1/mfa/status", None),
            (
                "POST",
                "/api/v1/mfa/verify",
                Some(json!({"totp": "123456"})),
            ),
            ("POST", "/api/v1/mfa/totp/enroll", None),
        ] {
            let (status, body) = call(&app, method, path, token.expose_secret(), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
            assert_eq!(body["error"]["code"], "mfa_requires_user_session", "{path}");
        }
        env.cleanup().await;
    }
}

#[tokio::test]
async fn a_cli_session_enrols_totp_and_confirming_rotates_it_into_a_verified_session() {
    for env in envs().await {
        let issued = session::issue(
            &env.state,
            env.user.id,
            Channel::Cli,
            &RequestMeta::default(),
            None,
        )
        .await
        .unwrap();
        let old = issued.token.expose_secret().to_owned();
        let app = rgw_server::router(env.state.clone());

        let (status, enrol) = call(&app, "POST", "/api/v1/mfa/totp/enroll", &old, None).await;
        assert_eq!(status, StatusCode::OK, "{enrol}");
        assert!(
            enrol["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        assert!(!enrol["qr_png_base64"].as_str().unwrap().is_empty());
        let secret = SecretString::from(enrol["secret_base32"].as_str().unwrap().to_owned());

        let code = totp::code_at(
            &secret,
            u64::try_from(env.clock_now().unix_timestamp()).unwrap(),
        )
        .unwrap();
        let (status, done) = call(
            &app,
            "POST",
            "/api/v1/mfa/totp/confirm",
            &old,
            Some(json!({"code": code})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["method"], "totp");
        assert_eq!(done["backup_codes"].as_array().unwrap().len(), 10);
        let new = done["session_token"].as_str().unwrap().to_owned();

        let (status, _) = call(&app, "GET", "/api/v1/mfa/status", &old, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "the pre-MFA session token was rotated away"
        );
        let (status, st) = call(&app, "GET", "/api/v1/mfa/status", &new, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(st["enrolled"], true);
        assert_eq!(st["backup_codes_remaining"], 10);
        assert!(st["session_verified_at"].is_string());

        // A bad code through /verify is a 401 with the stable code.
        env.clock.advance(Duration::seconds(30));
        let (status, err) = call(
            &app,
            "POST",
            "/api/v1/mfa/verify",
            &new,
            Some(json!({"totp": "000000"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(err["error"]["code"], "mfa_verification_failed");

        let doc = serde_json::to_value(rgw_server::app::openapi()).unwrap();
        assert!(doc["paths"]["/api/v1/mfa/verify"]["post"].is_object());
        env.cleanup().await;
    }
}

#[tokio::test]
async fn sessions_must_enrol_and_then_verify_mfa_before_other_endpoints() {
    use rgw_server::mfa::enforce;
    for env in envs().await {
        let app = rgw_server::router(env.state.clone()).layer(
            axum::middleware::from_fn_with_state(env.state.clone(), enforce::layer),
        );
        let issued = session::issue(
            &env.state,
            env.user.id,
            Channel::Cli,
            &RequestMeta::default(),
            None,
        )
        .await
        .unwrap();
        let token = issued.token.expose_secret().to_owned();
        let (status, err) = call(&app, "GET", "/api/v1/users", &token, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
        assert_eq!(err["error"]["code"], "mfa_enrollment_required");
        // Who-am-I and the MFA endpoints stay open.
        assert_eq!(
            call(&app, "GET", "/api/v1/auth/whoami", &token, None)
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "GET", "/api/v1/mfa/status", &token, None)
                .await
                .0,
            StatusCode::OK
        );

        // Enrolled (by the operator) but this session has not verified MFA.
        totp::enroll_confirmed(&env.state, &env.who())
            .await
            .unwrap();
        let issued = session::issue(
            &env.state,
            env.user.id,
            Channel::Cli,
            &RequestMeta::default(),
            None,
        )
        .await
        .unwrap();
        let token = issued.token.expose_secret().to_owned();
        let (status, err) = call(&app, "GET", "/api/v1/users", &token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
        assert_eq!(err["error"]["code"], "mfa_required");

        // A verified session passes.
        let secret = totp::confirmed_secret_base32(&env.state, env.user.id)
            .await
            .unwrap()
            .unwrap();
        env.clock.advance(Duration::seconds(30));
        let code = totp::code_at(
            &secret,
            u64::try_from(env.clock_now().unix_timestamp()).unwrap(),
        )
        .unwrap();
        let (status, done) = call(
            &app,
            "POST",
            "/api/v1/mfa/verify",
            &token,
            Some(json!({"totp": code})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        let verified = done["session_token"].as_str().unwrap();
        let (status, body) = call(&app, "GET", "/api/v1/users", verified, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        env.cleanup().await;
    }
}

#[tokio::test]
async fn with_mfa_not_required_a_user_who_is_not_enforced_passes_without_enrolment() {
    use rgw_server::mfa::enforce;
    for env in envs().await {
        let now = env.clock_now();
        env.state
            .store
            .put_setting("", "mfa_require_all_users", &json!(false), None, now)
            .await
            .unwrap();
        assert!(!enforce::require_all_users(&env.state).await);
        // The user's own flag still applies; a user without it is let through.
        assert_eq!(enforce::gate(false, false, false), enforce::Gate::Open);
        assert_eq!(
            enforce::gate(true, false, false),
            enforce::Gate::EnrollmentRequired
        );
        env.cleanup().await;
    }
}
