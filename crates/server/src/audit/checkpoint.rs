//! Signed checkpoints of the audit chain head (`audit checkpoint`, `audit verify --checkpoint`).
//! Kept outside the database, a checkpoint makes truncation of the tail detectable even when
//! the attacker also rewinds `audit_chain_head`.

use hkdf::Hkdf;
use rgw_core::audit::{Checkpoint, SignedCheckpoint};
use rgw_store::{Store, StoreError};
use sha2::Sha256;

/// The checkpoint signing key: its own HKDF label under the same secret as [`crate::keys::Keys`],
/// so a checkpoint signature can never be confused with a chain MAC.
pub fn checkpoint_key(secret: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"rack-gateway/v1"), secret);
    let mut out = [0u8; 32];
    if hk.expand(b"audit-checkpoint", &mut out).is_err() {
        unreachable!("HKDF output length is fixed and valid");
    }
    out
}

/// Why a checkpoint does not match the database.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointMismatch {
    #[error("{0}")]
    Invalid(#[from] rgw_core::audit::CheckpointError),
    #[error(
        "tail truncated: the checkpoint taken at {at} covers seq {checkpoint_seq}, but the chain ends at seq {chain_seq}"
    )]
    Truncated {
        at: String,
        checkpoint_seq: i64,
        chain_seq: i64,
    },
    #[error(
        "seq {seq} does not carry the MAC recorded in the checkpoint taken at {at}: the chain was rewritten"
    )]
    Rewritten { seq: i64, at: String },
}

/// Signs the current chain head.
///
/// # Errors
/// Db.
pub async fn take(
    store: &Store,
    key: &[u8; 32],
    now: time::OffsetDateTime,
) -> Result<SignedCheckpoint, StoreError> {
    let head = store.audit_chain_head().await?;
    let count = u64::try_from(head.seq).unwrap_or(0);
    Ok(Checkpoint::new(count, head.seq, &head.mac, now).sign(key))
}

/// Checks that the chain still contains the checkpointed head event, unchanged.
///
/// # Errors
/// The outer error is the database; the inner one the mismatch.
pub async fn check(
    store: &Store,
    key: &[u8; 32],
    checkpoint: &SignedCheckpoint,
    chain_seq: i64,
) -> Result<Result<(), CheckpointMismatch>, StoreError> {
    let cp = match checkpoint.verify(key) {
        Ok(cp) => cp,
        Err(e) => return Ok(Err(e.into())),
    };
    let mac = match cp.head_mac_bytes() {
        Ok(m) => m,
        Err(e) => return Ok(Err(e.into())),
    };
    if cp.head_seq == 0 {
        return Ok(Ok(()));
    }
    if chain_seq < cp.head_seq {
        return Ok(Err(CheckpointMismatch::Truncated {
            at: cp.at.clone(),
            checkpoint_seq: cp.head_seq,
            chain_seq,
        }));
    }
    Ok(match store.get_audit_event(cp.head_seq).await? {
        Some(e) if e.mac == mac => Ok(()),
        _ => Err(CheckpointMismatch::Rewritten {
            seq: cp.head_seq,
            at: cp.at.clone(),
        }),
    })
}
