//! Attacks on the edges of the rack proxy and the audit trail (issue 15, items 1, 7, 8, 9):
//! secrets leaking through routes and encodings the env filter did not know, release writes
//! that slip env past the masked-value restore, browsers riding the session cookie or cached
//! Basic credentials, and denials or changes that leave no (or a forged) trace.

use std::io::Write;

use axum::http::header;
use axum::response::IntoResponse;
use rgw_server::auth::Channel;
use rgw_testkit::{TestApp, TestOptions, body_json, error_code};
use serde_json::{Value, json};

use super::support_proxy::{
    APP, SECRET_ENV, audit_events, deploy_with_secrets, proxy, rack, upgrade_status, upstream,
};

/// A token scoped to exactly `permissions`, owned by a fresh service user.
async fn token_with(app: &TestApp, name: &str, permissions: &[&str]) -> String {
    use rgw_server::api::tokens::{TokenScope, TokenSpec, create_and_audit};
    let owner = app
        .create_service_user(&format!("{name}@example.com"))
        .await;
    let list: Vec<String> = permissions.iter().map(|p| p.to_string()).collect();
    let scope = TokenScope::parse(None, Some(&list)).unwrap();
    let name = rgw_core::TokenName::parse(name).unwrap();
    let (secret, _) = create_and_audit(
        &app.state,
        rgw_server::audit::Actor::System,
        TokenSpec {
            name: &name,
            scope: &scope,
            owner: &owner,
            expires_in: None,
            created_by: None,
        },
        &rgw_server::auth::RequestMeta::default(),
    )
    .await
    .unwrap();
    secrecy::ExposeSecret::expose_secret(&secret).to_owned()
}

/// A release carrying [`SECRET_ENV`], created on the rack directly (no build, no promote).
async fn release_with_secrets(app: &TestApp) -> String {
    let r = rack(app)
        .post_form(&format!("/apps/{APP}/releases"), &[("env", SECRET_ENV)])
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains("hunter2"), "secret leaked: {text}");
    assert!(!text.contains("license-key-1234"), "secret leaked: {text}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The body as text, gunzipped when the gateway passed a gzip body on.
async fn body_text(resp: reqwest::Response) -> String {
    let gzipped = resp
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let bytes = resp.bytes().await.unwrap();
    if gzipped {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
            .unwrap();
        out
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

// ---- item 1: env secrets -------------------------------------------------------------

#[tokio::test]
async fn a_viewer_or_cicd_token_cannot_read_env_secrets_through_system_releases() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        deploy_with_secrets(&app).await;
        app.create_user("viewer@example.com", "viewer", None).await;
        let viewer = app
            .create_token("viewer@example.com", "viewer-tok", "viewer")
            .await;
        app.create_service_user("ci@example.com").await;
        let cicd = app.create_token("ci@example.com", "ci-tok", "cicd").await;
        for credential in [viewer, cicd] {
            let r = proxy(&app, &credential).get("/system/releases").await;
            assert_eq!(r.status(), 200);
            let text = r.text().await.unwrap();
            assert_no_secret(&text);
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v[0]["app"], APP, "{text}");
            assert_eq!(
                v[0]["env"], "",
                "callers without convox:env:read see no env"
            );
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_ops_user_sees_the_apps_listed_secrets_masked_in_system_releases() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        deploy_with_secrets(&app).await;
        app.store()
            .put_setting(
                APP,
                "secret_env_vars",
                &json!(["LICENSE"]),
                None,
                rgw_core::Clock::now(&rgw_core::SystemClock),
            )
            .await
            .unwrap();
        app.create_user("ops@example.com", "ops", None).await;
        let ops = app.create_token("ops@example.com", "ops-tok", "ops").await;
        let v = proxy(&app, &ops).get_json("/system/releases").await;
        assert_eq!(
            v[0]["env"],
            "DB_PASSWORD=********\nLICENSE=********\nPORT=3000"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_broken_secret_env_vars_setting_refuses_release_reads_instead_of_masking_less() {
    for app in TestApp::spawn_all().await {
        let release = release_with_secrets(&app).await;
        // Not a list: the setting cannot be read, so the gateway does not know what to mask.
        app.store()
            .put_setting(
                APP,
                "secret_env_vars",
                &json!(42),
                None,
                rgw_core::Clock::now(&rgw_core::SystemClock),
            )
            .await
            .unwrap();
        app.create_user("ops@example.com", "ops", None).await;
        let ops = proxy(
            &app,
            &app.create_token("ops@example.com", "ops-tok", "ops").await,
        );
        for path in [
            format!("/apps/{APP}/releases"),
            format!("/apps/{APP}/releases/{release}"),
        ] {
            let r = ops.get(&path).await;
            assert_eq!(r.status(), 503, "{path}");
            let text = r.text().await.unwrap();
            assert_no_secret(&text);
            assert!(text.contains("secret_env_vars"), "{text}");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_gzip_encoded_release_list_cannot_smuggle_env_secrets_past_the_filter() {
    let releases = br#"[{"id":"RAAAAAAAAAA","app":"myapp","build":"BAAAAAAAAAA","env":"DB_PASSWORD=hunter2\nPORT=3000","manifest":"","description":""}]"#;
    let router = axum::Router::new().route(
        "/apps/myapp/releases",
        axum::routing::get(move || async move {
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                gzip(releases),
            )
                .into_response()
        }),
    );
    let rack_url = upstream(router).await;
    let options = TestOptions {
        env: vec![("RGW_RACK_URL".into(), rack_url)],
    };
    for app in TestApp::spawn_all_with(options.clone()).await {
        app.create_user("ops@example.com", "ops", None).await;
        let ops = app.create_token("ops@example.com", "ops-tok", "ops").await;
        let r = proxy(&app, &ops)
            .request(reqwest::Method::GET, &format!("/apps/{APP}/releases"))
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = body_text(r).await;
        assert_no_secret(&text);
        assert!(text.contains("DB_PASSWORD=********"), "{text}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_release_answer_the_gateway_cannot_read_is_refused_not_passed_through() {
    let router = axum::Router::new()
        .route(
            "/system/releases",
            axum::routing::get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"[{"id":"RAAAAAAAAAA","app":"myapp","env":"DB_PASSWORD=hunter2""#,
                )
                    .into_response()
            }),
        )
        .route(
            "/apps/myapp/releases/RAAAAAAAAAA",
            axum::routing::get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CONTENT_ENCODING, "br"),
                    ],
                    r#"{"id":"RAAAAAAAAAA","env":"DB_PASSWORD=hunter2"}"#,
                )
                    .into_response()
            }),
        );
    let options = TestOptions {
        env: vec![("RGW_RACK_URL".into(), upstream(router).await)],
    };
    for app in TestApp::spawn_all_with(options.clone()).await {
        app.create_user("ops@example.com", "ops", None).await;
        let ops = proxy(
            &app,
            &app.create_token("ops@example.com", "ops-tok", "ops").await,
        );
        for path in ["/system/releases", "/apps/myapp/releases/RAAAAAAAAAA"] {
            let r = ops.get(path).await;
            assert_eq!(r.status(), 502, "{path}");
            assert_no_secret(&r.text().await.unwrap());
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_build_export_cannot_carry_the_rack_password_out() {
    let external = r#"{"id":"BAAAAAAAAAA","app":"myapp","status":"complete","repository":"https://convox:upstream-password-123@api.rack.example/myapp"}"#;
    let plain = r#"{"id":"BBBBBBBBBBB","app":"myapp","status":"complete","repository":""}"#;
    let json = |body: &'static str| {
        axum::routing::get(move || async move {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        })
    };
    // Larger than anything the gateway buffers: exports must stream.
    let big = vec![7u8; 17 << 20];
    let router = axum::Router::new()
        .route("/apps/myapp/builds/BAAAAAAAAAA", json(external))
        .route("/apps/myapp/builds/BBBBBBBBBBB", json(plain))
        .route(
            "/apps/myapp/builds/BAAAAAAAAAA.tgz",
            axum::routing::get(move || async move {
                rgw_testkit::convox::tarball(&[("build.json", external)]).into_response()
            }),
        )
        .route(
            "/apps/myapp/builds/BBBBBBBBBBB.tgz",
            axum::routing::get(move || {
                let big = big.clone();
                async move { big.into_response() }
            }),
        );
    let options = TestOptions {
        env: vec![("RGW_RACK_URL".into(), upstream(router).await)],
    };
    for app in TestApp::spawn_all_with(options.clone()).await {
        app.create_user("deployer@example.com", "deployer", None)
            .await;
        // Release create is a human deploy action: a deployer's CLI session with fresh MFA.
        let deployer = proxy(
            &app,
            &app.session_with_mfa("deployer@example.com", Channel::Cli)
                .await,
        );
        let r = deployer.get("/apps/myapp/builds/BAAAAAAAAAA.tgz").await;
        assert_eq!(r.status(), 403);
        let bytes = r.bytes().await.unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("upstream-password-123"),
            "the export carried the rack password"
        );
        let r = deployer.get("/apps/myapp/builds/BBBBBBBBBBB.tgz").await;
        assert_eq!(r.status(), 200, "an export without credentials streams");
        assert_eq!(r.bytes().await.unwrap().len(), 17 << 20);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_env_in_the_query_string_or_a_multipart_body_cannot_skip_the_release_create_checks() {
    for app in TestApp::spawn_all().await {
        release_with_secrets(&app).await;
        app.create_user("deployer@example.com", "deployer", None)
            .await;
        let writer = proxy(
            &app,
            &app.session_with_mfa("deployer@example.com", Channel::Cli)
                .await,
        );
        // A token that may create releases but not read the env (refused outright now: API
        // tokens never create releases).
        let token_writer = proxy(
            &app,
            &token_with(&app, "writer", &["convox:release:create"]).await,
        );
        app.rack.clear_requests();

        let r = writer
            .request(
                reqwest::Method::POST,
                &format!("/apps/{APP}/releases?env=DB_PASSWORD%3D"),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());

        let boundary = "XyZboundary";
        let multipart = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"env\"\r\n\r\nDB_PASSWORD=\r\n--{boundary}--\r\n"
        );
        let r = writer
            .request(reqwest::Method::POST, &format!("/apps/{APP}/releases"))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{}", r.text().await.unwrap());

        let r = writer
            .request(reqwest::Method::POST, &format!("/apps/{APP}/releases"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("env", "DB_PASSWORD=")
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());

        // An empty env is an env too: it would remove every variable the caller cannot see.
        let r = token_writer
            .post_form(&format!("/apps/{APP}/releases"), &[("env", "")])
            .await;
        assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());

        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.line() != format!("POST /apps/{APP}/releases")),
            "a refused release create reached the rack"
        );
        let latest = rack(&app)
            .get_json(&format!("/apps/{APP}/releases?limit=1"))
            .await;
        assert_eq!(latest[0]["env"], SECRET_ENV);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_lowercase_percent_encoded_mask_cannot_overwrite_a_stored_secret() {
    for app in TestApp::spawn_all().await {
        release_with_secrets(&app).await;
        app.create_user("deployer@example.com", "deployer", None)
            .await;
        // Release create is a human deploy action: a deployer's CLI session with fresh MFA.
        let deployer = proxy(
            &app,
            &app.session_with_mfa("deployer@example.com", Channel::Cli)
                .await,
        );
        // `convox env set PORT=4000` after reading the masked env, with `*` escaped as `%2a`.
        let r = deployer
            .request(reqwest::Method::POST, &format!("/apps/{APP}/releases"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                "env=DB_PASSWORD%3D%2a%2a%2a%2a%2a%2a%2a%2a%0ALICENSE%3D%2a%2A*%2a%2A*%2a*%0APORT%3D4000",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let latest = rack(&app)
            .get_json(&format!("/apps/{APP}/releases?limit=1"))
            .await;
        assert_eq!(
            latest[0]["env"], "DB_PASSWORD=hunter2\nLICENSE=license-key-1234\nPORT=4000",
            "the stored secrets survive a masked write-back"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_parent_release_that_is_not_a_release_id_never_reaches_the_rack_path() {
    for app in TestApp::spawn_all().await {
        release_with_secrets(&app).await;
        app.create_user("deployer@example.com", "deployer", None)
            .await;
        // Release create is a human deploy action: a deployer's CLI session with fresh MFA.
        let deployer = proxy(
            &app,
            &app.session_with_mfa("deployer@example.com", Channel::Cli)
                .await,
        );
        app.rack.clear_requests();
        let r = deployer
            .post_form(
                &format!("/apps/{APP}/releases"),
                &[
                    ("env", "DB_PASSWORD=********\nPORT=4000"),
                    ("parent-release", "RAAAAAAAAAA/../../../../system"),
                ],
            )
            .await;
        assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
        assert!(
            app.rack.requests().is_empty(),
            "the gateway called the rack for a refused release create: {:?}",
            app.rack
                .requests()
                .iter()
                .map(|r| r.line())
                .collect::<Vec<_>>()
        );
        app.cleanup().await;
    }
}

// ---- item 7: browsers and the session cookie ------------------------------------------

#[tokio::test]
async fn a_cross_site_websocket_cannot_ride_the_session_cookie_into_app_logs() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let session = app.session_for("viewer@example.com", Channel::Web).await;
        let cookie = format!("{}={session}", app.cookie_name());
        let path = format!("/api/v1/rack-proxy/apps/{APP}/logs");
        let evil = upgrade_status(
            &app,
            &path,
            &[("Cookie", &cookie), ("Origin", "https://evil.example")],
        )
        .await;
        assert_eq!(evil, 403, "a cross-origin websocket upgraded");
        let missing = upgrade_status(&app, &path, &[("Cookie", &cookie)]).await;
        assert_eq!(missing, 403, "a cookie websocket without Origin upgraded");
        let own = upgrade_status(&app, &path, &[("Cookie", &cookie), ("Origin", &app.url)]).await;
        assert_eq!(own, 101, "the gateway's own pages may open the socket");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_cross_site_page_cannot_read_the_rack_api_with_the_session_cookie() {
    for app in TestApp::spawn_all().await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let session = app.session_for("viewer@example.com", Channel::Web).await;
        let cookie = format!("{}={session}", app.cookie_name());
        let get = |extra: (&'static str, String)| {
            app.get("/api/v1/rack-proxy/apps")
                .header("cookie", cookie.clone())
                .header(extra.0, extra.1)
                .send()
        };
        let r = get(("origin", "https://evil.example".into()))
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = get(("sec-fetch-site", "cross-site".into())).await.unwrap();
        assert_eq!(r.status(), 403);
        let r = get(("origin", app.url.clone())).await.unwrap();
        assert_eq!(r.status(), 200, "same-origin reads still work");
        app.cleanup().await;
    }
}

// ---- item 8: Basic credentials in browsers --------------------------------------------

#[tokio::test]
async fn a_browser_is_never_asked_for_basic_credentials() {
    for app in TestApp::spawn_all().await {
        let r = app.get("/api/v1/rack-proxy/apps").send().await.unwrap();
        assert_eq!(r.status(), 401);
        let challenge = r
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            !challenge.to_ascii_lowercase().starts_with("basic"),
            "a Basic challenge makes browsers cache and replay credentials: {challenge}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_web_session_token_is_refused_as_basic_credentials() {
    for app in TestApp::spawn_all().await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let web = app.session_for("viewer@example.com", Channel::Web).await;
        let r = proxy(&app, &web).get("/apps").await;
        assert_eq!(r.status(), 401, "{}", r.text().await.unwrap());
        let r = app
            .get("/api/v1/auth/whoami")
            .basic_auth("convox", Some(&web))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // CLI sessions (and API tokens) keep working as Basic credentials, but not from a
        // cross-site page that a browser attached them to.
        let cli = app.session_for("viewer@example.com", Channel::Cli).await;
        assert_eq!(proxy(&app, &cli).get("/apps").await.status(), 200);
        let r = proxy(&app, &cli)
            .request(reqwest::Method::GET, "/apps")
            .header("sec-fetch-site", "cross-site")
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        app.cleanup().await;
    }
}

// ---- item 9: audit gaps ---------------------------------------------------------------

#[tokio::test]
async fn denied_gateway_api_calls_each_leave_one_audit_event() {
    for app in TestApp::spawn_all().await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let cli = app.session_for("viewer@example.com", Channel::Cli).await;
        let (status, body) = body_json(
            app.post("/api/v1/users")
                .bearer_auth(&cli)
                .json(&json!({"email": "new@example.com", "role": "admin"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (403, "permission_denied"));
        let (status, body) = body_json(
            app.post("/api/v1/api-tokens")
                .bearer_auth(&cli)
                .json(&json!({"name": "escalate", "role": "admin"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "token_scope_exceeds_caller")
        );
        let r = app
            .get("/api/v1/audit-events")
            .bearer_auth(&cli)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = app.get("/api/v1/users").send().await.unwrap();
        assert_eq!(r.status(), 401);

        let denied: Vec<_> = audit_events(&app)
            .await
            .into_iter()
            .map(|e| e.record)
            .filter(|r| r.outcome == "denied")
            .collect();
        let by_viewer: Vec<_> = denied
            .iter()
            .filter(|r| r.actor_email.as_deref() == Some("viewer@example.com"))
            .collect();
        assert_eq!(by_viewer.len(), 3, "{denied:#?}");
        let mut codes: Vec<&str> = by_viewer
            .iter()
            .map(|r| r.details["code"].as_str().unwrap_or(""))
            .collect();
        codes.sort();
        assert_eq!(
            codes,
            [
                "permission_denied",
                "permission_denied",
                "token_scope_exceeds_caller"
            ]
        );
        assert!(by_viewer.iter().all(|r| r.resource.is_some()
            && r.details["route"].is_string()
            && r.request_id.is_some()));
        let anonymous: Vec<_> = denied
            .iter()
            .filter(|r| r.actor_type == "anonymous")
            .collect();
        assert_eq!(anonymous.len(), 1, "{denied:#?}");
        assert_eq!(anonymous[0].details["code"], "authentication_required");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_refusal_by_the_mfa_layer_is_audited() {
    let options = TestOptions {
        env: vec![("RGW_SETTING_MFA_REQUIRE_ALL_USERS".into(), "true".into())],
    };
    for app in TestApp::spawn_all_with(options.clone()).await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let cli = app.session_for("viewer@example.com", Channel::Cli).await;
        let (status, body) = body_json(
            app.get("/api/v1/users")
                .bearer_auth(&cli)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "mfa_enrollment_required")
        );
        let r = proxy(&app, &cli).get("/apps").await;
        assert_eq!(r.status(), 403);

        let refusals: Vec<_> = audit_events(&app)
            .await
            .into_iter()
            .map(|e| e.record)
            .filter(|r| r.outcome == "denied")
            .collect();
        assert_eq!(refusals.len(), 2, "{refusals:#?}");
        assert!(refusals.iter().all(|r| {
            r.action == "mfa.required"
                && r.actor_email.as_deref() == Some("viewer@example.com")
                && r.details["code"] == "mfa_enrollment_required"
        }));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_client_chosen_request_id_cannot_pose_as_another_call() {
    for app in TestApp::spawn_all().await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let token = app
            .create_token("viewer@example.com", "viewer-tok", "viewer")
            .await;
        let victim = "victim-request-0001";
        app.rack.clear_requests();
        let r = proxy(&app, &token)
            .request(reqwest::Method::GET, "/apps")
            .header("x-request-id", victim)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let ours = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(
            ours, victim,
            "the gateway answered with the client's request id"
        );
        let at_rack = app.rack.requests()[0]
            .header("x-request-id")
            .map(str::to_owned);
        assert_eq!(
            at_rack.as_deref(),
            Some(ours.as_str()),
            "the rack gets the gateway's id"
        );

        let r = app
            .get("/api/v1/auth/whoami")
            .bearer_auth(&token)
            .header("x-request-id", victim)
            .send()
            .await
            .unwrap();
        assert_ne!(r.headers()["x-request-id"], victim);

        let events = audit_events(&app).await;
        let proxied = events
            .iter()
            .map(|e| &e.record)
            .find(|r| r.action == "rack.request")
            .expect("the proxied call is audited");
        assert_eq!(proxied.request_id.as_deref(), Some(ours.as_str()));
        assert_eq!(proxied.details["client_request_id"], victim);
        assert!(
            events
                .iter()
                .all(|e| e.record.request_id.as_deref() != Some(victim)),
            "no event carries the client's id as the gateway's"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_token_or_user_change_is_not_acknowledged_when_its_audit_event_cannot_be_stored() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", None).await;
        let victim = app.create_user("victim@example.com", "viewer", None).await;
        let admin = app.session_for("admin@example.com", Channel::Cli).await;
        let (create, drop) = match app.backend {
            rgw_store::Backend::Sqlite => (
                "CREATE TRIGGER rgw_test_audit_down BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit storage is down'); END;",
                "DROP TRIGGER rgw_test_audit_down;",
            ),
            rgw_store::Backend::Postgres => (
                "CREATE FUNCTION rgw_test_audit_down() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit storage is down'; END $$; \
                 CREATE TRIGGER rgw_test_audit_down BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION rgw_test_audit_down();",
                "DROP TRIGGER rgw_test_audit_down ON audit_events; \
                 DROP FUNCTION rgw_test_audit_down();",
            ),
        };
        app.raw_execute(create).await.unwrap();

        let r = app
            .post("/api/v1/api-tokens")
            .bearer_auth(&admin)
            .json(&json!({"name": "unaudited", "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500, "{}", r.text().await.unwrap());
        assert!(
            app.store()
                .get_api_token_by_name("unaudited")
                .await
                .is_err(),
            "a token exists whose creation was never audited"
        );
        let r = app
            .post(&format!("/api/v1/users/{}/suspend", victim.public_id))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        let victim_now = app.store().get_user(victim.id).await.unwrap();
        assert!(
            victim_now.suspended_at.is_none(),
            "an unaudited suspension was stored"
        );

        app.raw_execute(drop).await.unwrap();
        app.cleanup().await;
    }
}
