//! `deploy-approval wait` when the event stream misbehaves, against a stand-in gateway (a raw
//! HTTP/1.1 listener) whose first stream ends after one event and whose later streams fail
//! with 503: the CLI must reconnect once, then fall back to polling `GET` until approved.

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use super::*;

const ID: &str = "123e4567-e89b-12d3-a456-426614174000";

fn request(status: &str) -> Value {
    json!({
        "public_id": ID,
        "app": "myapp",
        "git_commit_hash": "0123456789abcdef0123456789abcdef01234567",
        "git_branch": "main",
        "pr_url": null,
        "ci_metadata": {},
        "message": "Deploy",
        "status": status,
        "target_api_token_id": null,
        "approvals": [],
        "approval_expires_at": null,
        "created_at": "2026-05-01T11:00:00Z",
        "updated_at": "2026-05-01T11:00:00Z",
        "object_url": null,
        "build_id": null,
        "release_id": null,
        "intent_digest": "sha256:00",
        "required_approvals": 1
    })
}

fn json_response(status: &str, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Serves the stand-in gateway; returns its URL and the log of request paths.
async fn flaky_gateway() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let log = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let (streams, gets) = {
                    let mut log = log.lock().unwrap();
                    log.push(path.clone());
                    let streams = log.iter().filter(|p| p.ends_with("/events")).count();
                    (streams, log.len() - streams)
                };
                let reply = if path.ends_with("/events") {
                    if streams == 1 {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n: hello\n\nevent: deploy_approval_request\ndata: {}\n\n",
                            request("pending")
                        )
                    } else {
                        json_response(
                            "503 Service Unavailable",
                            &json!({"error": {"code": "unavailable", "message": "try later"}}),
                        )
                    }
                } else if gets <= 2 {
                    json_response("200 OK", &request("pending"))
                } else {
                    json_response("200 OK", &request("approved"))
                };
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, log)
}

#[tokio::test]
async fn wait_reconnects_a_dropped_stream_then_polls_while_it_is_unavailable() {
    let (url, log) = flaky_gateway().await;
    let cli = Cli::new();
    let out = cli
        .run_with(
            &["deploy-approval", "wait", ID, "--timeout", "20s"],
            None,
            &[
                ("RACK_GATEWAY_URL", &url),
                ("RACK_GATEWAY_API_TOKEN", "rgw_test"),
            ],
        )
        .await;
    out.ok();
    assert!(out.stdout.contains("is approved"), "{out:#?}");
    let log = log.lock().unwrap().clone();
    let events = format!("/api/v1/deploy-approval-requests/{ID}/events");
    let get = format!("/api/v1/deploy-approval-requests/{ID}");
    assert_eq!(
        log[..3],
        [get.clone(), events.clone(), events.clone()],
        "read, stream, reconnect: {log:?}"
    );
    assert!(
        log[3..].iter().all(|p| *p == get) && log.len() >= 5,
        "then polls: {log:?}"
    );
    // One plain line per change, not per poll.
    assert_eq!(out.stderr.matches(": pending,").count(), 1, "{out:#?}");
    assert_eq!(out.stderr.matches(": approved,").count(), 1, "{out:#?}");
}
