//! `Gateway`: fake rack + gateway + store, and tokens minted straight into the store.

use std::time::Duration;

use fake_rack::{FakeRack, Options, Timing};
use rgw_server::{AppState, Config};
use rgw_store::testing::{TestStore, test_stores};
use rgw_store::{NewApiToken, NewUser, Store};
use rgw_testkit::convox::Convox;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const APP: &str = "myapp";
pub const RACK_PASSWORD: &str = "rack-password-0123456789";

pub struct Gateway {
    pub base: String,
    pub state: AppState,
    pub rack: FakeRack,
    pub store: Store,
    _test_store: TestStore,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Runs `f` once per configured backend.
pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(TestStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for ts in test_stores().await {
        f(ts).await;
    }
}

impl Gateway {
    pub async fn start(ts: TestStore) -> Gateway {
        Self::start_with(ts, &[]).await
    }

    pub async fn start_with(ts: TestStore, extra_env: &[(&str, &str)]) -> Gateway {
        let rack = Self::rack(false).await;
        Self::start_on(ts, rack, extra_env).await
    }

    /// A fake rack, over HTTPS with a self-signed certificate when `tls`.
    pub async fn rack(tls: bool) -> FakeRack {
        let rack_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake_rack::spawn(
            rack_listener,
            Options {
                password: RACK_PASSWORD.into(),
                apps: vec![APP.into()],
                timing: Timing::fast(),
                tls,
                ..Options::default()
            },
        )
        .await
        .unwrap()
    }

    /// A gateway in front of `rack`.
    pub async fn start_on(ts: TestStore, rack: FakeRack, extra_env: &[(&str, &str)]) -> Gateway {
        let mut env = vec![
            (
                "RGW_SECRET_KEY".to_string(),
                "test-secret-key-0123456789abcdef0123".to_string(),
            ),
            ("RGW_DATABASE_URL".to_string(), ts.url.clone()),
            ("RGW_RACK_URL".to_string(), rack.rack_url()),
        ];
        for (k, v) in extra_env {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let config = Config::load(None, env).unwrap();
        let state = AppState::new(config, ts.store.clone()).unwrap();
        let serve_state = state.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rgw_server::serve(listener, serve_state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Gateway {
            base,
            state,
            rack,
            store: ts.store.clone(),
            _test_store: ts,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A Convox client through the gateway's proxy with `token` as the Basic password.
    pub fn convox(&self, token: &str) -> Convox {
        Convox::new(format!("{}/api/v1/rack-proxy", self.base), token)
    }

    /// Mints an API token with a role, owned by a fresh service user.
    pub async fn token(&self, name: &str, role: &str) -> String {
        self.token_with(name, Some(role), &[]).await
    }

    pub async fn token_with(&self, name: &str, role: Option<&str>, permissions: &[&str]) -> String {
        let now = rgw_core::Clock::now(&rgw_core::SystemClock);
        let owner = self
            .store
            .create_user(
                &NewUser {
                    email: format!("{name}@example.com"),
                    name: name.into(),
                    role: "viewer".into(),
                    password_hash: None,
                    is_service: true,
                    mfa_enforced: false,
                },
                now,
            )
            .await
            .unwrap();
        // The real format (`rgw_` + base64url(32 random bytes)); identity refuses anything else.
        let secret = rgw_server::auth::tokens::generate_api_token();
        let token = secrecy::ExposeSecret::expose_secret(&secret).to_owned();
        self.store
            .create_api_token(
                &NewApiToken {
                    name: name.into(),
                    token_hash: Sha256::digest(token.as_bytes()).to_vec(),
                    owner_user_id: owner.id,
                    created_by_user_id: None,
                    role: role.map(str::to_string),
                    permissions: permissions.iter().map(|p| p.to_string()).collect(),
                    expires_at: None,
                },
                now,
            )
            .await
            .unwrap();
        token
    }

    /// A human with `role` and a CLI session whose MFA was verified just now (deploy actions
    /// by humans need this step-up); returns the session token, usable as the Basic password.
    pub async fn session(&self, name: &str, role: &str) -> String {
        let now = rgw_core::Clock::now(&rgw_core::SystemClock);
        let user = self
            .store
            .create_user(
                &NewUser {
                    email: format!("{name}@example.com"),
                    name: name.into(),
                    role: role.into(),
                    password_hash: None,
                    is_service: false,
                    mfa_enforced: false,
                },
                now,
            )
            .await
            .unwrap();
        // Enrolled and verified: the MFA policy of this gateway requires both.
        rgw_server::mfa::totp::enroll_confirmed(
            &self.state,
            &rgw_server::mfa::MfaUser::from(&user),
        )
        .await
        .unwrap();
        let issued = rgw_server::auth::session::issue(
            &self.state,
            user.id,
            rgw_server::auth::Channel::Cli,
            &rgw_server::auth::RequestMeta::default(),
            Some(("totp", now)),
        )
        .await
        .unwrap();
        secrecy::ExposeSecret::expose_secret(&issued.token).to_owned()
    }

    /// Builds and promotes [`MANIFEST`] so the app has a release and running processes.
    pub async fn deploy(&self) -> String {
        let cx = self.convox(&self.session("bootstrap-deployer", "deployer").await);
        let url = cx
            .upload(
                APP,
                rgw_testkit::convox::tarball(&[("convox.yml", MANIFEST)]),
            )
            .await;
        let build = cx.create_build(APP, &url, &[]).await;
        let build = cx.wait_build(APP, build["id"].as_str().unwrap()).await;
        let release = build["release"].as_str().unwrap().to_string();
        let r = cx
            .post_form(
                &format!("/apps/{APP}/releases/{release}/promote"),
                &[("force", "false")],
            )
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        cx.wait_running(APP).await;
        release
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

pub const MANIFEST: &str = "services:\n  web:\n    image: registry.example.com/myapp:0123456789abcdef0123456789abcdef01234567\n    port: 3000\n";
