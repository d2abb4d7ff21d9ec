//! The audit tables are append-only: the database refuses UPDATE and DELETE.

use rgw_store::testing::test_stores;

use crate::support::*;

#[tokio::test]
async fn audit_events_refuse_update_and_delete() {
    for t in test_stores().await {
        let insert = format!(
            "INSERT INTO audit_events (seq, event_id, occurred_at, actor_type, action, outcome, \
             details, prev_mac, mac) VALUES (1, {}, '2026-01-01T12:00:00.000000Z', 'system', \
             'test.event', 'success', '{{}}', {mac}, {mac})",
            new_uuid_sql(t.backend),
            mac = zero_mac_sql(t.backend)
        );
        assert_eq!(t.raw_execute(&insert).await.unwrap(), 1, "[{}]", t.backend);
        for bad in [
            "UPDATE audit_events SET action = 'edited' WHERE seq = 1",
            "DELETE FROM audit_events WHERE seq = 1",
            "DELETE FROM audit_events",
        ] {
            assert_invariant(&t, t.raw_execute(bad).await, "audit events are append-only");
        }
        // The sequence is a chain position: a second event 1 is a conflict, not a new row.
        assert_conflict(&t, t.raw_execute(&insert).await, "audit_events_pkey");
        t.cleanup().await;
    }
}

#[tokio::test]
async fn the_audit_chain_head_is_seeded_and_can_move_but_not_be_deleted() {
    for t in test_stores().await {
        let moved = t
            .raw_execute("UPDATE audit_chain_head SET seq = 1 WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(moved, 1, "[{}] one seeded head row", t.backend);
        assert_invariant(
            &t,
            t.raw_execute("DELETE FROM audit_chain_head").await,
            "the audit chain head cannot be deleted",
        );
        assert_invariant(
            &t,
            t.raw_execute(&format!(
                "INSERT INTO audit_chain_head (id, seq, mac) VALUES (2, 0, {})",
                zero_mac_sql(t.backend)
            ))
            .await,
            "check constraint ck_audit_chain_head_id failed",
        );
        t.cleanup().await;
    }
}
