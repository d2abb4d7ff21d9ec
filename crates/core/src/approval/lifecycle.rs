//! What can change a deploy approval's status: the one place that says so (PRODUCT.md §3).
//!
//! ```text
//! (new) ──► pending ──approve (quorum reached)──► approved ──deploy──► deployed
//!              │  └─approve (below quorum)─► pending    │
//!              ├──reject──► rejected ◄──reject───────────┤
//!              └──expire (pending TTL)──► expired ◄──expire (approval window)
//! ```
//! `rejected`, `expired` and `deployed` are final. The store applies a transition only if this
//! function allows it, and guards the write with the expected old status so that concurrent
//! writers cannot both win.

use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

/// The status of a deploy-approval request; the lower-case names are part of the API.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    /// Waiting for admin approvals.
    Pending,
    /// Approved; the deploy chain may run until `approval_expires_at`.
    Approved,
    /// Rejected by an admin (final).
    Rejected,
    /// The pending TTL or the approval window passed (final).
    Expired,
    /// The approved release was promoted (final).
    Deployed,
}

impl ApprovalStatus {
    /// Every status.
    pub const ALL: [ApprovalStatus; 5] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Rejected,
        ApprovalStatus::Expired,
        ApprovalStatus::Deployed,
    ];

    /// The API name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Deployed => "deployed",
        }
    }

    /// Final states never change again.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            ApprovalStatus::Rejected | ApprovalStatus::Expired | ApprovalStatus::Deployed
        )
    }

    /// Open requests (pending or approved) block a duplicate for the same app, commit and
    /// target token.
    pub const fn is_open(self) -> bool {
        !self.is_terminal()
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: use one of pending, approved, rejected, expired, deployed")]
pub struct StatusError(pub String);

impl FromStr for ApprovalStatus {
    type Err = StatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApprovalStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StatusError(s.chars().take(40).collect()))
    }
}

/// Something that may change a request's status. `U` identifies a human user (whatever id the
/// store uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalEvent<'a, U> {
    /// An admin approves (permission and MFA for this request already checked by the caller).
    Approve {
        /// The approving user.
        approver: &'a U,
        /// The human who created the request: the user, or the owner of the creating token.
        /// Never counts towards the quorum.
        creator: Option<&'a U>,
        /// Users whose approvals are already recorded on this request.
        prior_approvers: &'a [U],
        /// Distinct approvals needed (setting `deploy_approval_quorum`, at least 1).
        quorum: u32,
    },
    /// An admin rejects.
    Reject,
    /// The sweeper expires a pending request whose TTL passed.
    ExpirePending,
    /// The sweeper expires an approval whose window passed before the deploy completed.
    ExpireApproval,
    /// The gated promote of the approved release succeeded on the rack.
    Deploy,
}

/// Times a transition is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionContext {
    /// Now (from the injected clock).
    pub now: OffsetDateTime,
    /// When the pending request lapses ([`ApprovalPolicy::pending_expires_at`]).
    pub pending_expires_at: OffsetDateTime,
    /// When the approval lapses; set once approved.
    pub approval_expires_at: Option<OffsetDateTime>,
}

/// Why an event cannot change the status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The request is rejected, expired or deployed.
    #[error("the deploy approval request is already {0} and cannot change; create a new request")]
    Terminal(ApprovalStatus),
    /// Approving something that is not pending.
    #[error("only a pending request can be approved; this one is {0}")]
    NotPending(ApprovalStatus),
    /// Expiring or deploying something that is not approved.
    #[error("the deploy approval request is {0}, not approved")]
    NotApproved(ApprovalStatus),
    /// The creator tried to approve.
    #[error("the creator of a deploy approval request cannot approve it; ask another admin")]
    CreatorCannotApprove,
    /// The same admin approved twice.
    #[error(
        "you have already approved this request; it needs approvals from {quorum} different admins"
    )]
    AlreadyApproved {
        /// The quorum.
        quorum: u32,
    },
    /// A quorum of 0.
    #[error("deploy_approval_quorum must be at least 1")]
    InvalidQuorum,
    /// Acting on a pending request after its TTL.
    #[error("the deploy approval request expired at {}; create a new request", crate::wire::rfc3339(*.0))]
    PendingExpired(OffsetDateTime),
    /// Deploying after the approval window.
    #[error("the deploy approval expired at {}; create a new request", crate::wire::rfc3339(*.0))]
    ApprovalExpired(OffsetDateTime),
    /// The sweeper ran early.
    #[error("the deploy approval request does not expire until {}", crate::wire::rfc3339(*.0))]
    NotYetExpired(OffsetDateTime),
    /// An approved request without `approval_expires_at` (data error; refuse rather than guess).
    #[error("the approved request has no approval_expires_at; refusing to act on it")]
    MissingApprovalExpiry,
}

/// Applies `event` to a request in `status`, returning the new status. `Ok(Pending)` after an
/// approval means the vote counts but the quorum is not reached yet; the caller records it.
pub fn transition<U: PartialEq>(
    status: ApprovalStatus,
    event: &ApprovalEvent<'_, U>,
    ctx: &TransitionContext,
) -> Result<ApprovalStatus, TransitionError> {
    use ApprovalStatus as S;
    if status.is_terminal() {
        return Err(TransitionError::Terminal(status));
    }
    match (status, event) {
        (
            S::Pending,
            ApprovalEvent::Approve {
                approver,
                creator,
                prior_approvers,
                quorum,
            },
        ) => {
            if *quorum == 0 {
                return Err(TransitionError::InvalidQuorum);
            }
            if ctx.now >= ctx.pending_expires_at {
                return Err(TransitionError::PendingExpired(ctx.pending_expires_at));
            }
            if *creator == Some(*approver) {
                return Err(TransitionError::CreatorCannotApprove);
            }
            if prior_approvers.contains(approver) {
                return Err(TransitionError::AlreadyApproved { quorum: *quorum });
            }
            // Prior approvers never include the creator (refused above), so all are distinct
            // and count.
            let distinct = prior_approvers
                .iter()
                .filter(|u| Some(*u) != *creator)
                .count()
                .saturating_add(1);
            if u32::try_from(distinct).unwrap_or(u32::MAX) >= *quorum {
                Ok(S::Approved)
            } else {
                Ok(S::Pending)
            }
        }
        (_, ApprovalEvent::Approve { .. }) => Err(TransitionError::NotPending(status)),
        (S::Pending | S::Approved, ApprovalEvent::Reject) => Ok(S::Rejected),
        (S::Pending, ApprovalEvent::ExpirePending) => {
            if ctx.now >= ctx.pending_expires_at {
                Ok(S::Expired)
            } else {
                Err(TransitionError::NotYetExpired(ctx.pending_expires_at))
            }
        }
        (S::Approved, ApprovalEvent::ExpireApproval) => {
            let at = ctx
                .approval_expires_at
                .ok_or(TransitionError::MissingApprovalExpiry)?;
            if ctx.now >= at {
                Ok(S::Expired)
            } else {
                Err(TransitionError::NotYetExpired(at))
            }
        }
        (S::Approved, ApprovalEvent::Deploy) => {
            let at = ctx
                .approval_expires_at
                .ok_or(TransitionError::MissingApprovalExpiry)?;
            if ctx.now < at {
                Ok(S::Deployed)
            } else {
                Err(TransitionError::ApprovalExpired(at))
            }
        }
        (S::Approved, ApprovalEvent::ExpirePending) => Err(TransitionError::NotPending(status)),
        (_, ApprovalEvent::ExpireApproval | ApprovalEvent::Deploy) => {
            Err(TransitionError::NotApproved(status))
        }
        // Terminal states returned above; every (open status, event) pair is listed.
        (_, ApprovalEvent::Reject | ApprovalEvent::ExpirePending) => {
            Err(TransitionError::Terminal(status))
        }
    }
}

/// Approval timing and quorum, from the settings `deploy_approval_window_minutes`,
/// `deploy_approval_pending_ttl_minutes` and `deploy_approval_quorum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// How long an approval stays usable after it is granted.
    pub window: Duration,
    /// How long a request may stay pending.
    pub pending_ttl: Duration,
    /// Distinct admin approvals needed.
    pub quorum: u32,
}

/// Settings values out of range for an approval policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A minutes value outside 1..=max.
    #[error("{setting} must be between 1 and {max} minutes, got {value}")]
    Minutes {
        /// The setting key.
        setting: &'static str,
        /// The value given.
        value: i64,
        /// The upper bound.
        max: i64,
    },
    /// A quorum outside 1..=10.
    #[error("deploy_approval_quorum must be between 1 and 10, got {0}")]
    Quorum(i64),
}

impl Default for ApprovalPolicy {
    /// 15-minute window, 24-hour pending TTL, quorum 1 (PRODUCT.md defaults).
    fn default() -> Self {
        Self {
            window: Duration::minutes(15),
            pending_ttl: Duration::minutes(1440),
            quorum: 1,
        }
    }
}

impl ApprovalPolicy {
    /// Builds a policy from settings values, checking bounds (window ≤ 7 days, TTL ≤ 30 days).
    pub fn from_settings(
        window_minutes: i64,
        pending_ttl_minutes: i64,
        quorum: i64,
    ) -> Result<Self, PolicyError> {
        let minutes = |setting, value: i64, max: i64| {
            if (1..=max).contains(&value) {
                Ok(Duration::minutes(value))
            } else {
                Err(PolicyError::Minutes {
                    setting,
                    value,
                    max,
                })
            }
        };
        Ok(Self {
            window: minutes(
                "deploy_approval_window_minutes",
                window_minutes,
                7 * 24 * 60,
            )?,
            pending_ttl: minutes(
                "deploy_approval_pending_ttl_minutes",
                pending_ttl_minutes,
                30 * 24 * 60,
            )?,
            quorum: u32::try_from(quorum)
                .ok()
                .filter(|q| (1..=10).contains(q))
                .ok_or(PolicyError::Quorum(quorum))?,
        })
    }

    /// `approval_expires_at = approved_at + window`.
    pub fn approval_expires_at(&self, approved_at: OffsetDateTime) -> OffsetDateTime {
        approved_at.saturating_add(self.window)
    }

    /// When a request created at `created_at` lapses if still pending.
    pub fn pending_expires_at(&self, created_at: OffsetDateTime) -> OffsetDateTime {
        created_at.saturating_add(self.pending_ttl)
    }
}

#[cfg(test)]
mod tests {
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
    }

    fn event(ev: Ev) -> ApprovalEvent<'static, u32> {
        match ev {
            Ev::Approve => ApprovalEvent::Approve {
                approver: &2,
                creator: Some(&1),
                prior_approvers: &[],
                quorum: 1,
            },
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
    // approved
    #[case(S::Approved, Ev::Approve, false, Err(E::NotPending(S::Approved)))]
    #[case(S::Approved, Ev::Reject, false, Ok(S::Rejected))]
    #[case(S::Approved, Ev::ExpirePending, true, Err(E::NotPending(S::Approved)))]
    #[case(S::Approved, Ev::ExpireApproval, false, Err(E::NotYetExpired(T0 + Duration::minutes(15))))]
    #[case(S::Approved, Ev::ExpireApproval, true, Ok(S::Expired))]
    #[case(S::Approved, Ev::Deploy, false, Ok(S::Deployed))]
    #[case(S::Approved, Ev::Deploy, true, Err(E::ApprovalExpired(T0 + Duration::minutes(15))))]
    // terminal states are final
    #[case(S::Rejected, Ev::Approve, false, Err(E::Terminal(S::Rejected)))]
    #[case(S::Rejected, Ev::Reject, false, Err(E::Terminal(S::Rejected)))]
    #[case(S::Rejected, Ev::ExpirePending, true, Err(E::Terminal(S::Rejected)))]
    #[case(S::Rejected, Ev::ExpireApproval, true, Err(E::Terminal(S::Rejected)))]
    #[case(S::Rejected, Ev::Deploy, false, Err(E::Terminal(S::Rejected)))]
    #[case(S::Expired, Ev::Approve, false, Err(E::Terminal(S::Expired)))]
    #[case(S::Expired, Ev::Reject, false, Err(E::Terminal(S::Expired)))]
    #[case(S::Expired, Ev::ExpirePending, true, Err(E::Terminal(S::Expired)))]
    #[case(S::Expired, Ev::ExpireApproval, true, Err(E::Terminal(S::Expired)))]
    #[case(S::Expired, Ev::Deploy, false, Err(E::Terminal(S::Expired)))]
    #[case(S::Deployed, Ev::Approve, false, Err(E::Terminal(S::Deployed)))]
    #[case(S::Deployed, Ev::Reject, false, Err(E::Terminal(S::Deployed)))]
    #[case(S::Deployed, Ev::ExpirePending, true, Err(E::Terminal(S::Deployed)))]
    #[case(S::Deployed, Ev::ExpireApproval, true, Err(E::Terminal(S::Deployed)))]
    #[case(S::Deployed, Ev::Deploy, false, Err(E::Terminal(S::Deployed)))]
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
}
