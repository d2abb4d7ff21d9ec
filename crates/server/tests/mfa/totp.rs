//! TOTP: enrolment, confirmation, oathtool interop, replay and wrong-step refusals, and the
//! secret sealed at rest.

use rgw_core::mfa::TotpCode;
use rgw_server::mfa::attempts::Purpose;
use rgw_server::mfa::totp;
use secrecy::ExposeSecret;
use time::Duration;

use crate::support::{code, envs};

/// The code `oathtool` computes for `secret` at `unix`.
fn oathtool(secret_base32: &str, unix: u64) -> TotpCode {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret_base32, "-N", &format!("@{unix}")])
        .output()
        .expect("oathtool is installed (apt-get install oathtool)");
    assert!(
        out.status.success(),
        "oathtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    TotpCode::parse(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

#[tokio::test]
async fn codes_from_oathtool_enrol_and_then_verify_once_per_time_step() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let enrolment = totp::enroll(state, &who).await.unwrap();
        let uri = enrolment.otpauth_uri.expose_secret();
        assert!(
            uri.starts_with("otpauth://totp/rack-gateway:alice%40example.com?"),
            "{uri}"
        );
        assert!(!enrolment.qr_png_base64.is_empty());
        let secret = enrolment.secret_base32.expose_secret().to_string();

        totp::confirm(state, &who, &oathtool(&secret, env.unix()))
            .await
            .unwrap();
        env.clock.advance(Duration::seconds(30));
        let now_code = oathtool(&secret, env.unix());
        totp::verify(state, &who, &now_code, Purpose::Session)
            .await
            .unwrap();
        // The same code again within its step is a replay, reported as such.
        assert_eq!(
            code(totp::verify(state, &who, &now_code, Purpose::Session).await),
            "mfa_code_replayed",
            "{}",
            env.backend()
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn a_code_from_a_step_already_used_or_outside_the_skew_window_is_refused() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let secret = totp::enroll(state, &who)
            .await
            .unwrap()
            .secret_base32
            .expose_secret()
            .to_string();
        totp::confirm(state, &who, &oathtool(&secret, env.unix()))
            .await
            .unwrap();

        // The previous step is within the ±1 skew but older than the step just used: a replay.
        env.clock.advance(Duration::seconds(30));
        let previous = oathtool(&secret, env.unix() - 30);
        assert_eq!(
            code(totp::verify(state, &who, &previous, Purpose::Session).await),
            "mfa_code_replayed"
        );
        // Two steps away is outside the window: simply wrong.
        let stale = oathtool(&secret, env.unix() - 60);
        let future = oathtool(&secret, env.unix() + 60);
        for c in [stale, future] {
            assert_eq!(
                code(totp::verify(state, &who, &c, Purpose::Session).await),
                "mfa_verification_failed"
            );
        }
        // The next step (clock skew +1) is accepted once.
        let next = oathtool(&secret, env.unix() + 30);
        totp::verify(state, &who, &next, Purpose::Session)
            .await
            .unwrap();
        env.cleanup().await;
    }
}

#[tokio::test]
async fn a_code_before_confirmation_does_not_verify_and_confirming_twice_conflicts() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let secret = totp::enroll(state, &who)
            .await
            .unwrap()
            .secret_base32
            .expose_secret()
            .to_string();
        let c = oathtool(&secret, env.unix());
        assert_eq!(
            code(totp::verify(state, &who, &c, Purpose::Session).await),
            "mfa_not_enrolled"
        );
        totp::confirm(state, &who, &c).await.unwrap();
        assert_eq!(
            code(totp::confirm(state, &who, &c).await),
            "mfa_totp_already_enrolled"
        );
        assert_eq!(
            code(totp::enroll(state, &who).await),
            "mfa_totp_already_enrolled"
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn the_totp_secret_is_not_stored_in_plaintext() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let enrolment = totp::enroll(state, &who).await.unwrap();
        let secret = enrolment.secret_base32.expose_secret().to_string();
        let raw = totp_rs::Secret::try_from_base32(&secret).unwrap();
        let row = state
            .store
            .get_totp_credential(env.user.id)
            .await
            .unwrap()
            .unwrap();
        let stored = &row.secret_ciphertext;
        assert_eq!(row.secret_nonce.len(), 12);
        assert_eq!(
            stored.len(),
            raw.as_bytes().len() + 16,
            "ciphertext plus GCM tag"
        );
        assert!(
            !stored
                .windows(raw.as_bytes().len())
                .any(|w| w == raw.as_bytes())
        );
        assert!(!String::from_utf8_lossy(stored).contains(&secret));
        assert!(!format!("{enrolment:?}").contains(&secret));
        env.cleanup().await;
    }
}
