//! Test wiring shared by the integration tests of several crates: a Convox-SDK-like client,
//! tarball builders, and (from the identity work) a `TestApp` running the gateway on port 0.

pub mod convox;
