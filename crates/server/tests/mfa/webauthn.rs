//! WebAuthn ceremonies against a software passkey: several keys per user, removal, wrong
//! challenge, wrong origin, ceremony reuse and expiry, and finishing on another replica.

use rgw_server::AppState;
use rgw_server::mfa::attempts::Purpose;
use rgw_server::mfa::{MfaUser, webauthn};
use time::Duration;
use url::Url;
use uuid::Uuid;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::{AuthenticatorBackend, WebauthnAuthenticator};
use webauthn_rs::prelude::PublicKeyCredential;

use crate::support::{PUBLIC_URL, code, envs};

pub fn origin() -> Url {
    Url::parse(PUBLIC_URL).unwrap()
}

/// A software passkey that reports user verification (as a key with a PIN would).
pub fn new_key() -> SoftPasskey {
    SoftPasskey::new(true)
}

/// Registers `key` for `who` under `name`; returns the credential's public id.
pub async fn register(state: &AppState, who: &MfaUser, key: &mut SoftPasskey, name: &str) -> Uuid {
    let (ceremony, options) = webauthn::start_registration(state, who).await.unwrap();
    let response = key
        .do_registration(origin(), options)
        .expect("the soft passkey registers");
    webauthn::finish_registration(state, who, ceremony, name, &response)
        .await
        .unwrap()
        .public_id
}

/// Starts a session assertion and signs it with `key`.
async fn sign_session(
    state: &AppState,
    who: &MfaUser,
    key: &mut SoftPasskey,
) -> (Uuid, PublicKeyCredential) {
    let (ceremony, request) = webauthn::start_assertion(state, who, None).await.unwrap();
    (
        ceremony,
        key.do_authentication(origin(), request)
            .expect("the soft passkey signs"),
    )
}

#[tokio::test]
async fn two_keys_register_and_each_authenticates_and_a_removed_key_is_refused() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let (mut k1, mut k2) = (new_key(), new_key());
        let id1 = register(state, &who, &mut k1, "YubiKey").await;
        let id2 = register(state, &who, &mut k2, "Laptop passkey").await;
        let listed = state
            .store
            .list_webauthn_credentials(env.user.id)
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|c| c.public_id).collect::<Vec<_>>(),
            vec![id1, id2]
        );

        for key in [&mut k1, &mut k2] {
            let (ceremony, assertion) = sign_session(state, &who, key).await;
            webauthn::finish_assertion(state, &who, ceremony, &assertion, None, Purpose::Session)
                .await
                .unwrap();
        }

        // Started while key 1 was registered, finished after it was removed.
        let (ceremony, assertion) = sign_session(state, &who, &mut k1).await;
        webauthn::remove(state, &who, id1).await.unwrap();
        let refused =
            webauthn::finish_assertion(state, &who, ceremony, &assertion, None, Purpose::Session)
                .await;
        assert_eq!(code(refused), "mfa_verification_failed");
        assert_eq!(
            code(webauthn::remove(state, &who, id1).await),
            "webauthn_credential_not_found"
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn an_assertion_over_the_wrong_challenge_is_refused() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let mut key = new_key();
        register(state, &who, &mut key, "key").await;
        let (ceremony, mut request) = webauthn::start_assertion(state, &who, None).await.unwrap();
        request.public_key.challenge = vec![7u8; 32];
        let assertion = key.do_authentication(origin(), request).unwrap();
        let refused =
            webauthn::finish_assertion(state, &who, ceremony, &assertion, None, Purpose::Session)
                .await;
        assert_eq!(code(refused), "mfa_verification_failed");

        // Answering ceremony B with the assertion signed for ceremony A: wrong challenge too.
        let (_a, request_a) = webauthn::start_assertion(state, &who, None).await.unwrap();
        let (b, _request_b) = webauthn::start_assertion(state, &who, None).await.unwrap();
        let for_a = key.do_authentication(origin(), request_a).unwrap();
        let refused =
            webauthn::finish_assertion(state, &who, b, &for_a, None, Purpose::Session).await;
        assert_eq!(code(refused), "mfa_verification_failed");
        env.cleanup().await;
    }
}

#[tokio::test]
async fn an_assertion_made_for_another_origin_is_refused() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let mut key = new_key();
        register(state, &who, &mut key, "key").await;
        for evil in [
            "https://gateway.example.test.evil.example",
            "https://login.gateway.example.test",
        ] {
            let (ceremony, request) = webauthn::start_assertion(state, &who, None).await.unwrap();
            // The low-level backend skips the client's origin checks, as a phishing page's
            // compromised client would.
            let assertion = AuthenticatorBackend::perform_auth(
                &mut key,
                Url::parse(evil).unwrap(),
                request.public_key,
                60_000,
            )
            .unwrap();
            let refused = webauthn::finish_assertion(
                state,
                &who,
                ceremony,
                &assertion,
                None,
                Purpose::Session,
            )
            .await;
            assert_eq!(code(refused), "mfa_verification_failed", "{evil}");
        }
        env.cleanup().await;
    }
}

#[tokio::test]
async fn a_ceremony_finishes_once_expires_and_can_finish_on_another_replica() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let mut key = new_key();
        register(state, &who, &mut key, "key").await;

        let (ceremony, assertion) = sign_session(state, &who, &mut key).await;
        let replica = env.second_instance().await;
        webauthn::finish_assertion(&replica, &who, ceremony, &assertion, None, Purpose::Session)
            .await
            .unwrap();
        let again =
            webauthn::finish_assertion(state, &who, ceremony, &assertion, None, Purpose::Session)
                .await;
        assert_eq!(code(again), "webauthn_ceremony_invalid");

        let (ceremony, assertion) = sign_session(state, &who, &mut key).await;
        env.clock
            .advance(webauthn::CEREMONY_TTL + Duration::seconds(1));
        let late =
            webauthn::finish_assertion(state, &who, ceremony, &assertion, None, Purpose::Session)
                .await;
        assert_eq!(code(late), "webauthn_ceremony_invalid");
        replica.store.close().await;
        env.cleanup().await;
    }
}

#[tokio::test]
async fn expired_ceremonies_are_swept_when_new_ones_start() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let mut key = new_key();
        register(state, &who, &mut key, "key").await;
        let (stale, _) = sign_session(state, &who, &mut key).await;
        env.clock
            .advance(webauthn::CEREMONY_TTL + Duration::hours(2));
        let (fresh, _) = sign_session(state, &who, &mut key).await;
        let stale_left = env
            .test_store
            .raw_execute(&format!(
                "UPDATE webauthn_ceremonies SET kind = kind WHERE id = {}",
                uuid_literal(&env, stale)
            ))
            .await
            .unwrap();
        let fresh_left = env
            .test_store
            .raw_execute(&format!(
                "UPDATE webauthn_ceremonies SET kind = kind WHERE id = {}",
                uuid_literal(&env, fresh)
            ))
            .await
            .unwrap();
        assert_eq!(
            (stale_left, fresh_left),
            (0, 1),
            "the stale ceremony row is gone, the new one stays"
        );
        env.cleanup().await;
    }
}

/// A UUID literal in the backend's storage form (PostgreSQL `uuid`, SQLite 16-byte blob).
fn uuid_literal(env: &crate::support::Env, id: Uuid) -> String {
    match env.test_store.backend {
        rgw_store::Backend::Postgres => format!("'{id}'::uuid"),
        rgw_store::Backend::Sqlite => format!("X'{}'", id.simple()),
    }
}
