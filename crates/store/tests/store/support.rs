//! Fixtures shared by the store tests.

use rgw_store::testing::TestStore;
use rgw_store::{
    ApiToken, Backend, Claim, ClaimExpect, DeployApprovalRequest, NewApiToken, NewDeployApproval,
    NewDeployApprovalRequest, NewUser, Store, StoreError, User,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A whole second on purpose: the SQLite text form must still sort correctly.
pub const NOW: OffsetDateTime = datetime!(2026-01-01 12:00:00 UTC);

pub const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
pub const SHA2: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// Users and a CI token to hang requests on.
pub struct Fixture {
    pub admin: User,
    pub admin2: User,
    pub ci_user: User,
    pub token: ApiToken,
}

pub async fn user(store: &Store, email: &str, role: &str, is_service: bool) -> User {
    store
        .create_user(
            &NewUser {
                email: email.to_owned(),
                name: email.to_owned(),
                role: role.to_owned(),
                password_hash: None,
                is_service,
                mfa_enforced: !is_service,
            },
            NOW,
        )
        .await
        .expect("create user")
}

pub async fn token(store: &Store, name: &str, owner: &User, hash: &[u8]) -> ApiToken {
    store
        .create_api_token(
            &NewApiToken {
                name: name.to_owned(),
                token_hash: hash.to_vec(),
                owner_user_id: owner.id,
                created_by_user_id: None,
                role: Some("cicd".to_owned()),
                permissions: vec![],
                expires_at: None,
            },
            NOW,
        )
        .await
        .expect("create token")
}

pub async fn fixture(store: &Store) -> Fixture {
    let admin = user(store, "admin@example.com", "admin", false).await;
    let admin2 = user(store, "admin2@example.com", "admin", false).await;
    let ci_user = user(store, "ci@example.com", "deployer", true).await;
    let token = token(store, "ci", &ci_user, b"ci-token-hash").await;
    Fixture {
        admin,
        admin2,
        ci_user,
        token,
    }
}

pub fn new_request(fx: &Fixture, sha: &str) -> NewDeployApprovalRequest {
    NewDeployApprovalRequest {
        public_id: uuid::Uuid::now_v7(),
        intent_digest: format!("sha256:{}", "0".repeat(64)),
        approval_window_minutes: 15,
        app: "myapp".to_owned(),
        git_commit_hash: sha.to_owned(),
        git_branch: Some("main".to_owned()),
        pr_url: None,
        ci_metadata: serde_json::json!({"workflow_id": "abc-123", "pipeline_number": "42"}),
        message: "Deploy to production".to_owned(),
        target_api_token_id: fx.token.id,
        created_by_user_id: None,
        created_by_api_token_id: Some(fx.token.id),
        required_approvals: 1,
        pending_expires_at: NOW + Duration::days(1),
    }
}

pub async fn pending(store: &Store, fx: &Fixture, sha: &str) -> DeployApprovalRequest {
    store
        .create_request(&new_request(fx, sha), NOW)
        .await
        .expect("create request")
}

/// A request approved by `fx.admin` (MFA via TOTP), window 15 minutes.
pub async fn approved(store: &Store, fx: &Fixture, sha: &str) -> DeployApprovalRequest {
    let req = pending(store, fx, sha).await;
    let mut tx = store.begin().await.expect("begin");
    tx.add_approval(
        &NewDeployApproval {
            request_id: req.id,
            user_id: fx.admin.id,
            notes: Some("LGTM".to_owned()),
            mfa_method: "totp".to_owned(),
            intent_digest: req.intent_digest.clone().unwrap_or_default(),
            mfa_binding: format!("deploy_approval.approve:{}@{sha}", req.public_id),
        },
        NOW,
    )
    .await
    .expect("add approval");
    assert!(
        tx.approve_request(req.id, NOW + Duration::minutes(15), NOW)
            .await
            .expect("approve")
    );
    tx.commit().await.expect("commit");
    store.get_request(req.id).await.expect("reload")
}

/// Claims `expect` on `req` at `NOW` (15-minute staleness bound).
pub async fn claim(
    store: &Store,
    req: &DeployApprovalRequest,
    expect: ClaimExpect<'_>,
) -> Option<Claim> {
    store
        .claim_step(req.id, expect, NOW, NOW - Duration::minutes(15))
        .await
        .expect("claim")
}

/// Records an upload of `url` through a claim.
pub async fn record_object(store: &Store, req: &DeployApprovalRequest, url: &str) {
    let c = claim(store, req, ClaimExpect::Object { url })
        .await
        .expect("object claim");
    assert!(
        store
            .confirm_object(&c, url, NOW)
            .await
            .expect("confirm object")
    );
}

/// Records build `build` from `url` through a claim.
pub async fn record_build(store: &Store, req: &DeployApprovalRequest, url: &str, build: &str) {
    let c = claim(
        store,
        req,
        ClaimExpect::Build {
            object_url: url,
            replacing: None,
        },
    )
    .await
    .expect("build claim");
    assert!(
        store
            .confirm_build(&c, build, NOW)
            .await
            .expect("confirm build")
    );
}

/// A request that went the whole chain to `deployed`.
pub async fn deployed(store: &Store, fx: &Fixture, sha: &str) -> DeployApprovalRequest {
    let req = approved(store, fx, sha).await;
    record_object(store, &req, "object:///myapp/a.tgz").await;
    record_build(store, &req, "object:///myapp/a.tgz", "BABC").await;
    assert!(
        store
            .set_release_id(req.id, "RABC", NOW)
            .await
            .expect("release")
    );
    let c = claim(store, &req, ClaimExpect::Promote { release: "RABC" })
        .await
        .expect("promote claim");
    assert!(store.confirm_deployed(&c, NOW).await.expect("deployed"));
    store.get_request(req.id).await.expect("reload")
}

/// Asserts that a raw write was refused by a trigger/CHECK with exactly `expected`.
pub fn assert_invariant<T: std::fmt::Debug>(
    t: &TestStore,
    res: Result<T, StoreError>,
    expected: &str,
) {
    match res {
        Err(StoreError::Invariant { message }) => {
            assert_eq!(message, expected, "[{}] wrong refusal message", t.backend);
        }
        other => panic!(
            "[{}] expected Invariant({expected:?}), got {other:?}",
            t.backend
        ),
    }
}

/// Asserts a unique-constraint refusal on `constraint`.
pub fn assert_conflict<T: std::fmt::Debug>(
    t: &TestStore,
    res: Result<T, StoreError>,
    constraint: &str,
) {
    match res {
        Err(StoreError::Conflict { constraint: c, .. }) => {
            assert_eq!(c, constraint, "[{}] wrong constraint", t.backend);
        }
        other => panic!(
            "[{}] expected Conflict({constraint}), got {other:?}",
            t.backend
        ),
    }
}

/// A fresh UUID as an SQL expression of the backend's uuid column type.
pub fn new_uuid_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "randomblob(16)",
        Backend::Postgres => "gen_random_uuid()",
    }
}

/// 32 zero bytes as an SQL expression.
pub fn zero_mac_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "zeroblob(32)",
        Backend::Postgres => "decode(repeat('00', 32), 'hex')",
    }
}

/// A raw INSERT of a request, bypassing the repository.
pub fn raw_insert_request(t: &TestStore, token_id: i64, sha: &str, status: &str) -> String {
    format!(
        "INSERT INTO deploy_approval_requests (public_id, app, git_commit_hash, message, status, \
         target_api_token_id, pending_expires_at, created_at, updated_at) VALUES ({}, 'myapp', '{sha}', \
         'raw', '{status}', {token_id}, '2026-01-02T12:00:00.000000Z', '2026-01-01T12:00:00.000000Z', \
         '2026-01-01T12:00:00.000000Z')",
        new_uuid_sql(t.backend)
    )
}

/// Raw SQL that claims `step` on request `id` (so the artefact rules below are reached).
pub fn raw_claim(id: i64, step: &str) -> String {
    format!(
        "UPDATE deploy_approval_requests SET chain_claim = '{step}', chain_claim_at = '2026-01-01T12:00:00.000000Z' WHERE id = {id}"
    )
}
