//! Connecting, migrating, pinging; timestamps round-trip identically on both backends.

use rgw_core::clock::normalize as truncate_timestamp;
use rgw_store::testing::{drop_postgres_schema, fresh_postgres_schema, test_stores};
use rgw_store::{Backend, Store, StoreError};
use time::macros::datetime;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_postgres_connects_on_a_fresh_schema_all_succeed() {
    let Some((admin, schema, url)) = fresh_postgres_schema().await else {
        return;
    };
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        set.spawn(async move { Store::connect(&url).await });
    }
    let mut stores = Vec::new();
    while let Some(res) = set.join_next().await {
        stores.push(
            res.expect("task")
                .unwrap_or_else(|e| panic!("connect to {schema}: {e:?}")),
        );
    }
    assert_eq!(stores.len(), 4);
    for store in &stores {
        assert_eq!(store.backend(), Backend::Postgres);
        store.ping().await.unwrap();
    }
    assert!(stores[0].list_users().await.unwrap().is_empty());
    for store in stores {
        store.close().await;
    }
    drop_postgres_schema(&admin, &schema).await;
}

#[tokio::test]
async fn an_unknown_url_scheme_is_refused_naming_rgw_database_url() {
    let err = Store::connect("mysql://root:secret@localhost/db")
        .await
        .unwrap_err();
    let StoreError::Invalid(message) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert!(message.contains("RGW_DATABASE_URL"), "{message}");
    assert!(
        !message.contains("secret"),
        "the password must not leak: {message}"
    );
}

#[tokio::test]
async fn a_store_reconnects_to_its_migrated_database_through_its_url() {
    for t in test_stores().await {
        t.store.ping().await.unwrap();
        fixture(&t.store).await;
        let again = Store::connect(&t.url).await.unwrap();
        assert_eq!(again.backend(), t.backend);
        assert_eq!(
            again.list_users().await.unwrap().len(),
            3,
            "[{}] same database",
            t.backend
        );
        again.close().await;
        t.cleanup().await;
    }
}

#[tokio::test]
async fn timestamps_round_trip_at_microsecond_precision_in_utc() {
    let odd = datetime!(2026-03-04 05:06:07.123_456_789 +02:00);
    assert_eq!(
        truncate_timestamp(odd),
        datetime!(2026-03-04 03:06:07.123_456 UTC)
    );
    for t in test_stores().await {
        let user = user(&t.store, "a@example.com", "viewer", false).await;
        assert_eq!(user.created_at, NOW, "[{}]", t.backend);
        assert!(t.store.lock_user(user.id, "test", odd).await.unwrap());
        let back = t.store.get_user(user.id).await.unwrap();
        assert_eq!(
            back.locked_at,
            Some(truncate_timestamp(odd)),
            "[{}]",
            t.backend
        );
        t.cleanup().await;
    }
}
