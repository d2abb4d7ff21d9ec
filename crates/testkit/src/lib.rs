//! Test wiring shared by the integration tests of every crate: [`TestApp`] runs a real gateway
//! (`rgw_server::serve` on port 0) against a fresh store from `rgw_store::testing` and a real
//! fake rack, with a [`ManualClock`] the test drives, and typed helpers to create users,
//! tokens and sessions and to make requests. [`convox`] is a Convox-SDK-like client with
//! tarball builders for rack-proxy tests.
//!
//! ```no_run
//! # async fn demo() {
//! for app in rgw_testkit::TestApp::spawn_all().await {
//!     let admin = app.create_user("admin@example.com", "admin", Some("correct horse battery")).await;
//!     let token = app.create_token(&admin.email, "ci", "cicd").await;
//!     let resp = app.get("/api/v1/auth/whoami").bearer_auth(&token).send().await.unwrap();
//!     assert_eq!(resp.status(), 200);
//!     app.cleanup().await;
//! }
//! # }
//! ```

pub mod approvals;
pub mod convox;
pub mod mocks;
pub mod oidc;
mod requests;
pub mod wait;

use std::sync::Arc;

use rgw_core::{Clock, ManualClock, SystemClock};
use rgw_server::AppState;
use rgw_server::auth::{Channel, RequestMeta};
use rgw_store::testing::{TestStore, test_stores};
use rgw_store::{Backend, NewUser, Store, User};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use requests::{body_json, cookie_value, error_code};

/// The secret key every test gateway uses.
pub const TEST_SECRET_KEY: &str = "test-secret-key-0123456789abcdef-0123456789";
/// The fake rack's password.
pub const RACK_PASSWORD: &str = "rack-password";
/// The app the fake rack starts with.
pub const RACK_APP: &str = "myapp";

/// Options for [`TestApp`]s beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Extra `RGW_*` environment entries (e.g. OIDC settings).
    pub env: Vec<(String, String)>,
}

/// A running gateway for one test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The gateway's state (store, keys, clock, config).
    pub state: AppState,
    /// The clock the gateway reads; advance it to test expiry.
    pub clock: ManualClock,
    /// The fake rack behind the gateway.
    pub rack: Arc<fake_rack::FakeRack>,
    /// The database backend.
    pub backend: Backend,
    /// A URL reaching the same database (for a second gateway or an operator command).
    pub database_url: String,
    http: reqwest::Client,
    options: TestOptions,
    shutdown: Option<oneshot::Sender<()>>,
    test_store: Option<TestStore>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("url", &self.url)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl TestApp {
    /// One gateway per available backend (SQLite always; PostgreSQL when
    /// `RGW_TEST_POSTGRES_URL` is set).
    pub async fn spawn_all() -> Vec<TestApp> {
        Self::spawn_all_with(TestOptions::default()).await
    }

    /// Like [`TestApp::spawn_all`] with options.
    pub async fn spawn_all_with(options: TestOptions) -> Vec<TestApp> {
        let mut apps = Vec::new();
        for store in test_stores().await {
            apps.push(Self::spawn_on(store, options.clone()).await);
        }
        apps
    }

    /// Like [`TestApp::spawn_all_with`], with a fake rack on [`fake_rack::Timing::fast`], so
    /// builds and promotes settle in well under a second.
    pub async fn spawn_all_fast(options: TestOptions) -> Vec<TestApp> {
        let mut apps = Vec::new();
        for store in test_stores().await {
            let rack = Arc::new(spawn_rack(fake_rack::Timing::fast()).await);
            apps.push(Self::spawn_with_rack(store, options.clone(), rack).await);
        }
        apps
    }

    /// A gateway on a given fresh test store.
    pub async fn spawn_on(test_store: TestStore, options: TestOptions) -> TestApp {
        let rack = Arc::new(spawn_rack(fake_rack::Timing::default()).await);
        Self::spawn_with_rack(test_store, options, rack).await
    }

    async fn spawn_with_rack(
        test_store: TestStore,
        options: TestOptions,
        rack: Arc<fake_rack::FakeRack>,
    ) -> TestApp {
        let clock = ManualClock::new(SystemClock.now());
        let store = test_store.store.clone();
        let url = test_store.url.clone();
        let mut app = start(store, url, rack, clock, options).await;
        app.test_store = Some(test_store);
        app
    }

    /// A second gateway process on the same database, fake rack and clock (a replica).
    pub async fn spawn_replica(&self) -> TestApp {
        let store = Store::connect(&self.database_url)
            .await
            .expect("connect a replica to the test database");
        start(
            store,
            self.database_url.clone(),
            self.rack.clone(),
            self.clock.clone(),
            self.options.clone(),
        )
        .await
    }

    /// Stops the gateway and drops the test database.
    pub async fn cleanup(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Queued audit events are written before the database goes away.
        self.state.auditor.shutdown().await;
        if let Some(store) = self.test_store.take() {
            store.cleanup().await;
        } else {
            self.state.store.close().await;
        }
    }

    /// Runs raw SQL on the gateway's database (e.g. a trigger that makes a write fail).
    ///
    /// # Panics
    /// On a replica (which has no test store of its own).
    pub async fn raw_execute(&self, sql: &str) -> Result<u64, rgw_store::StoreError> {
        self.test_store
            .as_ref()
            .expect("raw SQL runs on the primary test app")
            .raw_execute(sql)
            .await
    }

    /// The store (same database as the gateway).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// An HTTP client that neither follows redirects nor keeps cookies.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Absolute URL of `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.at(path))
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.at(path))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.at(path))
    }

    /// Creates a user directly in the store (role `viewer|ops|deployer|admin`), with an argon2
    /// password when given.
    pub async fn create_user(&self, email: &str, role: &str, password: Option<&str>) -> User {
        self.insert_user(email, role, password, false).await
    }

    /// Creates a service user (owns CI tokens, cannot log in).
    pub async fn create_service_user(&self, email: &str) -> User {
        self.insert_user(email, "viewer", None, true).await
    }

    async fn insert_user(
        &self,
        email: &str,
        role: &str,
        password: Option<&str>,
        is_service: bool,
    ) -> User {
        let password_hash = match password {
            Some(pw) => Some(
                rgw_server::auth::password::hash_async(SecretString::from(pw.to_owned()))
                    .await
                    .expect("hash a test password"),
            ),
            None => None,
        };
        let new = NewUser {
            email: email.to_owned(),
            name: String::new(),
            role: role.to_owned(),
            password_hash,
            is_service,
            // See `start`: MFA policy is off by default in test gateways.
            mfa_enforced: false,
        };
        self.store()
            .create_user(&new, self.clock.now())
            .await
            .expect("create a test user")
    }

    /// Creates an API token with `role` owned by `owner_email`; returns the secret.
    pub async fn create_token(&self, owner_email: &str, name: &str, role: &str) -> String {
        use rgw_server::api::tokens::{TokenScope, TokenSpec, create_and_audit};
        let owner = self
            .store()
            .get_user_by_email(owner_email)
            .await
            .expect("token owner exists");
        let name = rgw_core::TokenName::parse(name).expect("valid token name");
        let scope = TokenScope::parse(Some(role), None).expect("valid token role");
        let spec = TokenSpec {
            name: &name,
            scope: &scope,
            owner: &owner,
            expires_in: None,
            created_by: None,
        };
        let (secret, _) = create_and_audit(
            &self.state,
            rgw_server::audit::Actor::System,
            spec,
            &RequestMeta::default(),
        )
        .await
        .expect("create a test token");
        secret.expose_secret().to_owned()
    }

    /// Issues a session for `email` directly (no password); returns the `rgws_` token.
    pub async fn session_for(&self, email: &str, channel: Channel) -> String {
        self.issue_session(email, channel, None).await
    }

    /// Issues a session for `email` whose MFA was verified just now (by TOTP), as after
    /// `rack-gateway login --mfa-code`; deploy actions need this step-up.
    pub async fn session_with_mfa(&self, email: &str, channel: Channel) -> String {
        self.issue_session(email, channel, Some(("totp", self.clock.now())))
            .await
    }

    async fn issue_session(
        &self,
        email: &str,
        channel: Channel,
        mfa: Option<(&str, time::OffsetDateTime)>,
    ) -> String {
        let user = self
            .store()
            .get_user_by_email(email)
            .await
            .expect("session user exists");
        let issued = rgw_server::auth::session::issue(
            &self.state,
            user.id,
            channel,
            &RequestMeta::default(),
            mfa,
        )
        .await
        .expect("issue a test session");
        issued.token.expose_secret().to_owned()
    }

    /// The session cookie name of this gateway (`rgw_session` on loopback http).
    pub fn cookie_name(&self) -> &'static str {
        rgw_server::auth::session::cookie_name(&self.state.config)
    }
}

async fn spawn_rack(timing: fake_rack::Timing) -> fake_rack::FakeRack {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake rack");
    fake_rack::spawn(
        listener,
        fake_rack::Options {
            password: RACK_PASSWORD.into(),
            apps: vec![RACK_APP.into()],
            timing,
            ..Default::default()
        },
    )
    .await
    .expect("start the fake rack")
}

async fn start(
    store: Store,
    database_url: String,
    rack: Arc<fake_rack::FakeRack>,
    clock: ManualClock,
    options: TestOptions,
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the gateway");
    let addr = listener.local_addr().expect("gateway address");
    let url = format!("http://{addr}");
    let rack_url = rack
        .url()
        .replacen("://", &format!("://convox:{RACK_PASSWORD}@"), 1);
    let mut env = vec![
        ("RGW_LISTEN".to_owned(), addr.to_string()),
        ("RGW_DATABASE_URL".to_owned(), database_url.clone()),
        ("RGW_SECRET_KEY".to_owned(), TEST_SECRET_KEY.to_owned()),
        ("RGW_PUBLIC_URL".to_owned(), url.clone()),
        ("RGW_RACK_URL".to_owned(), rack_url),
        // Identity and proxy tests exercise accounts without a second factor; MFA policy has
        // its own tests, which turn this back on through `TestOptions::env` (later entries win).
        (
            "RGW_SETTING_MFA_REQUIRE_ALL_USERS".to_owned(),
            "false".to_owned(),
        ),
    ];
    env.extend(options.env.iter().cloned());
    let config = rgw_server::Config::load(None, env).expect("test configuration");
    let state = AppState::new(config, store)
        .expect("test app state")
        .with_clock(Arc::new(clock.clone()) as Arc<dyn Clock>);
    let (tx, rx) = oneshot::channel::<()>();
    let serve_state = state.clone();
    tokio::spawn(async move {
        let _ = rgw_server::serve(listener, serve_state, async {
            let _ = rx.await;
        })
        .await;
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("test HTTP client");
    let backend = state.store.backend();
    TestApp {
        url,
        state,
        clock,
        rack,
        backend,
        database_url,
        http,
        options,
        shutdown: Some(tx),
        test_store: None,
    }
}
