//! Attacks on the edges of an approval's life: a revoke racing the promote it should have
//! stopped, a deploy whose record could be lost after the rack acted, and callers reading
//! requests they may not see through a duplicate create or a stream that outlives their
//! credential.

use rgw_core::Clock;
use rgw_server::auth::Channel;
use rgw_store::ClaimExpect;
use rgw_testkit::approvals::{convox_build, sha};
use rgw_testkit::{RACK_APP, TestApp, TestOptions, body_json, error_code};
use serde_json::json;

async fn spawn() -> Vec<TestApp> {
    TestApp::spawn_all_fast(TestOptions::default()).await
}

async fn reject(app: &TestApp, admin: &str, id: &str) -> (u16, serde_json::Value) {
    body_json(
        app.post(&format!("/api/v1/deploy-approval-requests/{id}/reject"))
            .bearer_auth(admin)
            .json(&json!({"notes": "stop"}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_revoke_cannot_race_an_in_flight_promote_into_a_live_release_recorded_as_never_deployed()
{
    for app in spawn().await {
        let commit = sha(41);
        let (token, id) = app.approved_deploy(&commit).await;
        let admin = app
            .session_with_mfa(
                &format!("approver-{}@example.com", &commit[34..]),
                Channel::Cli,
            )
            .await;
        let cx = app.convox(&token);
        let release = convox_build(&cx, &commit).await;

        // A promote is on its way to the rack (another call holds the step's claim).
        let row = app
            .store()
            .get_request_by_public_id(id.parse().unwrap())
            .await
            .unwrap();
        let now = app.clock.now();
        // As the gate records it when it first binds a call to the build's release.
        assert!(
            app.store()
                .set_release_id(row.id, &release, now)
                .await
                .unwrap()
        );
        let claim = app
            .store()
            .claim_step(
                row.id,
                ClaimExpect::Promote { release: &release },
                now,
                now - time::Duration::minutes(15),
            )
            .await
            .unwrap()
            .expect("the promote claim");
        let (status, body) = reject(&app, &admin, &id).await;
        assert_eq!(
            (status, error_code(&body)),
            (409, "deploy_in_progress"),
            "{body}"
        );
        assert_eq!(app.get_approval(&admin, &id).await.1["status"], "approved");

        // That call gave up; the real promote goes through and is recorded with its event in
        // the same commit, before the answer (no waiting for the audit writer).
        assert!(app.store().release_claim(&claim, now).await.unwrap());
        let r = cx
            .post_form(
                &format!("/apps/{RACK_APP}/releases/{release}/promote"),
                &[("force", "false")],
            )
            .await;
        assert_eq!(r.status(), 200);
        let events = app
            .store()
            .list_audit_events(&Default::default(), None, 500)
            .await
            .unwrap()
            .events;
        assert!(
            events
                .iter()
                .any(|e| e.record.action == "deploy_approval.deploy"
                    && e.record.deploy_approval_request_id == Some(row.public_id)),
            "the deploy's audit event was not committed with the deploy"
        );
        assert_eq!(app.get_approval(&admin, &id).await.1["status"], "deployed");
        let (status, _) = reject(&app, &admin, &id).await;
        assert_eq!(status, 409, "a deployed request cannot be revoked");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_duplicate_create_cannot_read_another_callers_open_request() {
    for app in spawn().await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci-main", "cicd").await;
        let commit = sha(42);
        let (status, open) = app.request_approval(&token, &commit).await;
        assert_eq!(status, 201, "{open}");
        let token_id = open["target_api_token_id"].as_str().unwrap().to_owned();
        let secret_message = open["message"].as_str().unwrap().to_owned();

        app.create_user("dev@example.com", "deployer", None).await;
        let dev = app.session_for("dev@example.com", Channel::Cli).await;
        let (status, body) = body_json(
            app.post("/api/v1/deploy-approval-requests")
                .bearer_auth(&dev)
                .json(&json!({
                    "app": RACK_APP,
                    "git_commit_hash": commit,
                    "message": "me too",
                    "target_api_token_id": token_id,
                }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, error_code(&body)), (409, "open_request_exists"));
        let text = body.to_string();
        for private in [open["public_id"].as_str().unwrap(), &secret_message] {
            assert!(!text.contains(private), "the 409 shows {private}: {text}");
        }
        // Its own caller still gets the request back, to wait on it.
        let (status, body) = app.request_approval(&token, &commit).await;
        assert_eq!(status, 409);
        assert_eq!(
            body["deploy_approval_request"]["public_id"],
            open["public_id"]
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn an_event_stream_stops_once_its_token_no_longer_authenticates() {
    use futures_util::StreamExt;
    for app in spawn().await {
        let owner = app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, req) = app.request_approval(&token, &sha(43)).await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        let resp = app
            .get(&format!("/api/v1/deploy-approval-requests/{id}/events"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut stream = resp.bytes_stream();
        let mut seen = String::new();
        while !seen.contains("\n\n") {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(3), stream.next())
                .await
                .expect("the first event")
                .expect("the stream is open")
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        // The token's owner is locked: the stream must end, not keep sending the request.
        assert!(
            app.store()
                .lock_user(owner.id, "incident", app.clock.now())
                .await
                .unwrap()
        );
        let admin = app.approver("admin@example.com").await;
        assert_eq!(app.approve(&admin, &id).await.0, 200);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let mut after = String::new();
            while let Some(chunk) = stream.next().await {
                after.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            }
            after
        })
        .await
        .expect("the stream ended within the poll bound");
        assert!(
            !ended.contains("approved"),
            "a locked-out caller was sent the approval: {ended}"
        );
        app.cleanup().await;
    }
}
