//! Starting the processes under test: fake rack, gateways (each with its own database, SQLite
//! or a fresh PostgreSQL schema, and tokens minted straight into it) and nginx.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use rgw_store::{NewApiToken, NewUser, Store};
use secrecy::ExposeSecret;

use super::procs::{Proc, free_addr, wait_http};

pub const RACK_PASSWORD: &str = "bench-rack-password-0123456789";
pub const SECRET_KEY: &str = "bench-secret-key-0123456789abcdef0123456789";
pub const APP: &str = "myapp";

/// `fake-rack --listen … --password … --app myapp`, ready.
pub async fn fake_rack(binary: &Path, dir: &Path) -> anyhow::Result<(Proc, SocketAddr)> {
    let addr = free_addr()?;
    let mut cmd = Command::new(binary);
    cmd.args([
        "--listen",
        &addr.to_string(),
        "--password",
        RACK_PASSWORD,
        "--app",
        APP,
    ])
    .env("RUST_LOG", "warn");
    let mut p = Proc::spawn("fake-rack", cmd, &dir.join("fake-rack.log"))?;
    let auth = super::load::basic(RACK_PASSWORD);
    wait_http(&mut p, addr, "/system", auth.to_str().ok()).await?;
    Ok((p, addr))
}

/// The sqlite URL of a database file.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Migrates the database at `db` and mints a token owned by a fresh service user.
pub async fn mint_token(
    db: &str,
    name: &str,
    role: Option<&str>,
    permissions: &[&str],
) -> anyhow::Result<String> {
    let store = Store::connect(db)
        .await
        .context("opening the bench database")?;
    let now = rgw_core::Clock::now(&rgw_core::SystemClock);
    let owner = store
        .create_user(
            &NewUser {
                email: format!("{name}@bench.example.com"),
                name: name.into(),
                role: "viewer".into(),
                password_hash: None,
                is_service: true,
                mfa_enforced: false,
            },
            now,
        )
        .await?;
    let secret = rgw_server::auth::tokens::generate_api_token();
    let token = secret.expose_secret().to_string();
    store
        .create_api_token(
            &NewApiToken {
                name: name.into(),
                token_hash: rgw_server::auth::tokens::hash(&secret),
                owner_user_id: owner.id,
                created_by_user_id: None,
                role: role.map(str::to_string),
                permissions: permissions.iter().map(|p| p.to_string()).collect(),
                expires_at: None,
            },
            now,
        )
        .await?;
    store.close().await;
    Ok(token)
}

/// A build made on the rack, and a `cicd` token whose approved request recorded it (written
/// through the store's claim protocol, as the gate would): the gated `GET builds/{id}` of the
/// latency comparison. Returns `(token, build id)`.
pub async fn approved_build(db: &str, rack: SocketAddr) -> anyhow::Result<(String, String)> {
    use rgw_store::{ClaimExpect, NewDeployApproval, NewDeployApprovalRequest};
    let http = reqwest::Client::new();
    let base = format!("http://{rack}");
    let auth = super::load::basic(RACK_PASSWORD);
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let manifest = format!("services:\n  web:\n    image: registry.example.com/myapp:{commit}\n");
    let tgz = rgw_testkit::convox::tarball(&[("convox.yml", &manifest)]);
    let object: serde_json::Value = http
        .post(format!("{base}/apps/{APP}/objects/tmp/bench.tgz"))
        .header("authorization", auth.clone())
        .body(tgz)
        .send()
        .await?
        .json()
        .await?;
    let url = object["Url"].as_str().context("object url")?.to_owned();
    let build: serde_json::Value = http
        .post(format!("{base}/apps/{APP}/builds"))
        .header("authorization", auth)
        .form(&[("url", url.as_str()), ("git-sha", commit)])
        .send()
        .await?
        .json()
        .await?;
    let build_id = build["id"].as_str().context("build id")?.to_owned();

    let token = mint_token(db, "bench-cicd", Some("cicd"), &[]).await?;
    let store = Store::connect(db).await?;
    let now = rgw_core::Clock::now(&rgw_core::SystemClock);
    let ci = store.get_api_token_by_name("bench-cicd").await?;
    let admin = store
        .create_user(
            &NewUser {
                email: "bench-admin@bench.example.com".into(),
                name: "admin".into(),
                role: "admin".into(),
                password_hash: None,
                is_service: false,
                mfa_enforced: false,
            },
            now,
        )
        .await?;
    let req = store
        .create_request(
            &NewDeployApprovalRequest {
                public_id: uuid::Uuid::new_v4(),
                app: APP.into(),
                git_commit_hash: commit.into(),
                git_branch: None,
                pr_url: None,
                ci_metadata: serde_json::json!({}),
                message: "bench".into(),
                target_api_token_id: ci.id,
                created_by_user_id: None,
                created_by_api_token_id: Some(ci.id),
                required_approvals: 1,
                pending_expires_at: now + time::Duration::days(1),
                intent_digest: format!("sha256:{}", "0".repeat(64)),
                approval_window_minutes: 24 * 60,
            },
            now,
        )
        .await?;
    let mut tx = store.begin().await?;
    tx.add_approval(
        &NewDeployApproval {
            request_id: req.id,
            user_id: admin.id,
            notes: None,
            mfa_method: "totp".into(),
            intent_digest: String::new(),
            mfa_binding: String::new(),
        },
        now,
    )
    .await?;
    tx.approve_request(req.id, now + time::Duration::days(1), now)
        .await?;
    tx.commit().await?;
    let stale = now - time::Duration::minutes(15);
    let c = store
        .claim_step(req.id, ClaimExpect::Object { url: &url }, now, stale)
        .await?
        .context("object claim")?;
    store.confirm_object(&c, &url, now).await?;
    let c = store
        .claim_step(
            req.id,
            ClaimExpect::Build {
                object_url: &url,
                replacing: None,
            },
            now,
            stale,
        )
        .await?
        .context("build claim")?;
    store.confirm_build(&c, &build_id, now).await?;
    store.close().await;
    Ok((token, build_id))
}

/// `rack-gateway-server serve` against `rack` with database `db`, ready (`/healthz`).
pub async fn gateway(
    binary: &Path,
    dir: &Path,
    name: &str,
    db: &str,
    rack: SocketAddr,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<(Proc, SocketAddr)> {
    let addr = free_addr()?;
    let mut cmd = Command::new(binary);
    cmd.arg("serve");
    // Nothing from the caller's environment may change what is measured.
    for (k, _) in std::env::vars() {
        if k.starts_with("RGW_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("RGW_LISTEN", addr.to_string())
        .env("RGW_DATABASE_URL", db)
        .env("RGW_SECRET_KEY", SECRET_KEY)
        .env(
            "RGW_RACK_URL",
            format!("http://convox:{RACK_PASSWORD}@{rack}"),
        )
        .env("RGW_LOG", "warn");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut p = Proc::spawn(name, cmd, &dir.join(format!("{name}.log")))?;
    wait_http(&mut p, addr, "/healthz", None).await?;
    Ok((p, addr))
}

/// nginx as a plain reverse proxy: `/api/v1/rack-proxy/` → the fake rack and `/sink/` → the
/// upload sink, keep-alive upstreams, no buffering, one worker process (the configuration the
/// issue measured against). `None` when nginx is not installed.
pub async fn nginx(
    dir: &Path,
    rack: SocketAddr,
    sink: SocketAddr,
) -> anyhow::Result<Option<(Proc, SocketAddr)>> {
    let Some(binary) = which("nginx") else {
        return Ok(None);
    };
    let addr = free_addr()?;
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let p = prefix.display();
    let rack_auth = super::load::basic(RACK_PASSWORD);
    let rack_auth = rack_auth.to_str()?;
    let conf = format!(
        r#"daemon off;
master_process on;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    upstream rack {{ server {rack}; keepalive 32; keepalive_requests 1000000; }}
    upstream sink {{ server {sink}; keepalive 4; }}
    server {{
        listen {addr};
        location /api/v1/rack-proxy/ {{
            proxy_pass http://rack/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "{rack_auth}";
            proxy_buffering off;
        }}
        location /sink/ {{
            proxy_pass http://sink/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            client_max_body_size 0;
        }}
    }}
}}
"#
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut cmd = Command::new(binary);
    cmd.arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .arg("-c")
        .arg(&conf_path);
    let mut proc = Proc::spawn("nginx", cmd, &dir.join("nginx.log"))?;
    wait_http(&mut proc, addr, "/api/v1/rack-proxy/system", None).await?;
    Ok(Some((proc, addr)))
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
