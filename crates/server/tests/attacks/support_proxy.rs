//! Helpers for the proxy attacks: a deployed app with secrets in its env (set up on the rack
//! directly, as an operator would), raw websocket handshakes with browser headers, a
//! hand-written upstream for answers the fake rack never gives, and audit lookups.

use std::time::Duration;

use rgw_core::audit::StoredEvent;
use rgw_store::AuditFilter;
use rgw_testkit::TestApp;
use rgw_testkit::convox::{Convox, tarball};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const APP: &str = rgw_testkit::RACK_APP;
pub const MANIFEST: &str = "services:\n  web:\n    image: registry.example.com/myapp:0123456789abcdef0123456789abcdef01234567\n    port: 3000\n";
/// The env every attack tries to read.
pub const SECRET_ENV: &str = "DB_PASSWORD=hunter2\nLICENSE=license-key-1234\nPORT=3000";

/// The rack itself, with the rack password (what the gateway uses upstream).
pub fn rack(app: &TestApp) -> Convox {
    Convox::new(app.rack.url(), rgw_testkit::RACK_PASSWORD)
}

/// The gateway's rack proxy with `credential` as the Basic password, like the convox CLI.
pub fn proxy(app: &TestApp, credential: &str) -> Convox {
    Convox::new(app.at("/api/v1/rack-proxy"), credential)
}

/// Builds, releases (with [`SECRET_ENV`]) and promotes the app on the rack; returns the
/// release id.
pub async fn deploy_with_secrets(app: &TestApp) -> String {
    let rack = rack(app);
    let url = rack.upload(APP, tarball(&[("convox.yml", MANIFEST)])).await;
    let build = rack.create_build(APP, &url, &[]).await;
    let build = rack
        .wait_build(APP, build["id"].as_str().expect("build id"))
        .await;
    let build_id = build["id"].as_str().expect("build id").to_owned();
    let r = rack
        .post_form(
            &format!("/apps/{APP}/releases"),
            &[("build", build_id.as_str()), ("env", SECRET_ENV)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let release: serde_json::Value = r.json().await.expect("release JSON");
    let id = release["id"].as_str().expect("release id").to_owned();
    let r = rack
        .post_form(
            &format!("/apps/{APP}/releases/{id}/promote"),
            &[("force", "true")],
        )
        .await;
    assert_eq!(r.status(), 200, "promote");
    rack.wait_running(APP).await;
    id
}

/// Sends a websocket upgrade with exactly `headers` (plus the handshake ones) and returns the
/// status code of the answer.
pub async fn upgrade_status(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> u16 {
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect to the gateway");
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the handshake");
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("the gateway answers the handshake")
        .expect("read the answer");
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"))
}

/// Serves `router` on port 0; returns a `RGW_RACK_URL` with credentials pointing at it.
pub async fn upstream(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the upstream");
    let addr = listener.local_addr().expect("upstream address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://convox:upstream-password-123@{addr}")
}

/// Every stored audit event (newest first) after the writer has caught up.
pub async fn audit_events(app: &TestApp) -> Vec<StoredEvent> {
    app.state.auditor.flush().await;
    app.store()
        .list_audit_events(&AuditFilter::default(), None, 500)
        .await
        .expect("list audit events")
        .events
}
