//! The audit log's rules, free of I/O: the canonical byte encoding of a stored event, the
//! HMAC-SHA256 hash chain over it, the chain verifier that names the first bad event, signed
//! checkpoints of the chain head, and redaction of secrets in event details.
//!
//! The store computes nothing itself: it asks this module for each event's MAC while holding
//! the chain head lock, and feeds rows back to [`ChainVerifier`] when asked to verify.

mod checkpoint;
mod record;
mod redact;
mod verify;

pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use record::{
    AuditRecord, GENESIS_MAC, Mac, StoredEvent, canonical_json, encode_record, format_timestamp,
    mac, sanitize_for_storage,
};
pub use redact::{REDACTED, is_secret_name, redact, redact_env_text, redact_text};
pub use verify::{BreakReason, ChainBreak, ChainHead, ChainSummary, ChainVerifier, verify_chain};
