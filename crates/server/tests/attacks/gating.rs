//! Attacks on the deploy decision itself (issue 15, items 3–5): humans deploying without fresh
//! MFA or against `human_deploys_allowed=false`, personal or stripped API tokens deploying
//! around the approval, gated callers reaching rack-level credentials, and run headers that run
//! unapproved images privileged with host mounts.

use rgw_server::auth::Channel;
use rgw_testkit::approvals::{manifest_for, sha};
use rgw_testkit::convox::{Convox, tarball};
use rgw_testkit::{RACK_APP, TestApp, TestOptions};

async fn spawn_with(env: &[(&str, &str)]) -> Vec<TestApp> {
    TestApp::spawn_all_fast(TestOptions {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .await
}

async fn upload_status(cx: &Convox) -> (u16, String) {
    let r = cx
        .post_bytes(
            &format!("/apps/{RACK_APP}/objects/tmp/a.tgz"),
            tarball(&[("convox.yml", &manifest_for(&sha(1)))]),
        )
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_deployer_whose_mfa_is_older_than_the_step_up_window_cannot_deploy() {
    for app in spawn_with(&[]).await {
        app.create_user("dev@example.com", "deployer", None).await;
        let session = app.session_with_mfa("dev@example.com", Channel::Cli).await;
        let cx = app.convox(&session);
        assert_eq!(upload_status(&cx).await.0, 200, "fresh MFA deploys");
        app.clock.advance(time::Duration::minutes(11));
        let (status, text) = upload_status(&cx).await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("MFA step-up required"), "{text}");
        // A session that never verified MFA cannot deploy at all.
        let never = app.session_for("dev@example.com", Channel::Cli).await;
        assert_eq!(upload_status(&app.convox(&never)).await.0, 401);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn human_deploys_are_refused_when_the_app_allows_only_ci() {
    for app in spawn_with(&[("RGW_APP_MYAPP_SETTING_HUMAN_DEPLOYS_ALLOWED", "false")]).await {
        app.create_user("root@example.com", "admin", None).await;
        let session = app.session_with_mfa("root@example.com", Channel::Cli).await;
        let (status, text) = upload_status(&app.convox(&session)).await;
        assert_eq!(status, 403);
        assert!(
            text.contains("human deploys are disabled for this app"),
            "{text}"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_personal_deployer_token_cannot_deploy_or_scale() {
    for app in spawn_with(&[]).await {
        app.create_user("dev@example.com", "deployer", None).await;
        let token = app
            .create_token("dev@example.com", "dev-tok", "deployer")
            .await;
        let cx = app.convox(&token);
        let (status, text) = upload_status(&cx).await;
        assert_eq!(status, 403);
        assert!(
            text.contains("API tokens deploy only through deploy approvals"),
            "{text}"
        );
        let r = cx
            .send_form(
                reqwest::Method::PUT,
                &format!("/apps/{RACK_APP}/services/web"),
                &[("count", "5")],
            )
            .await;
        assert_eq!(r.status(), 403);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("service scale is not allowed for API tokens")
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_token_minted_without_deploy_with_approval_gains_nothing_by_dropping_it() {
    for app in spawn_with(&[]).await {
        app.create_service_user("ci@example.com").await;
        // An admin-scoped token minus deploy_with_approval, owned by the service user.
        use rgw_server::api::tokens::{TokenScope, TokenSpec, create_and_audit};
        let owner = app
            .store()
            .get_user_by_email("ci@example.com")
            .await
            .unwrap();
        let perms: Vec<String> = rgw_core::Role::Admin
            .permissions()
            .iter()
            .filter(|p| **p != rgw_core::Permission::DEPLOY_WITH_APPROVAL)
            .filter(|p| !rgw_server::auth::principal::NEVER_FOR_TOKENS.contains(p))
            .map(|p| p.to_string())
            .collect();
        let scope = TokenScope::parse(None, Some(&perms)).unwrap();
        let name = rgw_core::TokenName::parse("stripped").unwrap();
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
        let cx = app.convox(secrecy::ExposeSecret::expose_secret(&secret));
        assert_eq!(upload_status(&cx).await.0, 403, "no upload");
        let r = cx
            .post_form(
                &format!("/apps/{RACK_APP}/builds"),
                &[("url", "object://myapp/tmp/a.tgz")],
            )
            .await;
        assert_eq!(r.status(), 403, "no build");
        let r = cx
            .post_form(&format!("/apps/{RACK_APP}/releases"), &[("env", "A=1")])
            .await;
        assert_eq!(r.status(), 403, "no release create");
        let r = cx
            .post_form(
                &format!("/apps/{RACK_APP}/releases/RAAAAAAAAAA/promote"),
                &[("force", "false")],
            )
            .await;
        assert_eq!(r.status(), 403, "no promote");
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.method == reqwest::Method::GET),
            "nothing but reads reached the rack"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_gated_token_cannot_mint_rack_credentials_or_update_the_rack() {
    for app in spawn_with(&[]).await {
        app.create_service_user("ci@example.com").await;
        app.create_user("boss@example.com", "admin", None).await;
        for token in [
            app.create_token("ci@example.com", "ci", "cicd").await,
            app.create_token("boss@example.com", "boss-tok", "admin")
                .await,
        ] {
            let cx = app.convox(&token);
            let r = cx.post_form("/system/jwt/token", &[]).await;
            assert_eq!(r.status(), 403);
            assert!(
                r.text()
                    .await
                    .unwrap()
                    .contains("not allowed for API tokens")
            );
            let r = cx
                .send_form(reqwest::Method::PUT, "/system", &[("count", "3")])
                .await;
            assert_eq!(r.status(), 403);
        }
        // An admin session needs fresh MFA for them.
        let stale = app.session_for("boss@example.com", Channel::Cli).await;
        assert_eq!(
            app.convox(&stale)
                .post_form("/system/jwt/token", &[])
                .await
                .status(),
            401
        );
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| !r.path.starts_with("/system/jwt"))
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_ops_user_cannot_run_an_unapproved_image_privileged_with_host_mounts() {
    for app in spawn_with(&[]).await {
        app.create_user("ops@example.com", "ops", None).await;
        let cx = app.convox(&app.session_for("ops@example.com", Channel::Cli).await);
        for (name, value) in [
            ("image", "evil:latest"),
            ("privileged", "true"),
            ("volumes", "/:/host"),
            ("environment", "A=1"),
            ("release", "RAAAAAAAAAA"),
        ] {
            let r = cx
                .request(
                    reqwest::Method::POST,
                    &format!("/apps/{RACK_APP}/services/web/processes"),
                )
                .header("command", "sleep 5")
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{name}");
            assert!(
                r.text().await.unwrap().contains("only allowed for admins"),
                "{name}"
            );
        }
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.method != reqwest::Method::POST)
        );
        // An admin with fresh MFA may, and the headers used are in the audit event.
        app.create_user("root@example.com", "admin", None).await;
        let root = app.convox(&app.session_with_mfa("root@example.com", Channel::Cli).await);
        let r = root
            .request(
                reqwest::Method::POST,
                &format!("/apps/{RACK_APP}/services/web/processes"),
            )
            .header("command", "sleep 5")
            .header("image", "debug:latest")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 403);
        app.state.auditor.flush().await;
        let events = app
            .store()
            .list_audit_events(&Default::default(), None, 500)
            .await
            .unwrap();
        assert!(
            events
                .events
                .iter()
                .any(|e| e.record.details["run_headers"] == serde_json::json!(["Image"])),
            "the Image header is recorded"
        );
        app.cleanup().await;
    }
}
