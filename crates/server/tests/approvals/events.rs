//! The per-request event stream: the current state first, then every change, at once for
//! changes on this gateway and within a second for changes on another replica.

use std::time::Duration;

use futures_util::StreamExt;
use rgw_testkit::approvals::sha;
use rgw_testkit::{TestApp, TestOptions};
use serde_json::Value;

/// Reads SSE `data:` payloads from a streaming response.
struct Events {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Events {
    async fn open(app: &TestApp, credential: &str, id: &str) -> Events {
        let resp = app
            .get(&format!("/api/v1/deploy-approval-requests/{id}/events"))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Events {
            stream: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    async fn next(&mut self, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                if let Some(data) = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                {
                    return serde_json::from_str(data).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("an event within the deadline")
                .expect("the stream is open")
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn a_waiter_sees_the_approval_within_a_second_and_the_stream_ends_when_final() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, req) = app.request_approval(&token, &sha(40)).await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        let mut events = Events::open(&app, &token, &id).await;
        assert_eq!(
            events.next(Duration::from_secs(2)).await["status"],
            "pending"
        );
        let admin = app.approver("admin@example.com").await;
        app.approve(&admin, &id).await;
        assert_eq!(
            events.next(Duration::from_secs(1)).await["status"],
            "approved"
        );
        let r = app
            .post(&format!("/api/v1/deploy-approval-requests/{id}/reject"))
            .bearer_auth(&admin.session)
            .json(&serde_json::json!({"notes": "changed my mind"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let last = events.next(Duration::from_secs(1)).await;
        assert_eq!(last["status"], "rejected");
        assert_eq!(last["rejection_notes"], "changed my mind");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_change_made_through_another_gateway_reaches_the_stream() {
    for app in TestApp::spawn_all_fast(TestOptions::default()).await {
        app.create_service_user("ci@example.com").await;
        let token = app.create_token("ci@example.com", "ci", "cicd").await;
        let (_, req) = app.request_approval(&token, &sha(41)).await;
        let id = req["public_id"].as_str().unwrap().to_owned();
        let mut events = Events::open(&app, &token, &id).await;
        events.next(Duration::from_secs(2)).await;
        let replica = app.spawn_replica().await;
        let admin = replica.approver("admin@example.com").await;
        let (status, _) = replica.approve(&admin, &id).await;
        assert_eq!(status, 200);
        assert_eq!(
            events.next(Duration::from_secs(3)).await["status"],
            "approved"
        );
        replica.cleanup().await;
        app.cleanup().await;
    }
}
