//! Attacks on the browser edge and the audit trail (issue 15, items 7, 8, 9): browsers riding
//! the session cookie or cached Basic credentials, and denials or changes that leave no (or a
//! forged) trace.

use axum::http::header;
use rgw_server::auth::Channel;
use rgw_testkit::{TestApp, TestOptions, body_json, error_code};
use serde_json::json;

use super::support_proxy::{APP, audit_events, proxy, upgrade_status};

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
        let admin = app
            .session_with_mfa("admin@example.com", Channel::Cli)
            .await;
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

// ---- the audit log's size --------------------------------------------------------------

#[tokio::test]
async fn an_anonymous_caller_cannot_grow_the_audit_log_by_hundreds_of_kilobytes_per_request() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        // Within hyper's 400 KB request head and `http`'s 64 KiB URI: what any caller can send.
        let agent = "A".repeat(150_000);
        let path = format!("/api/v1/rack-proxy/{}", "p".repeat(60_000));
        let r = app
            .get(&path)
            .header(header::USER_AGENT, &agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        app.create_user("viewer@example.com", "viewer", None).await;
        let session = app.session_for("viewer@example.com", Channel::Cli).await;
        let r = app
            .get(&path)
            .bearer_auth(&session)
            .header(header::USER_AGENT, &agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert!(
            r.text().await.unwrap().len() < 4096,
            "the refusal echoes the whole path"
        );

        let events: Vec<_> = audit_events(&app)
            .await
            .into_iter()
            .map(|e| e.record)
            .filter(|r| r.action == "rack.request")
            .collect();
        assert_eq!(events.len(), 2, "{events:#?}");
        for r in &events {
            let stored = r.user_agent.as_deref().unwrap_or("").len()
                + r.resource.as_deref().unwrap_or("").len()
                + rgw_core::audit::canonical_json(&r.details).len();
            assert!(
                stored < 8192,
                "one request stored {stored} bytes of its own text"
            );
            assert!(r.user_agent.as_deref().unwrap_or("").starts_with("AAAA"));
        }
        app.cleanup().await;
    }
}
