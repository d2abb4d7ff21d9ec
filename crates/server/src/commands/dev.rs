//! `rack-gateway-server dev`: the whole product on one machine with no setup — SQLite in a
//! local data directory, an embedded fake rack, and seeded accounts written to
//! `DIR/credentials.json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::app::{AppState, serve, shutdown_signal};
use crate::config::Config;
use crate::telemetry;

/// Options of `dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Address the gateway listens on.
    #[arg(long, default_value = "127.0.0.1:8447")]
    pub listen: SocketAddr,
    /// Directory for the SQLite database, the dev secret and credentials.json.
    #[arg(long, default_value = "./rgw-data")]
    pub data_dir: PathBuf,
    /// Name of the app the embedded fake rack starts with.
    #[arg(long, default_value = "myapp")]
    pub app: String,
}

/// What `dev` writes to `DIR/credentials.json` for people and scripts.
#[derive(Debug, Serialize)]
pub struct DevCredentials {
    pub gateway_url: String,
    pub app: String,
    pub rack_url: String,
}

/// Runs `dev` until SIGTERM or Ctrl-C.
pub async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let dev = start(listener, &args, env).await?;
    println!("{}", dev.banner());
    dev.serve_until(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// A running dev environment (also used by tests of `dev` itself).
pub struct DevEnv {
    listener: TcpListener,
    state: AppState,
    rack: fake_rack::FakeRack,
    pub credentials: DevCredentials,
    pub credentials_path: PathBuf,
}

/// Prepares the data directory, the fake rack, the database and the seeded accounts.
pub async fn start(
    listener: TcpListener,
    args: &DevArgs,
    env: Vec<(String, String)>,
) -> anyhow::Result<DevEnv> {
    let dir = &args.data_dir;
    create_private_dir(dir)?;
    let secret = load_or_create_secret(&dir.join("secret.key"))?;
    let rack_password = load_or_create_secret(&dir.join("rack-password"))?;
    let rack_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the embedded fake rack")?;
    let rack = fake_rack::spawn(
        rack_listener,
        fake_rack::Options {
            password: rack_password.clone(),
            apps: vec![args.app.clone()],
            ..Default::default()
        },
    )
    .await
    .context("starting the embedded fake rack")?;
    let addr = listener.local_addr()?;
    let gateway_url = format!("http://{addr}");
    let rack_url = rack
        .url()
        .replacen("://", &format!("://convox:{rack_password}@"), 1);
    let db_path = dir.join("rack-gateway.db");
    let mut env = env;
    env.extend([
        ("RGW_LISTEN".to_string(), addr.to_string()),
        (
            "RGW_DATABASE_URL".to_string(),
            format!("sqlite://{}", db_path.display()),
        ),
        ("RGW_SECRET_KEY".to_string(), secret),
        ("RGW_RACK_URL".to_string(), rack_url.clone()),
        ("RGW_PUBLIC_URL".to_string(), gateway_url.clone()),
    ]);
    let config = Config::load(None, env)?;
    telemetry::init(config.log_format, &config.log_filter);
    let store = rgw_store::Store::connect(&config.database_url)
        .await
        .context("opening the dev database")?;
    let state = AppState::new(config, store)?;
    let credentials = DevCredentials {
        gateway_url,
        app: args.app.clone(),
        rack_url,
    };
    let credentials_path = dir.join("credentials.json");
    write_private(&credentials_path, &serde_json::to_vec_pretty(&credentials)?)?;
    Ok(DevEnv {
        listener,
        state,
        rack,
        credentials,
        credentials_path,
    })
}

impl DevEnv {
    /// The text printed at startup.
    pub fn banner(&self) -> String {
        format!(
            "rack-gateway dev is running\n  gateway:     {}\n  fake rack:   {} (app {})\n  credentials: {}\n",
            self.credentials.gateway_url,
            self.rack.url(),
            self.credentials.app,
            self.credentials_path.display()
        )
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let auditor = self.state.auditor.clone();
        let served = serve(self.listener, self.state, shutdown).await;
        // After the HTTP server drains: write every queued audit event before exiting.
        auditor.shutdown().await;
        served?;
        store.close().await;
        drop(self.rack);
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

/// Reads a hex secret from `path`, or creates one. Stable across restarts so sessions, the
/// audit chain and encrypted MFA secrets in the dev database stay valid.
fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let secret = hex::encode(bytes);
    write_private(path, secret.as_bytes())?;
    Ok(secret)
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
