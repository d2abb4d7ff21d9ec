//! The audit trail's front door for the rest of the server: handlers and the proxy describe
//! what happened as an [`AuditEvent`] and hand it to the [`Auditor`]. The writer behind the
//! auditor redacts, chains and stores events (see the `writer` module).

mod event;

pub use event::{Actor, AuditEvent, Outcome};
