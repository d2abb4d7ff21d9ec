//! Every login, failure, logout, token creation and revocation reaches the audit log, and no
//! secret (password, token) is in it.

use rgw_server::auth::Channel;
use rgw_store::AuditFilter;
use rgw_testkit::{TestApp, body_json};
use serde_json::json;

use super::login::{PASSWORD, login};

#[tokio::test]
async fn identity_events_are_audited_without_secrets() {
    for app in TestApp::spawn_all().await {
        app.create_user("admin@example.com", "admin", Some(PASSWORD))
            .await;
        assert_eq!(
            login(&app, "admin@example.com", "wrong password!", "cli")
                .await
                .status(),
            401
        );
        assert_eq!(
            login(&app, "ghost@example.com", "wrong password!", "cli")
                .await
                .status(),
            401
        );
        let (_, body) = body_json(login(&app, "admin@example.com", PASSWORD, "cli").await).await;
        let session = body["session_token"].as_str().unwrap().to_owned();
        let resp = app
            .post("/api/v1/api-tokens")
            .bearer_auth(&session)
            .json(&json!({"name": "ci", "role": "cicd"}))
            .send()
            .await
            .unwrap();
        let (_, created) = body_json(resp).await;
        let token = created["token"].as_str().unwrap().to_owned();
        let id = created["api_token"]["public_id"].as_str().unwrap();
        app.delete(&format!("/api/v1/api-tokens/{id}"))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap();
        let other = app.session_for("admin@example.com", Channel::Web).await;
        let (_, sessions) = body_json(
            app.get("/api/v1/sessions")
                .bearer_auth(&session)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let web = sessions
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == false)
            .unwrap()["public_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.delete(&format!("/api/v1/sessions/{web}"))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap();
        app.post("/api/v1/auth/logout")
            .bearer_auth(&session)
            .send()
            .await
            .unwrap();
        drop(other);

        app.state.auditor.flush().await;
        let page = app
            .store()
            .list_audit_events(&AuditFilter::default(), None, 100)
            .await
            .unwrap();
        let seen: Vec<(String, String, Option<String>)> = page
            .events
            .iter()
            .map(|e| {
                (
                    e.record.action.clone(),
                    e.record.outcome.clone(),
                    e.record.actor_email.clone(),
                )
            })
            .collect();
        for (action, outcome) in [
            ("login.password", "failed"),
            ("login.password", "success"),
            ("api_token.create", "success"),
            ("api_token.revoke", "success"),
            ("session.revoke", "success"),
            ("logout", "success"),
        ] {
            assert!(
                seen.iter().any(|(a, o, _)| a == action && o == outcome),
                "{action} {outcome} missing from {seen:?}"
            );
        }
        let dump = format!(
            "{:?}",
            page.events.iter().map(|e| &e.record).collect::<Vec<_>>()
        );
        assert!(
            !dump.contains(PASSWORD) && !dump.contains("wrong password!"),
            "no passwords in the audit log"
        );
        assert!(
            !dump.contains(&token) && !dump.contains(&session),
            "no tokens in the audit log"
        );
        assert!(
            dump.contains("ghost@example.com"),
            "failed logins name the claimed email"
        );
        app.cleanup().await;
    }
}
