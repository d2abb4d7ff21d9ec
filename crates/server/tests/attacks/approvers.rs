//! Attacks on who approves (issue 10): API tokens, the request's creator, replayed or foreign
//! MFA proofs, approvals of an intent the reviewer never saw, and settings changes that would
//! switch the gate off.

use rgw_core::Clock;
use rgw_server::auth::Channel;
use rgw_testkit::approvals::sha;
use rgw_testkit::{RACK_APP, TestApp, TestOptions, body_json};
use serde_json::json;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

async fn spawn() -> Vec<TestApp> {
    TestApp::spawn_all_fast(TestOptions::default()).await
}

#[tokio::test]
async fn an_api_token_cannot_approve_a_request_whatever_its_role() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let ci = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, req) = app.request_approval(&ci, &sha(17)).await;
        let id = req["public_id"].as_str().unwrap();
        app.create_user("boss@example.com", "admin", None).await;
        let admin_token = app
            .create_token("boss@example.com", "boss-tok", "admin")
            .await;
        let r = app
            .post(&format!("/api/v1/deploy-approval-requests/{id}/approve"))
            .bearer_auth(&admin_token)
            .json(&json!({"intent_digest": req["intent_digest"], "mfa": {"totp": "123456"}}))
            .send()
            .await
            .unwrap();
        let (status, body) = body_json(r).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("api_tokens_cannot_approve"))
        );
        assert_eq!(app.get_approval(&ci, id).await.1["status"], "pending");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn the_creator_of_a_request_cannot_approve_it() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let ci = app.create_token("ci@example.com", "ci", "cicd").await;
        let token_id = app
            .store()
            .get_api_token_by_name("ci")
            .await
            .unwrap()
            .public_id;
        let admin = app.approver("admin@example.com").await;
        let r = app
            .post("/api/v1/deploy-approval-requests")
            .bearer_auth(&admin.session)
            .json(&json!({"app": RACK_APP, "git_commit_hash": sha(18), "message": "mine", "target_api_token_id": token_id}))
            .send()
            .await
            .unwrap();
        let (status, req) = body_json(r).await;
        assert_eq!(status, 201, "{req}");
        let (status, body) = app
            .approve(&admin, req["public_id"].as_str().unwrap())
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("creator_cannot_approve"))
        );
        drop(ci);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_replayed_totp_code_cannot_approve_a_second_request() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let ci = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, a) = app.request_approval(&ci, &sha(19)).await;
        let (_, b) = app.request_approval(&ci, &sha(20)).await;
        let admin = app.approver("admin@example.com").await;
        let code = app.totp_code(&admin);
        let body = |r: &serde_json::Value| json!({"intent_digest": r["intent_digest"], "mfa": {"totp": code}});
        let (status, _) = app
            .approve_with(&admin, a["public_id"].as_str().unwrap(), body(&a))
            .await;
        assert_eq!(status, 200);
        let (status, answer) = app
            .approve_with(&admin, b["public_id"].as_str().unwrap(), body(&b))
            .await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(
            app.get_approval(&ci, b["public_id"].as_str().unwrap())
                .await
                .1["status"],
            "pending"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_approval_of_an_intent_the_reviewer_did_not_see_is_refused() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let ci = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, req) = app.request_approval(&ci, &sha(21)).await;
        let admin = app.approver("admin@example.com").await;
        let code = app.totp_code(&admin);
        let stale = format!("sha256:{}", "0".repeat(64));
        let (status, body) = app
            .approve_with(
                &admin,
                req["public_id"].as_str().unwrap(),
                json!({"intent_digest": stale, "mfa": {"totp": code}}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("intent_changed")),
            "{body}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_expired_pending_request_cannot_be_approved() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let ci = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, req) = app.request_approval(&ci, &sha(22)).await;
        app.clock.advance(time::Duration::hours(25));
        let admin = app.approver("admin@example.com").await;
        let (status, body) = app
            .approve(&admin, req["public_id"].as_str().unwrap())
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "deploy_approval_expired");
        assert!(app.clock.now() > time::OffsetDateTime::UNIX_EPOCH);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_admin_api_token_cannot_mint_an_admin_account_that_would_approve_its_deploys() {
    for app in spawn().await {
        app.create_user("boss@example.com", "admin", None).await;
        let victim = app.create_user("locked@example.com", "admin", None).await;
        app.store()
            .lock_user(victim.id, "5 failed MFA attempts", app.clock.now())
            .await
            .unwrap();
        let admin_token = app
            .create_token("boss@example.com", "boss-tok", "admin")
            .await;
        let stale = app.session_for("boss@example.com", Channel::Cli).await;
        let create = |cred: String| {
            let app = &app;
            async move {
                body_json(
                    app.post("/api/v1/users")
                        .bearer_auth(cred)
                        .json(&json!({"email": "mole@example.com", "role": "admin",
                                      "password": "correct horse battery staple 42"}))
                        .send()
                        .await
                        .unwrap(),
                )
                .await
            }
        };
        let (status, body) = create(admin_token.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("api_tokens_cannot_manage_users"))
        );
        for action in ["unlock", "unsuspend", "suspend"] {
            let r = app
                .post(&format!("/api/v1/users/{}/{action}", victim.public_id))
                .bearer_auth(&admin_token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{action}");
        }
        let (status, body) = create(stale).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("mfa_step_up_required"))
        );
        assert!(
            app.store()
                .get_user_by_email("mole@example.com")
                .await
                .is_err(),
            "an account was created"
        );
        assert!(
            app.store()
                .get_user(victim.id)
                .await
                .unwrap()
                .locked_at
                .is_some(),
            "the MFA lockout was lifted"
        );
        // A person with fresh MFA can.
        let fresh = app.session_with_mfa("boss@example.com", Channel::Cli).await;
        let (status, body) = create(fresh).await;
        assert_eq!(status, 201, "{body}");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_admin_api_token_cannot_turn_deploy_approvals_off() {
    for app in spawn().await {
        app.create_user("boss@example.com", "admin", None).await;
        let admin_token = app
            .create_token("boss@example.com", "boss-tok", "admin")
            .await;
        let r = app
            .client()
            .put(app.at("/api/v1/settings/deploy_approvals_enabled"))
            .bearer_auth(&admin_token)
            .json(&json!({"value": false}))
            .send()
            .await
            .unwrap();
        let (status, body) = body_json(r).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("api_tokens_cannot_change_settings"))
        );
        // A stale admin session cannot either; a fresh one can, and the change is audited.
        let stale = app.session_for("boss@example.com", Channel::Cli).await;
        let put = |cred: String| {
            let app = &app;
            async move {
                let r = app
                    .client()
                    .put(app.at("/api/v1/settings/deploy_approvals_enabled"))
                    .bearer_auth(cred)
                    .json(&json!({"value": false}))
                    .send()
                    .await
                    .unwrap();
                body_json(r).await
            }
        };
        let (status, _) = put(stale).await;
        assert_eq!(status, 401);
        let fresh = app.session_with_mfa("boss@example.com", Channel::Cli).await;
        let (status, body) = put(fresh).await;
        assert_eq!(
            (status, body["source"].as_str()),
            (200, Some("database")),
            "{body}"
        );
        assert!(
            !rgw_server::settings::bool_setting(&app.state, "deploy_approvals_enabled", None)
                .await
                .unwrap()
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_webauthn_assertion_made_for_one_request_cannot_approve_another() {
    let public = "https://gateway.example.test";
    for app in TestApp::spawn_all_fast(TestOptions {
        env: vec![("RGW_PUBLIC_URL".into(), public.into())],
    })
    .await
    {
        app.create_service_user("ci@example.com").await;
        let ci = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, a) = app.request_approval(&ci, &sha(30)).await;
        let (_, b) = app.request_approval(&ci, &sha(31)).await;
        let admin = app.approver("admin@example.com").await;
        let user = app
            .store()
            .get_user_by_email("admin@example.com")
            .await
            .unwrap();
        let who = rgw_server::mfa::MfaUser::from(&user);
        let mut key = SoftPasskey::new(true);
        let origin = url::Url::parse(public).unwrap();
        let (ceremony, options) = rgw_server::mfa::webauthn::start_registration(&app.state, &who)
            .await
            .unwrap();
        let reg = key.do_registration(origin.clone(), options).unwrap();
        rgw_server::mfa::webauthn::finish_registration(&app.state, &who, ceremony, "key", &reg)
            .await
            .unwrap();
        // A ceremony started for request A, signed by the admin's real key...
        let start = |id: String| {
            let app = &app;
            let session = admin.session.clone();
            async move {
                let r = app
                    .post(&format!(
                        "/api/v1/deploy-approval-requests/{id}/webauthn/start"
                    ))
                    .bearer_auth(session)
                    .send()
                    .await
                    .unwrap();
                body_json(r).await
            }
        };
        let (status, started) = start(a["public_id"].as_str().unwrap().to_owned()).await;
        assert_eq!(status, 200, "{started}");
        let options = serde_json::from_value(started["options"].clone()).unwrap();
        let assertion = key.do_authentication(origin.clone(), options).unwrap();
        let proof =
            json!({"webauthn": {"ceremony_id": started["ceremony_id"], "assertion": assertion}});
        // ...is refused for request B,
        let (status, body) = app
            .approve_with(
                &admin,
                b["public_id"].as_str().unwrap(),
                json!({"intent_digest": b["intent_digest"], "mfa": proof}),
            )
            .await;
        assert!(status == 401 || status == 403, "{status} {body}");
        assert_eq!(
            app.get_approval(&ci, b["public_id"].as_str().unwrap())
                .await
                .1["status"],
            "pending"
        );
        // ...and a fresh ceremony for A approves A once.
        let (_, started) = start(a["public_id"].as_str().unwrap().to_owned()).await;
        let options = serde_json::from_value(started["options"].clone()).unwrap();
        let assertion = key.do_authentication(origin.clone(), options).unwrap();
        let proof =
            json!({"webauthn": {"ceremony_id": started["ceremony_id"], "assertion": assertion}});
        let body = json!({"intent_digest": a["intent_digest"], "mfa": proof});
        let (status, done) = app
            .approve_with(&admin, a["public_id"].as_str().unwrap(), body.clone())
            .await;
        assert_eq!(
            (status, done["approvals"][0]["mfa_method"].as_str()),
            (200, Some("webauthn")),
            "{done}"
        );
        app.cleanup().await;
    }
}
