//! Attempt limiting and lockout: repeated failures lock the account until an admin unlocks it;
//! the per-user budget refuses bursts with 429.

use rgw_core::mfa::{BackupCode, TotpCode};
use rgw_server::mfa::attempts::Purpose;
use rgw_server::mfa::{backup_codes, totp};
use secrecy::ExposeSecret;
use time::Duration;

use crate::support::{code, envs};

fn wrong() -> BackupCode {
    BackupCode::parse("0000-0000-0000").unwrap()
}

#[tokio::test]
async fn five_failures_lock_the_account_until_an_admin_unlocks_it() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let codes = backup_codes::regenerate(state, &who).await.unwrap();
        for _ in 0..4 {
            assert_eq!(
                code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
                "mfa_verification_failed"
            );
            env.clock.advance(Duration::seconds(1));
        }
        // The fifth failure locks.
        assert_eq!(
            code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
            "account_locked"
        );
        let user = state.store.get_user(env.user.id).await.unwrap();
        assert!(user.locked_at.is_some());
        assert!(user.lock_reason.unwrap().contains("5 failed MFA attempts"));
        // Even a correct code is refused while locked, and is not consumed.
        env.clock.advance(Duration::seconds(1));
        let good = BackupCode::parse(&codes[0]).unwrap();
        assert_eq!(
            code(backup_codes::verify(state, &who, &good, Purpose::Session).await),
            "account_locked"
        );
        // Waiting does not unlock.
        env.clock.advance(Duration::hours(2));
        assert_eq!(
            code(backup_codes::verify(state, &who, &good, Purpose::Session).await),
            "account_locked"
        );

        state
            .store
            .unlock_user(env.user.id, env.clock_now())
            .await
            .unwrap();
        env.clock.advance(Duration::seconds(1));
        backup_codes::verify(state, &who, &good, Purpose::Session)
            .await
            .unwrap();
        env.cleanup().await;
    }
}

#[tokio::test]
async fn wrong_codes_paced_across_rate_windows_still_lock_the_account_on_the_fifth() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let codes = backup_codes::regenerate(state, &who).await.unwrap();
        for round in 0..4 {
            assert_eq!(
                code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
                "mfa_verification_failed",
                "guess {round}"
            );
            // Each guess in a new rate window: the window limits the pace, not the total.
            env.clock.advance(Duration::minutes(6));
        }
        assert_eq!(
            code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
            "account_locked"
        );
        // A success forgives earlier failures: after an unlock, four more wrong codes and a
        // right one leave the account open.
        state
            .store
            .unlock_user(env.user.id, env.clock_now())
            .await
            .unwrap();
        for _ in 0..4 {
            env.clock.advance(Duration::minutes(6));
            assert_eq!(
                code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
                "mfa_verification_failed"
            );
        }
        let good = BackupCode::parse(&codes[0]).unwrap();
        backup_codes::verify(state, &who, &good, Purpose::Session)
            .await
            .unwrap();
        env.clock.advance(Duration::minutes(6));
        assert_eq!(
            code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
            "mfa_verification_failed"
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn an_unlock_gives_a_fresh_failure_budget_within_the_same_window() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        for _ in 0..5 {
            let _ = backup_codes::verify(state, &who, &wrong(), Purpose::Session).await;
        }
        assert!(
            state
                .store
                .get_user(env.user.id)
                .await
                .unwrap()
                .locked_at
                .is_some()
        );
        env.clock.advance(Duration::seconds(5));
        state
            .store
            .unlock_user(env.user.id, env.clock_now())
            .await
            .unwrap();
        env.clock.advance(Duration::seconds(1));
        // One typo after the unlock is just a typo.
        assert_eq!(
            code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
            "mfa_verification_failed"
        );
        assert!(
            state
                .store
                .get_user(env.user.id)
                .await
                .unwrap()
                .locked_at
                .is_none()
        );
        env.cleanup().await;
    }
}

#[tokio::test]
async fn attempts_beyond_the_per_user_budget_are_rate_limited() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let secret = totp::enroll(state, &who)
            .await
            .unwrap()
            .secret_base32
            .expose_secret()
            .to_string();
        let confirm = totp::code_at(&secret.clone().into(), env.unix()).unwrap();
        totp::confirm(state, &who, &TotpCode::parse(&confirm).unwrap())
            .await
            .unwrap();
        // Ten successful verifications in five minutes exhaust the budget (1 used by confirm).
        for _ in 0..9 {
            env.clock.advance(Duration::seconds(30));
            let c = totp::code_at(&secret.clone().into(), env.unix()).unwrap();
            totp::verify(state, &who, &TotpCode::parse(&c).unwrap(), Purpose::Session)
                .await
                .unwrap();
        }
        env.clock.advance(Duration::seconds(30));
        let c =
            TotpCode::parse(&totp::code_at(&secret.clone().into(), env.unix()).unwrap()).unwrap();
        assert_eq!(
            code(totp::verify(state, &who, &c, Purpose::Session).await),
            "mfa_rate_limited"
        );
        // The budget is a sliding window, not a lock.
        env.clock.advance(Duration::minutes(5));
        let c = TotpCode::parse(&totp::code_at(&secret.into(), env.unix()).unwrap()).unwrap();
        totp::verify(state, &who, &c, Purpose::Session)
            .await
            .unwrap();
        env.cleanup().await;
    }
}

#[tokio::test]
async fn every_mfa_verification_and_the_lockout_are_audited_with_method_and_reason() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        for _ in 0..5 {
            let _ = backup_codes::verify(state, &who, &wrong(), Purpose::Action).await;
        }
        state.auditor.flush().await;
        let filter = rgw_store::AuditFilter {
            action: Some("mfa.".into()),
            ..Default::default()
        };
        let page = state
            .store
            .list_audit_events(&filter, None, 50)
            .await
            .unwrap();
        let records: Vec<_> = page.events.iter().map(|e| &e.record).collect();
        let failed: Vec<_> = records
            .iter()
            .filter(|r| r.action == "mfa.verify")
            .collect();
        assert_eq!(failed.len(), 5, "{}", env.backend());
        for r in &failed {
            assert_eq!(r.outcome, "failed");
            assert_eq!(r.details["method"], "backup_code");
            assert_eq!(r.details["reason"], "invalid");
            assert_eq!(r.details["purpose"], "action");
            assert_eq!(r.actor_email.as_deref(), Some("alice@example.com"));
        }
        let lock = records
            .iter()
            .find(|r| r.action == "mfa.lockout")
            .expect("lockout audited");
        assert_eq!(lock.details["failures"], 5);
        // Nothing secret is in the trail.
        let all =
            serde_json::to_string(&records.iter().map(|r| &r.details).collect::<Vec<_>>()).unwrap();
        assert!(!all.contains("0000"));
        env.cleanup().await;
    }
}

#[tokio::test]
async fn an_attempt_abandoned_before_it_is_settled_counts_as_a_failure() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        // A request that reserved an attempt and then went away (an error, or the client
        // hanging up mid-check) must not be a free guess.
        let attempt = rgw_server::mfa::attempts::guard(
            state,
            &who,
            rgw_server::mfa::MfaMethod::BackupCode,
            Purpose::Session,
        )
        .await
        .unwrap();
        drop(attempt);
        let since = env.clock_now() - Duration::minutes(1);
        let mut failures = 0;
        for _ in 0..100 {
            failures = state
                .store
                .count_mfa_failures_since(env.user.id, since)
                .await
                .unwrap();
            if failures > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(failures, 1, "{}", env.backend());
        // Four more failures lock: the abandoned attempt was the first of five.
        for _ in 0..3 {
            let _ = backup_codes::verify(state, &who, &wrong(), Purpose::Session).await;
        }
        assert_eq!(
            code(backup_codes::verify(state, &who, &wrong(), Purpose::Session).await),
            "account_locked"
        );
        env.cleanup().await;
    }
}
