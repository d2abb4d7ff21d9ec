//! [`RequestStatus`]: the lifecycle states of a deploy approval request as stored. Which
//! transitions are allowed is enforced by the migrations' triggers (and decided by `rgw-core`).

use std::fmt;
use std::str::FromStr;

/// Lifecycle state of a deploy approval request (exact names; part of the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// Waiting for approvers.
    Pending,
    /// Approved; the deploy chain may run until `approval_expires_at`.
    Approved,
    /// Rejected by an admin (final).
    Rejected,
    /// Pending TTL or approval window passed (final).
    Expired,
    /// The gated release was promoted (final).
    Deployed,
}

impl RequestStatus {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Expired => "expired",
            RequestStatus::Deployed => "deployed",
        }
    }

    /// All states, in lifecycle order.
    pub const ALL: [RequestStatus; 5] = [
        RequestStatus::Pending,
        RequestStatus::Approved,
        RequestStatus::Rejected,
        RequestStatus::Expired,
        RequestStatus::Deployed,
    ];
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown deploy approval status {s:?}"))
    }
}

impl TryFrom<String> for RequestStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
