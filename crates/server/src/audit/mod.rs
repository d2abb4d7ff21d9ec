//! The audit trail's front door for the rest of the server: handlers and the proxy describe
//! what happened as an [`AuditEvent`] and hand it to the [`Auditor`]. The writer behind the
//! auditor redacts, chains and stores events (see the `writer` module); `view` is the exported
//! and API shape of a stored event; `checkpoint` signs chain heads for `audit checkpoint`;
//! `request` ties events to the HTTP request (gateway request ids, one event per denial).

pub mod checkpoint;
mod event;
pub mod request;
pub mod view;
mod writer;

pub use event::{Actor, AuditEvent, Outcome};
pub use writer::{AuditError, Auditor, AuditorOptions, Committed, redact_record};
