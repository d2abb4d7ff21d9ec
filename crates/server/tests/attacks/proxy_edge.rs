//! Attacks on the edges of the rack proxy and the audit trail (issue 15, items 1, 7, 8, 9):
//! secrets leaking through routes and encodings the env filter did not know, release writes
//! that slip env past the masked-value restore, browsers riding the session cookie or cached
//! Basic credentials, and denials or changes that leave no (or a forged) trace.

use std::io::Write;

use axum::http::header;
use axum::response::IntoResponse;
use rgw_server::auth::Channel;
use rgw_testkit::{TestApp, TestOptions};
use serde_json::{Value, json};

use super::support_proxy::{APP, SECRET_ENV, deploy_with_secrets, proxy, rack, upstream};

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

/// A rack route answering `GET` with `body` labelled as JSON.
fn json_get(body: &'static str) -> axum::routing::MethodRouter {
    axum::routing::get(move || async move {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    })
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
            json_get(r#"[{"id":"RAAAAAAAAAA","app":"myapp","env":"DB_PASSWORD=hunter2""#),
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

/// The proxy skips parsing answers that cannot name an env or a repository; spelling the key
/// with a JSON escape or in another letter case must not slip a release env past the filter.
#[tokio::test]
async fn an_env_spelled_with_escapes_or_odd_case_on_an_unlisted_route_is_still_filtered() {
    let router = axum::Router::new()
        .route(
            "/apps/myapp",
            json_get(r#"{"name":"myapp","\u0065nv":"DB_PASSWORD=hunter2"}"#),
        )
        .route(
            "/apps",
            json_get(r#"[{"name":"myapp","ENV":{"LICENSE":"license-key-1234"}}]"#),
        );
    let options = TestOptions {
        env: vec![("RGW_RACK_URL".into(), upstream(router).await)],
    };
    for app in TestApp::spawn_all_with(options.clone()).await {
        app.create_user("viewer@example.com", "viewer", None).await;
        let viewer = proxy(
            &app,
            &app.create_token("viewer@example.com", "viewer-tok", "viewer")
                .await,
        );
        for path in ["/apps/myapp", "/apps"] {
            let r = viewer.get(path).await;
            assert_eq!(r.status(), 200, "{path}");
            assert_no_secret(&r.text().await.unwrap());
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_build_export_cannot_carry_the_rack_password_out() {
    let external = r#"{"id":"BAAAAAAAAAA","app":"myapp","status":"complete","repository":"https://convox:upstream-password-123@api.rack.example/myapp"}"#;
    let plain = r#"{"id":"BBBBBBBBBBB","app":"myapp","status":"complete","repository":""}"#;
    // Larger than anything the gateway buffers: exports must stream.
    let big = vec![7u8; 17 << 20];
    let router = axum::Router::new()
        .route("/apps/myapp/builds/BAAAAAAAAAA", json_get(external))
        .route("/apps/myapp/builds/BBBBBBBBBBB", json_get(plain))
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
