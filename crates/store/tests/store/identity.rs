//! Users, API tokens, sessions, MFA state and settings.

use rgw_store::testing::test_stores;
use rgw_store::{NewApiToken, NewSession, StoreError};
use time::Duration;

use crate::support::*;

#[tokio::test]
async fn emails_are_unique_case_insensitively() {
    for t in test_stores().await {
        let first = user(&t.store, "Alice@Example.com", "admin", false).await;
        assert_eq!(first.email, "alice@example.com");
        assert_eq!(
            t.store
                .get_user_by_email("ALICE@example.COM")
                .await
                .unwrap()
                .id,
            first.id
        );
        let dup_user = rgw_store::NewUser {
            email: "alice@EXAMPLE.com".into(),
            name: String::new(),
            role: "viewer".into(),
            password_hash: None,
            is_service: false,
            mfa_enforced: true,
        };
        assert_conflict(
            &t,
            t.store.create_user(&dup_user, NOW).await,
            "uq_users_email",
        );
        assert_invariant(
            &t,
            t.raw_execute(&format!(
                "UPDATE users SET role = 'cicd' WHERE id = {}",
                first.id
            ))
            .await,
            "check constraint ck_users_role failed",
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn token_lookup_excludes_revoked_expired_and_suspended_owner_tokens() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let found = t
            .store
            .find_active_api_token(b"ci-token-hash", NOW)
            .await
            .unwrap();
        let found = found.unwrap_or_else(|| panic!("[{}] live token must be found", t.backend));
        assert_eq!(
            (found.token.id, found.owner_email.as_str()),
            (fx.token.id, "ci@example.com")
        );
        assert!(found.owner_is_service);

        // Expired.
        let expiring = NewApiToken {
            name: "expiring".into(),
            token_hash: b"expiring".to_vec(),
            owner_user_id: fx.ci_user.id,
            created_by_user_id: Some(fx.admin.id),
            role: None,
            permissions: vec!["gateway:deploy-approval-request:create".into()],
            expires_at: Some(NOW + Duration::hours(1)),
        };
        t.store.create_api_token(&expiring, NOW).await.unwrap();
        assert!(
            t.store
                .find_active_api_token(b"expiring", NOW)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            t.store
                .find_active_api_token(b"expiring", NOW + Duration::hours(1))
                .await
                .unwrap()
                .is_none()
        );

        // Revoked.
        let other = token(&t.store, "other", &fx.admin, b"other").await;
        assert!(t.store.revoke_api_token(other.id, NOW).await.unwrap());
        assert!(!t.store.revoke_api_token(other.id, NOW).await.unwrap());
        assert!(
            t.store
                .find_active_api_token(b"other", NOW)
                .await
                .unwrap()
                .is_none()
        );

        // Owner suspended, then locked.
        t.store
            .set_user_suspended(fx.ci_user.id, Some(NOW), NOW)
            .await
            .unwrap();
        assert!(
            t.store
                .find_active_api_token(b"ci-token-hash", NOW)
                .await
                .unwrap()
                .is_none()
        );
        t.store
            .set_user_suspended(fx.ci_user.id, None, NOW)
            .await
            .unwrap();
        assert!(
            t.store
                .find_active_api_token(b"ci-token-hash", NOW)
                .await
                .unwrap()
                .is_some()
        );
        t.store
            .lock_user(fx.ci_user.id, "mfa failures", NOW)
            .await
            .unwrap();
        assert!(
            t.store
                .find_active_api_token(b"ci-token-hash", NOW)
                .await
                .unwrap()
                .is_none()
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_token_needs_a_role_or_a_permission() {
    for t in test_stores().await {
        let fx = fixture(&t.store).await;
        let bare = NewApiToken {
            name: "bare".into(),
            token_hash: b"bare".to_vec(),
            owner_user_id: fx.admin.id,
            created_by_user_id: None,
            role: None,
            permissions: vec![],
            expires_at: None,
        };
        assert_invariant(
            &t,
            t.store.create_api_token(&bare, NOW).await,
            "check constraint ck_api_tokens_scope failed",
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn failed_logins_lock_the_user_temporarily_until_reset() {
    for t in test_stores().await {
        let u = user(&t.store, "bob@example.com", "ops", false).await;
        let until = NOW + Duration::minutes(15);
        for expected in 1..=3 {
            assert_eq!(
                t.store
                    .record_failed_login(u.id, 3, until, NOW)
                    .await
                    .unwrap(),
                expected
            );
        }
        assert_eq!(
            t.store.get_user(u.id).await.unwrap().login_locked_until,
            Some(until)
        );
        t.store.reset_failed_logins(u.id, NOW).await.unwrap();
        let back = t.store.get_user(u.id).await.unwrap();
        assert_eq!(
            (back.failed_login_count, back.login_locked_until),
            (0, None)
        );
        assert!(t.store.soft_delete_user(u.id, NOW).await.unwrap());
        assert!(matches!(
            t.store.get_user_by_email("bob@example.com").await,
            Err(StoreError::NotFound)
        ));
        t.cleanup().await;
    }
}

#[tokio::test]
async fn sessions_expire_idle_and_absolute_and_can_be_revoked() {
    for t in test_stores().await {
        let u = user(&t.store, "carol@example.com", "admin", false).await;
        let new = NewSession {
            token_hash: b"session".to_vec(),
            user_id: u.id,
            channel: "web".into(),
            idle_expires_at: NOW + Duration::minutes(30),
            absolute_expires_at: NOW + Duration::hours(1),
            mfa_verified_at: None,
            mfa_method: None,
            ip: Some("127.0.0.1".into()),
            user_agent: None,
        };
        let s = t.store.create_session(&new, NOW).await.unwrap();
        assert!(
            t.store
                .find_active_session(b"session", NOW + Duration::minutes(29))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            t.store
                .find_active_session(b"session", NOW + Duration::minutes(30))
                .await
                .unwrap()
                .is_none()
        );
        // Touch extends idle expiry but never past the absolute one.
        assert!(
            t.store
                .touch_session(s.id, NOW + Duration::hours(5), NOW)
                .await
                .unwrap()
        );
        assert!(
            t.store
                .find_active_session(b"session", NOW + Duration::minutes(59))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            t.store
                .find_active_session(b"session", NOW + Duration::hours(1))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            t.store
                .mark_session_mfa_verified(s.id, "totp", NOW)
                .await
                .unwrap()
        );
        assert_eq!(
            t.store.revoke_user_sessions(u.id, None, NOW).await.unwrap(),
            1
        );
        assert!(
            t.store
                .find_active_session(b"session", NOW)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(t.store.list_user_sessions(u.id).await.unwrap().len(), 1);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_totp_step_is_consumed_once() {
    for t in test_stores().await {
        let u = user(&t.store, "dave@example.com", "admin", false).await;
        assert!(
            !t.store.consume_totp_step(u.id, 100).await.unwrap(),
            "no credential yet"
        );
        t.store
            .put_totp_credential(u.id, b"ciphertext", b"nonce", NOW)
            .await
            .unwrap();
        assert!(t.store.confirm_totp_credential(u.id, NOW).await.unwrap());
        assert!(
            t.store.consume_totp_step(u.id, 100).await.unwrap(),
            "first use"
        );
        assert!(
            !t.store.consume_totp_step(u.id, 100).await.unwrap(),
            "replay"
        );
        assert!(
            !t.store.consume_totp_step(u.id, 99).await.unwrap(),
            "older step"
        );
        assert!(
            t.store.consume_totp_step(u.id, 101).await.unwrap(),
            "next step"
        );
        assert_eq!(
            t.store
                .get_totp_credential(u.id)
                .await
                .unwrap()
                .unwrap()
                .last_used_step,
            Some(101)
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn backup_codes_are_single_use_and_attempts_are_counted() {
    for t in test_stores().await {
        let u = user(&t.store, "erin@example.com", "admin", false).await;
        t.store
            .replace_backup_codes(u.id, &[b"h1".to_vec(), b"h2".to_vec()], 1, NOW)
            .await
            .unwrap();
        assert!(t.store.consume_backup_code(u.id, b"h1", NOW).await.unwrap());
        assert!(!t.store.consume_backup_code(u.id, b"h1", NOW).await.unwrap());
        t.store
            .replace_backup_codes(u.id, &[b"h3".to_vec()], 2, NOW)
            .await
            .unwrap();
        assert!(
            !t.store.consume_backup_code(u.id, b"h2", NOW).await.unwrap(),
            "old generation is gone"
        );
        t.store
            .record_mfa_attempt(u.id, "totp", false, NOW)
            .await
            .unwrap();
        t.store
            .record_mfa_attempt(u.id, "totp", false, NOW + Duration::minutes(1))
            .await
            .unwrap();
        t.store
            .record_mfa_attempt(u.id, "backup_code", true, NOW)
            .await
            .unwrap();
        assert_eq!(
            t.store
                .count_mfa_failures_since(u.id, NOW + Duration::seconds(30))
                .await
                .unwrap(),
            1
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn settings_are_scoped_and_upserted() {
    for t in test_stores().await {
        let v15 = serde_json::json!(15);
        t.store
            .put_setting("", "deploy_approval_window_minutes", &v15, None, NOW)
            .await
            .unwrap();
        t.store
            .put_setting(
                "myapp",
                "approved_deploy_commands",
                &serde_json::json!(["rake db:migrate"]),
                None,
                NOW,
            )
            .await
            .unwrap();
        t.store
            .put_setting(
                "",
                "deploy_approval_window_minutes",
                &serde_json::json!(30),
                None,
                NOW,
            )
            .await
            .unwrap();
        let got = t
            .store
            .get_setting("", "deploy_approval_window_minutes")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.value.0, serde_json::json!(30));
        assert_eq!(t.store.list_settings(None).await.unwrap().len(), 2);
        assert_eq!(t.store.list_settings(Some("myapp")).await.unwrap().len(), 1);
        assert!(
            t.store
                .delete_setting("myapp", "approved_deploy_commands")
                .await
                .unwrap()
        );
        assert!(
            t.store
                .get_setting("myapp", "approved_deploy_commands")
                .await
                .unwrap()
                .is_none()
        );
        t.cleanup().await;
    }
}
