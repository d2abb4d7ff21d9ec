//! The audit trail's front door for the rest of the server: handlers and the proxy describe
//! what happened as an [`AuditEvent`] and hand it to the [`Auditor`]. The writer behind the
//! auditor redacts, chains and stores events (see the `writer` module).

mod event;

pub use event::{Actor, AuditEvent, Outcome};

/// Records an event. INTERIM (proxy branch): logs only; the audit branch provides the durable
/// chained writer behind `state.auditor`, and this function then forwards to it.
pub async fn record(_state: &crate::app::AppState, event: AuditEvent) {
    tracing::info!(target: "audit", action = %event.action, outcome = event.outcome.as_str(),
        resource = ?event.resource, status = ?event.http_status, "audit event");
}
