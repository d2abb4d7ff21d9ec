//! Shared setup: a gateway state over a fresh store per backend, a manual clock and a user.

use std::sync::Arc;

use rgw_core::ManualClock;
use rgw_core::rbac::Role;
use rgw_server::auth::principal::{Channel, UserPrincipal};
use rgw_server::config::Config;
use rgw_server::mfa::MfaUser;
use rgw_server::{ApiError, AppState};
use rgw_store::testing::{TestStore, test_stores};
use rgw_store::{NewUser, User};
use time::macros::datetime;

/// The public URL the tests' relying party lives at.
pub const PUBLIC_URL: &str = "https://gateway.example.test";

pub struct Env {
    pub state: AppState,
    pub clock: ManualClock,
    pub user: User,
    pub test_store: TestStore,
}

impl Env {
    pub fn who(&self) -> MfaUser {
        MfaUser::from(&self.user)
    }

    /// A session principal for the user, as the request extractor would build it.
    pub fn principal(&self) -> UserPrincipal {
        UserPrincipal {
            user_id: self.user.id,
            public_id: self.user.public_id,
            email: self.user.email.clone(),
            role: Role::Admin,
            session_id: 0,
            session_public_id: uuid::Uuid::new_v4(),
            channel: Channel::Web,
            mfa_verified_at: None,
            mfa_enrolled: true,
            session_expires_at: self.clock_now() + time::Duration::hours(1),
            via_cookie: false,
        }
    }

    pub fn clock_now(&self) -> time::OffsetDateTime {
        use rgw_core::Clock;
        self.clock.now()
    }

    pub fn unix(&self) -> u64 {
        u64::try_from(self.clock_now().unix_timestamp()).unwrap()
    }

    pub fn backend(&self) -> String {
        self.test_store.backend.to_string()
    }

    /// A second gateway instance (another replica) on the same database.
    pub async fn second_instance(&self) -> AppState {
        let store = rgw_store::Store::connect(&self.test_store.url)
            .await
            .unwrap();
        state_for(store, &self.test_store.url, self.clock.clone())
    }

    pub async fn cleanup(self) {
        self.test_store.cleanup().await;
    }
}

pub fn state_for(store: rgw_store::Store, url: &str, clock: ManualClock) -> AppState {
    let env = [
        ("RGW_DATABASE_URL", url),
        (
            "RGW_SECRET_KEY",
            "test-secret-key-0123456789abcdef0123456789",
        ),
        ("RGW_PUBLIC_URL", PUBLIC_URL),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::load(None, env).unwrap();
    AppState::new(config, store)
        .unwrap()
        .with_clock(Arc::new(clock))
}

/// One environment per available backend, each with a fresh admin user.
pub async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for t in test_stores().await {
        let clock = ManualClock::new(datetime!(2026-03-02 10:00:10 UTC));
        let state = state_for(t.store.clone(), &t.url, clock.clone());
        let user = t
            .store
            .create_user(
                &NewUser {
                    email: "alice@example.com".into(),
                    name: "Alice".into(),
                    role: "admin".into(),
                    password_hash: None,
                    is_service: false,
                    mfa_enforced: true,
                },
                rgw_core::Clock::now(&clock),
            )
            .await
            .unwrap();
        out.push(Env {
            state,
            clock,
            user,
            test_store: t,
        });
    }
    out
}

/// The error code of a failed call.
pub fn code<T: std::fmt::Debug>(r: Result<T, ApiError>) -> &'static str {
    r.expect_err("expected the call to be refused").code()
}
