//! Signed checkpoints of the chain head. Written periodically outside the database (a file or
//! an object store), a checkpoint makes truncation of the chain's tail detectable even when the
//! attacker also rewinds `audit_chain_head`: the chain must still contain the checkpointed event.

use hmac::{Hmac, KeyInit, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::record::Mac;

/// What a checkpoint asserts: the chain had `count` events ending at `head_seq`/`head_mac`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub count: u64,
    pub head_seq: i64,
    /// Hex of the head event's MAC.
    pub head_mac: String,
    /// When it was taken, RFC 3339 UTC.
    pub at: String,
}

/// A checkpoint with its HMAC-SHA256 signature (hex), as written to disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub signature: String,
}

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error(
        "the checkpoint's signature is invalid (edited, or signed with another RGW_SECRET_KEY)"
    )]
    BadSignature,
    #[error("the checkpoint's head_mac is not 32 bytes of hex")]
    BadHeadMac,
}

fn signer(key: &[u8; 32], c: &Checkpoint) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(b"rgw-audit-checkpoint-v1\0");
    m.update(&c.count.to_be_bytes());
    m.update(&c.head_seq.to_be_bytes());
    for field in [&c.head_mac, &c.at] {
        m.update(&(field.len() as u64).to_be_bytes());
        m.update(field.as_bytes());
    }
    m
}

impl Checkpoint {
    /// A checkpoint of a chain head.
    pub fn new(count: u64, head_seq: i64, head_mac: &Mac, at: time::OffsetDateTime) -> Self {
        Checkpoint {
            count,
            head_seq,
            head_mac: hex::encode(head_mac),
            at: super::record::format_timestamp(at),
        }
    }

    /// Signs it with the checkpoint key (not the chain key).
    pub fn sign(self, key: &[u8; 32]) -> SignedCheckpoint {
        let sig = hex::encode(signer(key, &self).finalize().into_bytes());
        SignedCheckpoint {
            checkpoint: self,
            signature: sig,
        }
    }

    /// The head MAC as bytes.
    ///
    /// # Errors
    /// [`CheckpointError::BadHeadMac`] when it is not 32 bytes of hex.
    pub fn head_mac_bytes(&self) -> Result<Mac, CheckpointError> {
        let bytes = hex::decode(&self.head_mac).map_err(|_| CheckpointError::BadHeadMac)?;
        bytes.try_into().map_err(|_| CheckpointError::BadHeadMac)
    }
}

impl SignedCheckpoint {
    /// Checks the signature (in constant time) and returns the checkpoint.
    ///
    /// # Errors
    /// [`CheckpointError::BadSignature`] when it does not verify.
    pub fn verify(&self, key: &[u8; 32]) -> Result<&Checkpoint, CheckpointError> {
        let given = hex::decode(&self.signature).map_err(|_| CheckpointError::BadSignature)?;
        signer(key, &self.checkpoint)
            .verify_slice(&given)
            .map_err(|_| CheckpointError::BadSignature)?;
        Ok(&self.checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_signed_checkpoint_round_trips_through_json_and_detects_edits() {
        let key = [3u8; 32];
        let cp = Checkpoint::new(10, 10, &[5u8; 32], datetime!(2026-03-01 12:00:00 UTC)).sign(&key);
        let text = serde_json::to_string(&cp).unwrap_or_default();
        let back: SignedCheckpoint = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.verify(&key).map(|c| c.head_seq), Ok(10));
        assert_eq!(back.checkpoint.head_mac_bytes(), Ok([5u8; 32]));
        let mut edited = back.clone();
        edited.checkpoint.count = 9;
        assert_eq!(edited.verify(&key), Err(CheckpointError::BadSignature));
        assert_eq!(back.verify(&[4u8; 32]), Err(CheckpointError::BadSignature));
    }
}
