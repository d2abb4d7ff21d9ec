//! The server skeleton: probes, request ids, the OpenAPI document, the `config` command and
//! graceful shutdown of the real binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rgw_server::{AppState, Config};
use rgw_store::testing::test_stores;
use tokio::net::TcpListener;

const SECRET: &str = "server-test-secret-0123456789abcdef";
const BIN: &str = env!("CARGO_BIN_EXE_rack-gateway-server");

async fn spawn(url: &str, rack_url: Option<&str>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut env = vec![
        ("RGW_SECRET_KEY".to_string(), SECRET.to_string()),
        ("RGW_DATABASE_URL".to_string(), url.to_string()),
    ];
    if let Some(r) = rack_url {
        env.push(("RGW_RACK_URL".to_string(), r.to_string()));
    }
    let config = Config::load(None, env).unwrap();
    let store = rgw_store::Store::connect(url).await.unwrap();
    let state = AppState::new(config, store).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(rgw_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    (base, tx)
}

#[tokio::test]
async fn health_is_up_and_readiness_reports_database_and_rack() {
    for ts in test_stores().await {
        let options = fake_rack::Options {
            password: "server-test-rack-pw".into(),
            ..Default::default()
        };
        let rack = fake_rack::spawn(TcpListener::bind("127.0.0.1:0").await.unwrap(), options)
            .await
            .unwrap();
        let (base, stop) = spawn(&ts.url, Some(&rack.rack_url())).await;
        let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200);
        let ready: serde_json::Value = reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ready", "{ready}");
        assert_eq!(ready["database"]["status"], "ok");
        assert_eq!(ready["rack"]["status"], "ok");
        let _ = stop.send(());

        // Without a rack the gateway runs but is not ready.
        let (base, stop) = spawn(&ts.url, None).await;
        let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
        assert_eq!(r.status(), 503);
        let ready: serde_json::Value = r.json().await.unwrap();
        assert_eq!(ready["rack"]["status"], "not_configured");
        let _ = stop.send(());
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn every_response_carries_the_gateways_own_request_id_even_when_the_caller_sends_one() {
    let ts = test_stores().await.remove(0);
    let (base, stop) = spawn(&ts.url, None).await;
    let client = reqwest::Client::new();
    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    let id = r
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    let r = client
        .get(format!("{base}/healthz"))
        .header("x-request-id", "caller-chosen-id")
        .send()
        .await
        .unwrap();
    // Request ids are the gateway's own (issue 15 item 9); the caller's value is only kept in
    // audit details as `client_request_id`.
    let given = r.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert_ne!(given, "caller-chosen-id");
    assert_eq!(given.len(), 36, "a generated UUID: {given}");
    let _ = stop.send(());
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let ts = test_stores().await.remove(0);
    let (base, stop) = spawn(&ts.url, None).await;
    let doc: serde_json::Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/healthz", "/readyz"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    let _ = stop.send(());
}

#[test]
fn the_config_command_masks_secrets_and_names_bad_variables() {
    let out = Command::new(BIN)
        .arg("config")
        .env_clear()
        .env("RGW_SECRET_KEY", SECRET)
        .env(
            "RGW_RACK_URL",
            "https://convox:rack-secret-pw@rack.example:5443",
        )
        .env("RGW_DATABASE_URL", "postgres://gw:db-secret-pw@db/rgw")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in [SECRET, "rack-secret-pw", "db-secret-pw"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    assert!(
        text.contains("RGW_LISTEN = 127.0.0.1:8447  (default)"),
        "{text}"
    );
    assert!(
        text.contains("RGW_RACK_URL = https://convox:****@rack.example:5443"),
        "{text}"
    );

    let bad = Command::new(BIN)
        .arg("config")
        .env_clear()
        .env("RGW_SECRET_KEY", SECRET)
        .env("RGW_SETTING_DEPLOY_APPROVAL_WINDOW_MINUTES", "soon")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("RGW_SETTING_DEPLOY_APPROVAL_WINDOW_MINUTES"),
        "{err}"
    );

    let missing = Command::new(BIN).arg("serve").env_clear().output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("RGW_SECRET_KEY is required"));
}

#[test]
fn serve_logs_json_lines_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("RGW_SECRET_KEY", SECRET)
        .env("RGW_DATABASE_URL", &db)
        .env("RGW_LISTEN", format!("127.0.0.1:{port}"))
        .env("RGW_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    let mut lines = Vec::new();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read>),
    ]
    .into_iter()
    .flatten()
    {
        lines.extend(BufReader::new(stream).lines().map_while(Result::ok));
    }
    assert!(!lines.is_empty());
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v.get("level").is_some(), "{line}");
        assert!(!line.contains(SECRET));
    }
    assert!(
        lines.iter().any(|l| l.contains("shutdown requested")),
        "{lines:#?}"
    );
}
