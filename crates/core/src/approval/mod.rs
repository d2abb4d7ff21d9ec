//! Deploy approvals: the status state machine ([`lifecycle`]), the deploy intent a reviewer
//! approves ([`intent`]) and the single-use deploy chain an approval unlocks ([`chain`]).

pub mod chain;
pub mod intent;
pub mod lifecycle;

pub use chain::{
    ChainOutcome, ChainStep, ClaimedStep, DeployChain, DeployDenial, FORBIDDEN_RUN_HEADERS,
    PRIVILEGED_RUN_HEADERS, Step, check_run_headers, claim_for, normalize_command,
    privileged_run_headers,
};
pub use intent::DeployIntent;
pub use lifecycle::{
    ApprovalEvent, ApprovalPolicy, ApprovalStatus, ExpiryReason, PolicyError, TransitionContext,
    TransitionError, transition,
};
