use rstest::rstest;
use serde_json::json;

use super::*;
use crate::audit::record::tests::record;

const KEY: [u8; 32] = [42u8; 32];

fn chain(n: i64) -> (Vec<StoredEvent>, ChainHead) {
    let mut rows = Vec::new();
    let mut prev = GENESIS_MAC;
    for seq in 1..=n {
        let rec = record(seq as u128);
        let m = mac(&KEY, &prev, seq, &rec);
        rows.push(StoredEvent {
            seq,
            prev_mac: prev,
            mac: m,
            record: rec,
        });
        prev = m;
    }
    (rows, ChainHead { seq: n, mac: prev })
}

/// Swaps everything but `seq` between the rows at indexes `a` and `b`.
fn swap_contents(rows: &mut [StoredEvent], a: usize, b: usize) {
    let (sa, sb) = (rows[a].seq, rows[b].seq);
    rows.swap(a, b);
    rows[a].seq = sa;
    rows[b].seq = sb;
}

fn remove_and_renumber(rows: &mut Vec<StoredEvent>, idx: usize) {
    rows.remove(idx);
    for r in rows.iter_mut().skip(idx) {
        r.seq -= 1;
    }
}

fn forged(seq: i64, prev_mac: Mac) -> StoredEvent {
    let mut rec = record(1000);
    rec.action = "login.password".into();
    StoredEvent {
        seq,
        prev_mac,
        mac: [9u8; 32],
        record: rec,
    }
}

#[test]
fn an_intact_chain_verifies_and_reports_its_head() {
    let (rows, head) = chain(5);
    let summary = verify_chain(&KEY, rows, head).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        summary,
        ChainSummary {
            count: 5,
            head_seq: 5,
            head_mac: head.mac
        }
    );
}

#[test]
fn an_empty_chain_with_an_empty_head_verifies() {
    let head = ChainHead {
        seq: 0,
        mac: GENESIS_MAC,
    };
    assert_eq!(verify_chain(&KEY, Vec::new(), head).map(|s| s.count), Ok(0));
}

#[test]
fn a_chain_checked_with_another_key_fails_at_the_first_event() {
    let (rows, head) = chain(3);
    let err = verify_chain(&[1u8; 32], rows, head).err();
    assert_eq!(
        err.map(|e| (e.seq, e.reason)),
        Some((1, BreakReason::Edited))
    );
}

type Tamper = fn(&mut Vec<StoredEvent>, &mut ChainHead);

#[rstest]
#[case::edited_details(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| r[2].record.details = json!({"approved": true}), 3, BreakReason::Edited)]
#[case::edited_actor(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| r[0].record.actor_email = Some("eve@example.com".into()), 1, BreakReason::Edited)]
#[case::edited_last_row(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| r[5].record.outcome = "denied".into(), 6, BreakReason::Edited)]
#[case::edited_time(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| r[3].record.occurred_at += time::Duration::seconds(1), 4, BreakReason::Edited)]
#[case::deleted_middle(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| { r.remove(2); }, 3, BreakReason::Deleted { first: 3, last: 3 })]
#[case::deleted_two(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| { r.drain(1..3); }, 2, BreakReason::Deleted { first: 2, last: 3 })]
#[case::deleted_first(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| { r.remove(0); }, 1, BreakReason::Deleted { first: 1, last: 1 })]
#[case::deleted_tail(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| { r.truncate(4); }, 5, BreakReason::Deleted { first: 5, last: 6 })]
#[case::deleted_middle_and_renumbered(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| remove_and_renumber(r, 2), 3, BreakReason::Deleted { first: 3, last: 3 })]
#[case::inserted_middle_and_renumbered(
    |r: &mut Vec<StoredEvent>, _: &mut ChainHead| { let p = r[1].mac; r.insert(2, forged(3, p)); for x in r.iter_mut().skip(3) { x.seq += 1; } },
    3, BreakReason::Inserted)]
#[case::inserted_at_the_end(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| { let p = r[5].mac; r.push(forged(7, p)); }, 7, BreakReason::Inserted)]
#[case::inserted_at_the_end_with_head_moved(
    |r: &mut Vec<StoredEvent>, h: &mut ChainHead| { let p = r[5].mac; r.push(forged(7, p)); h.seq = 7; h.mac = [9u8; 32]; }, 7, BreakReason::Edited)]
#[case::reordered_adjacent(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| swap_contents(r, 1, 2), 2, BreakReason::Reordered { original_seq: 3 })]
#[case::reordered_far_apart(|r: &mut Vec<StoredEvent>, _: &mut ChainHead| swap_contents(r, 1, 4), 2, BreakReason::Reordered { original_seq: 5 })]
#[case::head_rewound(|_: &mut Vec<StoredEvent>, h: &mut ChainHead| { h.seq = 5; }, 6, BreakReason::Inserted)]
#[case::head_mac_changed(|_: &mut Vec<StoredEvent>, h: &mut ChainHead| { h.mac = [1u8; 32]; }, 6, BreakReason::HeadMismatch { head_seq: 6 })]
fn tampering_is_detected_at_the_first_bad_event(
    #[case] tamper: Tamper,
    #[case] seq: i64,
    #[case] reason: BreakReason,
) {
    let (mut rows, mut head) = chain(6);
    tamper(&mut rows, &mut head);
    let err = verify_chain(&KEY, rows, head).err();
    assert_eq!(err.map(|e| (e.seq, e.reason)), Some((seq, reason)));
}

#[test]
fn a_break_names_the_event_id_and_says_what_happened() {
    let (mut rows, head) = chain(3);
    rows[1].record.action = "approval.approve".into();
    let err = verify_chain(&KEY, rows, head).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "seq 2 (event_id 00000000-0000-0000-0000-000000000002): edited: its MAC does not match its content"
        )
    );
}
