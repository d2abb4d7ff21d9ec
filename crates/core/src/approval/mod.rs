//! Deploy approvals: the status state machine ([`lifecycle`]) and the single-use deploy chain
//! an approval unlocks ([`chain`]).

pub mod chain;
pub mod lifecycle;

pub use chain::{
    ChainOutcome, ChainStep, DeployChain, DeployDenial, FORBIDDEN_RUN_HEADERS, check_run_headers,
    normalize_command,
};
pub use lifecycle::{
    ApprovalEvent, ApprovalPolicy, ApprovalStatus, PolicyError, TransitionContext, TransitionError,
    transition,
};
