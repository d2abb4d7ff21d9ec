//! API tokens: revocation, expiry and owner status stop them at once (on every replica),
//! scope validation, no escalation, `last_used_at` throttling, and admin-only endpoints.

use rgw_core::Clock;
use rgw_server::auth::Channel;
use rgw_testkit::wait::{CHANGE_BOUND, within};
use rgw_testkit::{TestApp, body_json, error_code};
use serde_json::json;
use time::Duration;

async fn whoami(app: &TestApp, token: &str) -> (u16, String) {
    let (status, body) = body_json(
        app.get("/api/v1/auth/whoami")
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (status, error_code(&body).to_owned())
}

#[tokio::test]
async fn revoking_a_token_stops_it_at_once_here_and_within_the_bound_on_every_replica() {
    for a in TestApp::spawn_all().await {
        let b = a.spawn_replica().await;
        a.create_user("admin@example.com", "admin", None).await;
        let admin = a.session_for("admin@example.com", Channel::Cli).await;
        let resp = a
            .post("/api/v1/api-tokens")
            .bearer_auth(&admin)
            .json(&json!({"name": "ci", "role": "cicd"}))
            .send()
            .await
            .unwrap();
        let (status, created) = body_json(resp).await;
        assert_eq!(status, 201);
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("rgw_") && token.len() == 47);
        assert_eq!(whoami(&b, &token).await.0, 200);
        let id = created["api_token"]["public_id"].as_str().unwrap();
        let resp = a
            .delete(&format!("/api/v1/api-tokens/{id}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // The gateway that revoked it refuses it on the very next call.
        assert_eq!(whoami(&a, &token).await, (401, "token_revoked".into()));
        // The other one had it cached a moment ago; it must drop it within the bound, and on
        // PostgreSQL the change listener makes that nearly immediate.
        let took = within(
            CHANGE_BOUND,
            "replica refuses the revoked token",
            || async { whoami(&b, &token).await == (401, "token_revoked".into()) },
        )
        .await;
        if a.store().backend() == rgw_store::Backend::Postgres {
            assert!(
                took < std::time::Duration::from_millis(900),
                "took {took:?}"
            );
        }
        b.cleanup().await;
        a.cleanup().await;
    }
}

#[tokio::test]
async fn a_token_stops_when_it_expires_or_its_owner_is_suspended_locked_or_deleted() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", None).await;
        let admin = app.session_for("admin@example.com", Channel::Cli).await;
        let resp = app
            .post("/api/v1/api-tokens")
            .bearer_auth(&admin)
            .json(&json!({"name": "short", "role": "viewer", "expires_in_days": 1}))
            .send()
            .await
            .unwrap();
        let token = body_json(resp).await.1["token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(whoami(&app, &token).await.0, 200);
        app.clock.advance(Duration::days(1) + Duration::seconds(1));
        assert_eq!(whoami(&app, &token).await, (401, "token_expired".into()));

        for (email, action, code) in [
            ("s@example.com", "suspend", "account_suspended"),
            ("l@example.com", "lock", "account_locked"),
            ("d@example.com", "delete", "invalid_credentials"),
        ] {
            let owner = app.create_service_user(email).await;
            let token = app
                .create_token(email, &format!("tok-{action}"), "cicd")
                .await;
            assert_eq!(whoami(&app, &token).await.0, 200);
            let now = app.clock.now();
            // Managing accounts needs MFA verified moments ago (the clock has moved on).
            let admin = app
                .session_with_mfa("admin@example.com", Channel::Cli)
                .await;
            match action {
                "suspend" => {
                    let r = app
                        .post(&format!("/api/v1/users/{}/suspend", owner.public_id))
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
                "lock" => assert!(
                    app.store()
                        .lock_user(owner.id, "too many MFA failures", now)
                        .await
                        .unwrap()
                ),
                _ => {
                    let r = app
                        .delete(&format!("/api/v1/users/{}", owner.public_id))
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 204);
                }
            }
            assert_eq!(whoami(&app, &token).await, (401, code.into()), "{action}");
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn token_permission_lists_are_validated_against_the_catalogue() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", None).await;
        let admin = app.session_for("admin@example.com", Channel::Cli).await;
        let create = |body: serde_json::Value| {
            app.post("/api/v1/api-tokens")
                .bearer_auth(&admin)
                .json(&body)
                .send()
        };
        let (status, body) = body_json(
            create(json!({"name": "x", "permissions": ["convox:app:fly"]}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (400, "unknown_permission"));
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("convox:app:list")
                && message.contains("gateway:deploy-approval-request:create"),
            "{message}"
        );
        let (status, body) =
            body_json(create(json!({"name": "x", "role": "root"})).await.unwrap()).await;
        assert_eq!((status, error_code(&body)), (400, "invalid_role"));
        let (status, body) = body_json(create(json!({"name": "x"})).await.unwrap()).await;
        assert_eq!((status, error_code(&body)), (400, "invalid_token_scope"));
        let (status, body) = body_json(
            create(json!({"name": "reader", "permissions": ["convox:app:*"]}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201);
        let perms = body["api_token"]["permissions"].as_array().unwrap();
        assert!(
            perms.iter().any(|p| p == "convox:app:list")
                && perms
                    .iter()
                    .all(|p| p.as_str().unwrap().starts_with("convox:app:"))
        );
        assert!(
            body.to_string().matches("rgw_").count() == 1,
            "the secret appears once"
        );
        let (_, list) = body_json(
            app.get("/api/v1/api-tokens")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            !list.to_string().contains("rgw_"),
            "listings never show secrets"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_caller_cannot_create_a_token_more_powerful_than_itself() {
    for app in TestApp::spawn_all().await {
        app.create_user("dev@example.com", "deployer", None).await;
        app.create_user("other@example.com", "viewer", None).await;
        let dev = app.session_for("dev@example.com", Channel::Cli).await;
        let create = |body: serde_json::Value| {
            app.post("/api/v1/api-tokens")
                .bearer_auth(&dev)
                .json(&body)
                .send()
        };
        let (status, body) =
            body_json(create(json!({"name": "a", "role": "admin"})).await.unwrap()).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "token_scope_exceeds_caller")
        );
        let (status, body) = body_json(
            create(json!({"name": "b", "permissions": ["gateway:user:manage"]}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "token_scope_exceeds_caller")
        );
        let (status, body) = body_json(
            create(json!({"name": "c", "role": "viewer", "owner_email": "other@example.com"}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (403, "permission_denied"));
        let (status, body) = body_json(
            create(json!({"name": "mine", "role": "viewer"}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201);
        // A token cannot mint tokens.
        let token = body["token"].as_str().unwrap().to_owned();
        let resp = app
            .post("/api/v1/api-tokens")
            .bearer_auth(&token)
            .json(&json!({"name": "d", "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(&body_json(resp).await.1),
            "api_tokens_cannot_create_tokens"
        );
        app.cleanup().await;
    }
}

/// The token's `last_used_at` once it equals `want` (or after 2 s): the write is off the
/// request's critical path, so it lands shortly after the response.
async fn last_used_becomes(
    app: &TestApp,
    want: Option<time::OffsetDateTime>,
) -> Option<time::OffsetDateTime> {
    let mut got = None;
    for _ in 0..100 {
        got = app
            .store()
            .get_api_token_by_name("ci")
            .await
            .unwrap()
            .last_used_at;
        if got == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    got
}

#[tokio::test]
async fn last_used_at_is_written_at_most_once_per_minute() {
    for app in TestApp::spawn_all().await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let stored_becomes = |want| last_used_becomes(&app, want);
        assert_eq!(stored_becomes(None).await, None);
        let t0 = app.clock.now();
        assert_eq!(whoami(&app, &token).await.0, 200);
        assert_eq!(stored_becomes(Some(t0)).await, Some(t0));
        app.clock.advance(Duration::seconds(30));
        assert_eq!(whoami(&app, &token).await.0, 200);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(
            stored_becomes(Some(t0)).await,
            Some(t0),
            "no write within the minute"
        );
        app.clock.advance(Duration::seconds(31));
        let t1 = app.clock.now();
        assert_eq!(whoami(&app, &token).await.0, 200);
        assert_eq!(stored_becomes(Some(t1)).await, Some(t1));
        app.cleanup().await;
    }
}

#[tokio::test]
async fn admin_endpoints_refuse_non_admins_and_tokens_without_the_permission() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", None).await;
        let victim = app.create_user("viewer@example.com", "viewer", None).await;
        app.create_service_user("ci@example.com").await;
        let admin = app
            .session_with_mfa("admin@example.com", Channel::Cli)
            .await;
        let viewer = app.session_for("viewer@example.com", Channel::Cli).await;
        let cicd = app.create_token("ci@example.com", "ci", "cicd").await;
        let uid = victim.public_id;
        for caller in [&viewer, &cicd] {
            let (status, body) = body_json(
                app.get("/api/v1/users")
                    .bearer_auth(caller)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!((status, error_code(&body)), (403, "permission_denied"));
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("gateway:user:read")
            );
            let resp = app
                .post("/api/v1/users")
                .bearer_auth(caller)
                .json(&json!({"email": "x@example.com", "role": "admin"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403);
            for action in ["suspend", "unsuspend", "unlock"] {
                let resp = app
                    .post(&format!("/api/v1/users/{uid}/{action}"))
                    .bearer_auth(caller)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 403, "{action}");
            }
            assert_eq!(
                app.delete(&format!("/api/v1/users/{uid}"))
                    .bearer_auth(caller)
                    .send()
                    .await
                    .unwrap()
                    .status(),
                403
            );
        }
        let (status, body) = body_json(
            app.post("/api/v1/users")
                .bearer_auth(&admin)
                .json(&json!({"email": "x@example.com", "role": "cicd"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (400, "invalid_role"));
        let (status, body) = body_json(
            app.post("/api/v1/users")
                .bearer_auth(&admin)
                .json(&json!({"email": "x@example.com", "role": "ops"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, body["role"].as_str()), (201, Some("ops")));
        let (status, list) = body_json(
            app.get("/api/v1/users")
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 4);
        app.cleanup().await;
    }
}
