//! Backup codes: ten codes, each usable once, a new set invalidating the old one.

use rgw_core::mfa::BackupCode;
use rgw_server::mfa::attempts::Purpose;
use rgw_server::mfa::backup_codes;
use time::Duration;

use crate::support::{code, envs};

#[tokio::test]
async fn a_backup_code_works_once_and_regeneration_invalidates_the_old_set() {
    for env in envs().await {
        let (state, who) = (&env.state, env.who());
        let first = backup_codes::regenerate(state, &who).await.unwrap();
        assert_eq!(first.len(), 10);
        let unique: std::collections::BTreeSet<_> = first.iter().collect();
        assert_eq!(unique.len(), 10);
        assert!(
            first
                .iter()
                .all(|c| c.len() == 14 && c.chars().nth(4) == Some('-'))
        );

        let c0 = BackupCode::parse(&first[0]).unwrap();
        backup_codes::verify(state, &who, &c0, Purpose::Session)
            .await
            .unwrap();
        assert_eq!(
            code(backup_codes::verify(state, &who, &c0, Purpose::Session).await),
            "mfa_verification_failed"
        );
        // Lower case and without dashes is the same code.
        let c1 = BackupCode::parse(&first[1].to_lowercase().replace('-', "")).unwrap();
        backup_codes::verify(state, &who, &c1, Purpose::Session)
            .await
            .unwrap();
        assert_eq!(
            state
                .store
                .count_unused_backup_codes(env.user.id)
                .await
                .unwrap(),
            8
        );

        env.clock.advance(Duration::seconds(1));
        let second = backup_codes::regenerate(state, &who).await.unwrap();
        assert_eq!(
            state
                .store
                .count_unused_backup_codes(env.user.id)
                .await
                .unwrap(),
            10
        );
        let old = BackupCode::parse(&first[2]).unwrap();
        assert_eq!(
            code(backup_codes::verify(state, &who, &old, Purpose::Session).await),
            "mfa_verification_failed"
        );
        let new = BackupCode::parse(&second[2]).unwrap();
        backup_codes::verify(state, &who, &new, Purpose::Session)
            .await
            .unwrap();
        env.cleanup().await;
    }
}
