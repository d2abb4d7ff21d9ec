//! What can change a deploy approval's status: the one place that says so (PRODUCT.md §3).
//!
//! ```text
//! (new) ──► pending ──approve (quorum reached)──► approved ──deploy──► deployed
//!              │  └─approve (below quorum)─► pending    │
//!              ├──reject──► rejected ◄──reject / revoke──┤
//!              └──expire (pending TTL)──► expired ◄──expire (window) / supersede
//! ```
//!
//! Approving checks, in order: the quorum setting, the pending TTL, that the reviewer saw the
//! current deploy intent (its digest), that the approver is neither the creator nor (with
//! `forbid_token_owner_approval`) the owner of the target token, and that they have not
//! approved already. A deploy is judged at the time the gated promote was *allowed*, not when
//! the rack's answer arrived.
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

/// Why a request expired (stored in `expired_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryReason {
    /// Nobody approved it within `deploy_approval_pending_ttl_minutes`.
    PendingTtl,
    /// It was approved but not deployed within `deploy_approval_window_minutes`.
    ApprovalWindow,
    /// A newer request for the same app and token was approved while this one was unused.
    Superseded,
}

impl ExpiryReason {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExpiryReason::PendingTtl => "pending_ttl",
            ExpiryReason::ApprovalWindow => "approval_window",
            ExpiryReason::Superseded => "superseded",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::PendingTtl, Self::ApprovalWindow, Self::Superseded]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl TryFrom<String> for ApprovalStatus {
    type Error = StatusError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
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
        /// The human who created the request (a user session). Never counts towards the quorum.
        creator: Option<&'a U>,
        /// The owner of the target token, when the app sets `forbid_token_owner_approval`.
        token_owner: Option<&'a U>,
        /// The intent digest the reviewer saw (sent with the approve call).
        seen_digest: &'a str,
        /// The request's current intent digest.
        current_digest: &'a str,
        /// Users whose approvals are already recorded on this request.
        prior_approvers: &'a [U],
        /// Distinct approvals needed (setting `deploy_approval_quorum`, at least 1).
        quorum: u32,
    },
    /// An admin rejects a pending request, or revokes an approved one that has not deployed.
    Reject,
    /// A newer request for the same app and token was approved; this approved one is unused.
    Supersede,
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
    /// Now (from the injected clock); for [`ApprovalEvent::Deploy`], when the promote was
    /// allowed.
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
    /// The owner of the target token tried to approve (`forbid_token_owner_approval`).
    #[error(
        "the owner of the request's target token cannot approve it (forbid_token_owner_approval); ask another admin"
    )]
    TokenOwnerCannotApprove,
    /// The intent changed since the reviewer looked.
    #[error(
        "the deploy intent changed since you reviewed it (digest {current}); reload the request, review it again and approve with the new digest"
    )]
    IntentChanged {
        /// The current digest.
        current: String,
    },
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
                token_owner,
                seen_digest,
                current_digest,
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
            if seen_digest != current_digest {
                return Err(TransitionError::IntentChanged {
                    current: (*current_digest).to_owned(),
                });
            }
            if *creator == Some(*approver) {
                return Err(TransitionError::CreatorCannotApprove);
            }
            if *token_owner == Some(*approver) {
                return Err(TransitionError::TokenOwnerCannotApprove);
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
        (S::Approved, ApprovalEvent::Supersede) => Ok(S::Expired),
        (S::Approved, ApprovalEvent::ExpirePending) => Err(TransitionError::NotPending(status)),
        (_, ApprovalEvent::ExpireApproval | ApprovalEvent::Deploy | ApprovalEvent::Supersede) => {
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
#[path = "lifecycle_tests.rs"]
mod tests;
