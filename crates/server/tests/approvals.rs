//! The deploy-approval workflow end to end: the real gateway on port 0, the real fake rack and
//! both databases, driven the way CI, the convox CLI and an admin drive it.

#[path = "approvals/flow.rs"]
mod flow;

#[path = "approvals/api.rs"]
mod api;

#[path = "approvals/events.rs"]
mod events;
