//! Every (status, event) pair of the lifecycle.

use super::*;
use ApprovalStatus as S;
use rstest::rstest;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-05-01 12:00:00 UTC);

fn live() -> TransitionContext {
    TransitionContext {
        now: T0,
        pending_expires_at: T0 + Duration::hours(1),
        approval_expires_at: Some(T0 + Duration::minutes(15)),
    }
}

fn late() -> TransitionContext {
    TransitionContext {
        now: T0 + Duration::hours(2),
        ..live()
    }
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    Approve,
    Reject,
    ExpirePending,
    ExpireApproval,
    Deploy,
    Supersede,
}

fn event(ev: Ev) -> ApprovalEvent<'static, u32> {
    match ev {
        Ev::Approve => ApprovalEvent::Approve {
            approver: &2,
            creator: Some(&1),
            token_owner: None,
            seen_digest: "d1",
            current_digest: "d1",
            prior_approvers: &[],
            quorum: 1,
        },
        Ev::Supersede => ApprovalEvent::Supersede,
        Ev::Reject => ApprovalEvent::Reject,
        Ev::ExpirePending => ApprovalEvent::ExpirePending,
        Ev::ExpireApproval => ApprovalEvent::ExpireApproval,
        Ev::Deploy => ApprovalEvent::Deploy,
    }
}

type Want = Result<ApprovalStatus, TransitionError>;
use TransitionError as E;

#[rstest]
// pending
#[case(S::Pending, Ev::Approve, false, Ok(S::Approved))]
#[case(S::Pending, Ev::Approve, true, Err(E::PendingExpired(T0 + Duration::hours(1))))]
#[case(S::Pending, Ev::Reject, false, Ok(S::Rejected))]
#[case(S::Pending, Ev::Reject, true, Ok(S::Rejected))]
#[case(S::Pending, Ev::ExpirePending, false, Err(E::NotYetExpired(T0 + Duration::hours(1))))]
#[case(S::Pending, Ev::ExpirePending, true, Ok(S::Expired))]
#[case(S::Pending, Ev::ExpireApproval, true, Err(E::NotApproved(S::Pending)))]
#[case(S::Pending, Ev::Deploy, false, Err(E::NotApproved(S::Pending)))]
#[case(S::Pending, Ev::Supersede, false, Err(E::NotApproved(S::Pending)))]
// approved
#[case(S::Approved, Ev::Approve, false, Err(E::NotPending(S::Approved)))]
#[case(S::Approved, Ev::Reject, false, Ok(S::Rejected))]
#[case(S::Approved, Ev::ExpirePending, true, Err(E::NotPending(S::Approved)))]
#[case(S::Approved, Ev::ExpireApproval, false, Err(E::NotYetExpired(T0 + Duration::minutes(15))))]
#[case(S::Approved, Ev::ExpireApproval, true, Ok(S::Expired))]
#[case(S::Approved, Ev::Deploy, false, Ok(S::Deployed))]
#[case(S::Approved, Ev::Deploy, true, Err(E::ApprovalExpired(T0 + Duration::minutes(15))))]
#[case(S::Approved, Ev::Supersede, false, Ok(S::Expired))]
// terminal states are final
#[case(S::Rejected, Ev::Approve, false, Err(E::Terminal(S::Rejected)))]
#[case(S::Rejected, Ev::Reject, false, Err(E::Terminal(S::Rejected)))]
#[case(S::Rejected, Ev::ExpirePending, true, Err(E::Terminal(S::Rejected)))]
#[case(S::Rejected, Ev::ExpireApproval, true, Err(E::Terminal(S::Rejected)))]
#[case(S::Rejected, Ev::Deploy, false, Err(E::Terminal(S::Rejected)))]
#[case(S::Rejected, Ev::Supersede, false, Err(E::Terminal(S::Rejected)))]
#[case(S::Expired, Ev::Approve, false, Err(E::Terminal(S::Expired)))]
#[case(S::Expired, Ev::Reject, false, Err(E::Terminal(S::Expired)))]
#[case(S::Expired, Ev::ExpirePending, true, Err(E::Terminal(S::Expired)))]
#[case(S::Expired, Ev::ExpireApproval, true, Err(E::Terminal(S::Expired)))]
#[case(S::Expired, Ev::Deploy, false, Err(E::Terminal(S::Expired)))]
#[case(S::Expired, Ev::Supersede, false, Err(E::Terminal(S::Expired)))]
#[case(S::Deployed, Ev::Approve, false, Err(E::Terminal(S::Deployed)))]
#[case(S::Deployed, Ev::Reject, false, Err(E::Terminal(S::Deployed)))]
#[case(S::Deployed, Ev::ExpirePending, true, Err(E::Terminal(S::Deployed)))]
#[case(S::Deployed, Ev::ExpireApproval, true, Err(E::Terminal(S::Deployed)))]
#[case(S::Deployed, Ev::Deploy, false, Err(E::Terminal(S::Deployed)))]
#[case(S::Deployed, Ev::Supersede, false, Err(E::Terminal(S::Deployed)))]
fn every_status_and_event_pair_has_a_defined_outcome(
    #[case] from: ApprovalStatus,
    #[case] ev: Ev,
    #[case] is_late: bool,
    #[case] want: Want,
) {
    let ctx = if is_late { late() } else { live() };
    assert_eq!(transition(from, &event(ev), &ctx), want);
}

#[test]
fn the_creator_never_counts_towards_the_quorum() {
    let ev = ApprovalEvent::Approve {
        approver: &1,
        creator: Some(&1),
        token_owner: None,
        seen_digest: "d",
        current_digest: "d",
        prior_approvers: &[],
        quorum: 1,
    };
    assert_eq!(
        transition(S::Pending, &ev, &live()),
        Err(E::CreatorCannotApprove)
    );
}

#[rstest]
#[case(&[], 2, Ok(S::Pending))]
#[case(&[3], 2, Ok(S::Approved))]
#[case(&[3], 3, Ok(S::Pending))]
#[case(&[2], 2, Err(E::AlreadyApproved { quorum: 2 }))]
#[case(&[], 0, Err(E::InvalidQuorum))]
fn a_quorum_needs_distinct_admins(
    #[case] prior: &'static [u32],
    #[case] quorum: u32,
    #[case] want: Want,
) {
    let ev = ApprovalEvent::Approve {
        approver: &2,
        creator: Some(&1),
        token_owner: None,
        seen_digest: "d",
        current_digest: "d",
        prior_approvers: prior,
        quorum,
    };
    assert_eq!(transition(S::Pending, &ev, &live()), want);
}

#[test]
fn an_approved_request_without_expiry_is_refused_rather_than_deployed() {
    let ctx = TransitionContext {
        approval_expires_at: None,
        ..live()
    };
    assert_eq!(
        transition::<u32>(S::Approved, &ApprovalEvent::Deploy, &ctx),
        Err(E::MissingApprovalExpiry)
    );
}

#[test]
fn expiry_times_follow_the_settings() {
    let p = ApprovalPolicy::from_settings(15, 1440, 1).unwrap();
    assert_eq!(p, ApprovalPolicy::default());
    assert_eq!(
        p.approval_expires_at(T0),
        datetime!(2026-05-01 12:15:00 UTC)
    );
    assert_eq!(p.pending_expires_at(T0), datetime!(2026-05-02 12:00:00 UTC));
    assert!(ApprovalPolicy::from_settings(0, 1440, 1).is_err());
    assert!(ApprovalPolicy::from_settings(15, 1440, 0).is_err());
    assert!(ApprovalPolicy::from_settings(15, i64::MAX, 1).is_err());
}

#[test]
fn statuses_serialise_as_exact_lower_case_names() {
    for s in ApprovalStatus::ALL {
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        assert_eq!(s.as_str().parse::<ApprovalStatus>().unwrap(), s);
    }
    assert!(serde_json::from_str::<ApprovalStatus>("\"Pending\"").is_err());
}

#[test]
fn the_token_owner_cannot_approve_when_the_app_forbids_it() {
    let ev = ApprovalEvent::Approve {
        approver: &3,
        creator: None,
        token_owner: Some(&3),
        seen_digest: "d",
        current_digest: "d",
        prior_approvers: &[],
        quorum: 1,
    };
    assert_eq!(
        transition(S::Pending, &ev, &live()),
        Err(E::TokenOwnerCannotApprove)
    );
}

#[test]
fn an_approval_of_a_changed_intent_is_refused() {
    let ev = ApprovalEvent::Approve {
        approver: &2,
        creator: Some(&1),
        token_owner: None,
        seen_digest: "old",
        current_digest: "new",
        prior_approvers: &[],
        quorum: 1,
    };
    assert_eq!(
        transition(S::Pending, &ev, &live()),
        Err(E::IntentChanged {
            current: "new".into()
        })
    );
}

#[test]
fn expiry_reasons_round_trip() {
    for r in [
        ExpiryReason::PendingTtl,
        ExpiryReason::ApprovalWindow,
        ExpiryReason::Superseded,
    ] {
        assert_eq!(ExpiryReason::parse(r.as_str()), Some(r));
    }
    assert_eq!(ExpiryReason::parse("other"), None);
}
