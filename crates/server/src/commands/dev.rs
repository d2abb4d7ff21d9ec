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
    pub admin_email: String,
    pub admin_password: String,
    /// Base32 TOTP secret of the seeded admin (enrolled and confirmed).
    pub admin_totp_secret: String,
    pub cicd_token: String,
}

/// Runs `dev` until SIGTERM or Ctrl-C.
pub async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let shutdown = shutdown_signal();
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let dev = start(listener, &args, env).await?;
    println!("{}", dev.banner());
    dev.serve_until(shutdown).await?;
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
    let seeded = seed_identity(&state, dir).await?;
    let admin_totp_secret = seed_admin_totp(&state).await?;
    let credentials = DevCredentials {
        gateway_url,
        app: args.app.clone(),
        rack_url,
        admin_email: seeded.admin_email,
        admin_password: seeded.admin_password,
        admin_totp_secret,
        cicd_token: seeded.cicd_token,
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
        let c = &self.credentials;
        format!(
            "rack-gateway dev is running\n\
             \x20 gateway:      {}\n\
             \x20 fake rack:    {} (app {})\n\
             \x20 admin:        {} / {}\n\
             \x20 admin TOTP:   {} (otpauth://totp/rack-gateway:{}?secret={}&issuer=rack-gateway)\n\
             \x20 cicd token:   {} (owned by {})\n\
             \x20 credentials:  {}\n\
             \x20 convox CLI:   RACK_URL=http://convox:{}@{}/api/v1/rack-proxy convox apps\n",
            c.gateway_url,
            self.rack.url(),
            c.app,
            c.admin_email,
            c.admin_password,
            c.admin_totp_secret,
            c.admin_email.replace('@', "%40"),
            c.admin_totp_secret,
            c.cicd_token,
            DEV_CI_EMAIL,
            self.credentials_path.display(),
            c.cicd_token,
            c.gateway_url.trim_start_matches("http://"),
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

/// Enrols (once) the dev admin's TOTP and returns its base32 secret; restarts reuse it.
async fn seed_admin_totp(state: &AppState) -> anyhow::Result<String> {
    use secrecy::ExposeSecret;
    let admin = state.store.get_user_by_email(DEV_ADMIN_EMAIL).await?;
    let secret = match crate::mfa::totp::confirmed_secret_base32(state, admin.id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Some(s) => s,
        None => {
            crate::mfa::totp::enroll_confirmed(state, &crate::mfa::MfaUser::from(&admin))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .secret_base32
        }
    };
    Ok(secret.expose_secret().to_owned())
}

/// The seeded dev accounts.
struct SeededIdentity {
    admin_email: String,
    admin_password: String,
    cicd_token: String,
}

/// Email of the seeded dev admin.
pub const DEV_ADMIN_EMAIL: &str = "admin@example.com";
/// Email of the service user owning the seeded `cicd` token.
pub const DEV_CI_EMAIL: &str = "ci@example.com";

/// Seeds (idempotently) the dev admin with a password and the `cicd` API token owned by the
/// service user `ci@example.com`. The password and token live in private files of the data
/// directory so that restarts keep them valid.
async fn seed_identity(state: &AppState, dir: &Path) -> anyhow::Result<SeededIdentity> {
    use rgw_store::{NewUser, StoreError};
    use secrecy::{ExposeSecret, SecretString};

    let now = state.clock.now();
    let admin_password = load_or_create_secret(&dir.join("admin-password"))?;
    let hash =
        crate::auth::password::hash_async(SecretString::from(admin_password.clone())).await?;
    match state.store.get_user_by_email(DEV_ADMIN_EMAIL).await {
        Ok(admin) => {
            state
                .store
                .set_user_password_hash(admin.id, Some(&hash), now)
                .await?;
        }
        Err(StoreError::NotFound) => {
            let new = NewUser {
                email: DEV_ADMIN_EMAIL.into(),
                name: "Dev Admin".into(),
                role: "admin".into(),
                password_hash: Some(hash),
                is_service: false,
                mfa_enforced: true,
            };
            state.store.create_user(&new, now).await?;
        }
        Err(e) => return Err(e.into()),
    }
    let ci = match state.store.get_user_by_email(DEV_CI_EMAIL).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => {
            let new = NewUser {
                email: DEV_CI_EMAIL.into(),
                name: "CI service user".into(),
                role: "viewer".into(),
                password_hash: None,
                is_service: true,
                mfa_enforced: false,
            };
            state.store.create_user(&new, now).await?
        }
        Err(e) => return Err(e.into()),
    };
    let token_path = dir.join("cicd-token");
    if let Ok(existing) = std::fs::read_to_string(&token_path) {
        let secret = SecretString::from(existing.trim().to_owned());
        let live = state
            .store
            .lookup_api_token(&crate::auth::tokens::hash(&secret))
            .await?
            .is_some_and(|t| {
                t.token.revoked_at.is_none() && t.token.expires_at.is_none_or(|e| e > now)
            });
        if live {
            return Ok(SeededIdentity {
                admin_email: DEV_ADMIN_EMAIL.into(),
                admin_password,
                cicd_token: secret.expose_secret().to_owned(),
            });
        }
    }
    let name = match state.store.get_api_token_by_name("cicd").await {
        Err(StoreError::NotFound) => "cicd".to_owned(),
        _ => format!("cicd-{}", now.unix_timestamp()),
    };
    let name = rgw_core::TokenName::parse(&name)?;
    let scope = crate::api::tokens::TokenScope::parse(Some("cicd"), None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (secret, _) = crate::api::tokens::create_and_audit(
        state,
        crate::audit::Actor::System,
        crate::api::tokens::TokenSpec {
            name: &name,
            scope: &scope,
            owner: &ci,
            expires_in: None,
            created_by: None,
        },
        &crate::auth::RequestMeta::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    write_private(&token_path, secret.expose_secret().as_bytes())?;
    Ok(SeededIdentity {
        admin_email: DEV_ADMIN_EMAIL.into(),
        admin_password,
        cicd_token: secret.expose_secret().to_owned(),
    })
}
