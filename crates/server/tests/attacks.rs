//! The attack suite: one test per attack on the gateway, each named as the sentence it proves
//! ("a ... cannot ..."), each failing if the attack works. Every feature extends it with its own
//! file under `tests/attacks/`, against the real server, fake rack and both databases.

#[path = "attacks/support_proxy.rs"]
mod support_proxy;

#[path = "attacks/proxy_edge.rs"]
mod proxy_edge;

#[path = "attacks/browser_audit.rs"]
mod browser_audit;

#[path = "attacks/approvals.rs"]
mod approvals;

#[path = "attacks/approval_edges.rs"]
mod approval_edges;

#[path = "attacks/side_doors.rs"]
mod side_doors;

#[path = "attacks/approvers.rs"]
mod approvers;

#[path = "attacks/gating.rs"]
mod gating;

#[path = "attacks/identity.rs"]
mod identity;
#[path = "attacks/support_identity.rs"]
mod support_identity;

#[path = "attacks/hot_path.rs"]
mod hot_path;

#[path = "attacks/integrations.rs"]
mod integrations;

#[path = "attacks/web.rs"]
mod web;
