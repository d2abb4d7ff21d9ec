//! Approval-bound MFA: a proof verifies one action on one object at one commit, once. Login
//! MFA, a previous approval's proof and a proof for another request never satisfy it, and API
//! tokens never can.

use rgw_core::mfa::{ActionBinding, MfaMethod, TotpCode};
use rgw_server::auth::principal::{Principal, TokenPrincipal};
use rgw_server::mfa::attempts::Purpose;
use rgw_server::mfa::bound::{self, MfaProof};
use rgw_server::mfa::{totp, webauthn};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;
use uuid::Uuid;
use webauthn_authenticator_rs::WebauthnAuthenticator;

use crate::support::{code, envs};
use crate::webauthn::{new_key, origin, register};

const COMMIT_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const COMMIT_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn approve(id: Uuid, commit: &str) -> ActionBinding {
    ActionBinding::new(ActionBinding::APPROVE_DEPLOY, id, commit)
}

#[tokio::test]
async fn a_webauthn_proof_for_request_a_never_verifies_request_b_and_is_single_use() {
    for env in envs().await {
        let (state, who, user) = (&env.state, env.who(), env.principal());
        let mut key = new_key();
        register(state, &who, &mut key, "key").await;
        let (a, b) = (
            approve(Uuid::new_v4(), COMMIT_A),
            approve(Uuid::new_v4(), COMMIT_A),
        );

        // Signed for A, presented for B (another request, same commit): refused.
        let (ceremony, request) = bound::start_bound_assertion(state, &user, &a)
            .await
            .unwrap();
        let assertion = Box::new(key.do_authentication(origin(), request).unwrap());
        let proof = MfaProof::WebAuthn {
            ceremony_id: ceremony,
            assertion,
        };
        assert_eq!(
            code(bound::verify_for_action(state, &user, &b, &proof).await),
            "mfa_binding_mismatch"
        );
        // Same request, other commit: refused too.
        let (ceremony, request) = bound::start_bound_assertion(state, &user, &a)
            .await
            .unwrap();
        let assertion = Box::new(key.do_authentication(origin(), request).unwrap());
        let proof = MfaProof::WebAuthn {
            ceremony_id: ceremony,
            assertion,
        };
        let a_other_commit = approve(a.object_id, COMMIT_B);
        assert_eq!(
            code(bound::verify_for_action(state, &user, &a_other_commit, &proof).await),
            "mfa_binding_mismatch"
        );

        // A fresh proof for A verifies A, once.
        env.clock.advance(Duration::seconds(1));
        let (ceremony, request) = bound::start_bound_assertion(state, &user, &a)
            .await
            .unwrap();
        let assertion = Box::new(key.do_authentication(origin(), request).unwrap());
        let proof = MfaProof::WebAuthn {
            ceremony_id: ceremony,
            assertion,
        };
        assert_eq!(
            bound::verify_for_action(state, &user, &a, &proof)
                .await
                .unwrap(),
            MfaMethod::WebAuthn
        );
        assert_eq!(
            code(bound::verify_for_action(state, &user, &a, &proof).await),
            "webauthn_ceremony_invalid"
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn a_login_assertion_never_satisfies_an_action() {
    for env in envs().await {
        let (state, who, user) = (&env.state, env.who(), env.principal());
        let mut key = new_key();
        register(state, &who, &mut key, "key").await;
        let (ceremony, request) = webauthn::start_assertion(state, &who, None).await.unwrap();
        let assertion = Box::new(key.do_authentication(origin(), request).unwrap());
        let proof = MfaProof::WebAuthn {
            ceremony_id: ceremony,
            assertion,
        };
        let a = approve(Uuid::new_v4(), COMMIT_A);
        assert_eq!(
            code(bound::verify_for_action(state, &user, &a, &proof).await),
            "mfa_binding_mismatch"
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn an_inline_totp_code_is_consumed_by_the_action_and_a_login_code_cannot_be_reused() {
    for env in envs().await {
        let (state, who, user) = (&env.state, env.who(), env.principal());
        let secret: SecretString = totp::enroll(state, &who).await.unwrap().secret_base32;
        let at = |unix| TotpCode::parse(&totp::code_at(&secret, unix).unwrap()).unwrap();
        totp::confirm(state, &who, &at(env.unix())).await.unwrap();
        let (a, b) = (
            approve(Uuid::new_v4(), COMMIT_A),
            approve(Uuid::new_v4(), COMMIT_A),
        );

        // The code that verified the login is spent: it cannot approve.
        env.clock.advance(Duration::seconds(30));
        let login = at(env.unix());
        totp::verify(state, &who, &login, Purpose::Session)
            .await
            .unwrap();
        let proof = MfaProof::Totp(login);
        assert_eq!(
            code(bound::verify_for_action(state, &user, &a, &proof).await),
            "mfa_code_replayed"
        );

        // A new code approves A, and the same code cannot then approve B.
        env.clock.advance(Duration::seconds(30));
        let proof = MfaProof::Totp(at(env.unix()));
        assert_eq!(
            bound::verify_for_action(state, &user, &a, &proof)
                .await
                .unwrap(),
            MfaMethod::Totp
        );
        assert_eq!(
            code(bound::verify_for_action(state, &user, &b, &proof).await),
            "mfa_code_replayed"
        );
        assert!(!secret.expose_secret().is_empty());
        env.cleanup().await;
    }
}

#[test]
fn an_api_token_can_never_provide_bound_mfa() {
    let token = Principal::Token(TokenPrincipal {
        token_id: 1,
        public_id: Uuid::new_v4(),
        name: "admin-token".into(),
        owner_user_id: 1,
        owner_email: "admin@example.com".into(),
        role: Some(rgw_core::rbac::Role::Admin),
        permissions: rgw_core::rbac::Role::Admin.permissions().to_vec(),
        expires_at: None,
    });
    assert_eq!(
        code(bound::human(&token).map(|_| ())),
        "mfa_requires_user_session"
    );
}
