//! The attack suite: one test per attack on the gateway, each named as the sentence it proves
//! ("a ... cannot ..."), each failing if the attack works. Every feature extends it with its own
//! file under `tests/attacks/`, against the real server, fake rack and both databases.

#[path = "attacks/identity.rs"]
mod identity;
#[path = "attacks/support_identity.rs"]
mod support_identity;
