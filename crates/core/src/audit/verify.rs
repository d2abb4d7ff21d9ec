//! Walks a chain of stored events in `seq` order and names the first bad one.
//!
//! Every event's MAC binds its content, its `seq` and its predecessor's MAC, so:
//! - an edited row fails its own MAC;
//! - a deleted row leaves a gap in `seq` (or, if later rows were renumbered, rows whose MAC only
//!   verifies at a higher `seq`);
//! - an inserted row fails its MAC while the row after it links to the row before it, or sits
//!   beyond the recorded chain head;
//! - a row moved elsewhere verifies only at the `seq` it was written at;
//! - a deleted tail is caught by comparing the last row with the recorded chain head.
//!
//! Classifying a bad row can need the row after it, so [`ChainVerifier::push`] may defer its
//! verdict by one row; [`ChainVerifier::finish`] settles it.

use std::fmt;

use uuid::Uuid;

use super::record::{GENESIS_MAC, Mac, StoredEvent, mac};

/// The chain head as recorded next to the events (`audit_chain_head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub mac: Mac,
}

/// What a successful verification saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Number of events verified.
    pub count: u64,
    /// The last event's seq (0 when empty).
    pub head_seq: i64,
    /// The last event's MAC ([`GENESIS_MAC`] when empty).
    pub head_mac: Mac,
}

/// Why the chain is broken at [`ChainBreak::seq`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// The row's content (or its seq or link) was changed after it was written.
    Edited,
    /// Events `first..=last` are missing. Later rows may have been renumbered to hide the gap.
    Deleted { first: i64, last: i64 },
    /// The row was never written by the gateway: the chain links around it, or it lies beyond the
    /// recorded head.
    Inserted,
    /// The row is authentic but was written at `original_seq`.
    Reordered { original_seq: i64 },
    /// The row is authentic at this seq but was chained after a different event.
    BrokenLink,
    /// The last row does not match the recorded chain head.
    HeadMismatch { head_seq: i64 },
}

impl BreakReason {
    /// A short stable name: `edited`, `deleted`, `inserted`, `reordered`, `broken_link`,
    /// `head_mismatch`.
    pub fn code(&self) -> &'static str {
        match self {
            BreakReason::Edited => "edited",
            BreakReason::Deleted { .. } => "deleted",
            BreakReason::Inserted => "inserted",
            BreakReason::Reordered { .. } => "reordered",
            BreakReason::BrokenLink => "broken_link",
            BreakReason::HeadMismatch { .. } => "head_mismatch",
        }
    }
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::Edited => f.write_str("edited: its MAC does not match its content"),
            BreakReason::Deleted { first, last } if first == last => {
                write!(f, "deleted: event {first} is missing")
            }
            BreakReason::Deleted { first, last } => {
                write!(f, "deleted: events {first}..={last} are missing")
            }
            BreakReason::Inserted => {
                f.write_str("inserted: the gateway never wrote this event at this place")
            }
            BreakReason::Reordered { original_seq } => {
                write!(f, "reordered: this event was written as seq {original_seq}")
            }
            BreakReason::BrokenLink => {
                f.write_str("broken link: this event was chained after a different event")
            }
            BreakReason::HeadMismatch { head_seq } => {
                write!(
                    f,
                    "head mismatch: the recorded chain head is seq {head_seq}"
                )
            }
        }
    }
}

/// The first bad event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first seq at which the chain is wrong (for a deletion, the first missing seq).
    pub seq: i64,
    /// The row found at that point, if any.
    pub event_id: Option<Uuid>,
    pub reason: BreakReason,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event_id {
            Some(id) => write!(f, "seq {} (event_id {id}): {}", self.seq, self.reason),
            None => write!(f, "seq {}: {}", self.seq, self.reason),
        }
    }
}

impl std::error::Error for ChainBreak {}

/// A bad row whose classification waits for the row after it.
#[derive(Debug)]
struct Suspect {
    row: StoredEvent,
    /// The seq at which the row's MAC does verify, if any.
    original_seq: Option<i64>,
}

/// Streaming verifier: push rows in ascending `seq` order, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct ChainVerifier {
    key: [u8; 32],
    /// Upper bound of the seq search for a moved row (the recorded head, or more).
    search_limit: i64,
    count: u64,
    last_seq: i64,
    last_mac: Mac,
    suspect: Option<Suspect>,
}

impl ChainVerifier {
    /// A verifier for a chain keyed by `key`; `head_seq_hint` is the recorded head's seq.
    pub fn new(key: &[u8; 32], head_seq_hint: i64) -> Self {
        ChainVerifier {
            key: *key,
            search_limit: head_seq_hint,
            count: 0,
            last_seq: 0,
            last_mac: GENESIS_MAC,
            suspect: None,
        }
    }

    /// The seq of the last good row pushed so far.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Checks the next row.
    ///
    /// # Errors
    /// The first break found, possibly for the row before this one.
    pub fn push(&mut self, row: StoredEvent) -> Result<(), ChainBreak> {
        if let Some(suspect) = self.suspect.take() {
            return Err(self.classify(suspect, Some(&row)));
        }
        let expected = self.last_seq + 1;
        let authentic = mac(&self.key, &row.prev_mac, row.seq, &row.record) == row.mac;
        if authentic {
            if row.seq > expected {
                return Err(ChainBreak {
                    seq: expected,
                    event_id: None,
                    reason: BreakReason::Deleted {
                        first: expected,
                        last: row.seq - 1,
                    },
                });
            }
            if row.seq < expected || row.prev_mac != self.last_mac {
                return Err(ChainBreak {
                    seq: row.seq,
                    event_id: Some(row.record.event_id),
                    reason: BreakReason::BrokenLink,
                });
            }
            self.count += 1;
            self.last_seq = row.seq;
            self.last_mac = row.mac;
            return Ok(());
        }
        let original_seq = self.find_original_seq(&row);
        self.suspect = Some(Suspect { row, original_seq });
        Ok(())
    }

    /// Settles the verdict against the recorded chain head (read after the last row).
    ///
    /// # Errors
    /// The first break found.
    pub fn finish(mut self, head: ChainHead) -> Result<ChainSummary, ChainBreak> {
        self.search_limit = self.search_limit.max(head.seq);
        if let Some(suspect) = self.suspect.take() {
            let mut brk = self.classify(suspect, None);
            if brk.reason == BreakReason::Edited && brk.seq > head.seq {
                brk.reason = BreakReason::Inserted;
            }
            return Err(brk);
        }
        if self.last_seq < head.seq {
            return Err(ChainBreak {
                seq: self.last_seq + 1,
                event_id: None,
                reason: BreakReason::Deleted {
                    first: self.last_seq + 1,
                    last: head.seq,
                },
            });
        }
        if self.last_seq > head.seq {
            return Err(ChainBreak {
                seq: head.seq + 1,
                event_id: None,
                reason: BreakReason::Inserted,
            });
        }
        if self.last_mac != head.mac {
            return Err(ChainBreak {
                seq: self.last_seq,
                event_id: None,
                reason: BreakReason::HeadMismatch { head_seq: head.seq },
            });
        }
        Ok(ChainSummary {
            count: self.count,
            head_seq: self.last_seq,
            head_mac: self.last_mac,
        })
    }

    /// Only runs once, on the first bad row, so a linear search is affordable.
    fn find_original_seq(&self, row: &StoredEvent) -> Option<i64> {
        let limit = self.search_limit.max(row.seq).saturating_add(1);
        (1..=limit)
            .filter(|s| *s != row.seq)
            .find(|s| mac(&self.key, &row.prev_mac, *s, &row.record) == row.mac)
    }

    fn classify(&self, suspect: Suspect, next: Option<&StoredEvent>) -> ChainBreak {
        let Suspect { row, original_seq } = suspect;
        let expected = self.last_seq + 1;
        let next_links_to = |m: &Mac| next.is_some_and(|n| &n.prev_mac == m);
        let reason = match original_seq {
            // Authentic content written further down the chain, and the following rows are still
            // chained to it: the rows in between were deleted and the rest renumbered.
            Some(orig) if orig > row.seq && (next.is_none() || next_links_to(&row.mac)) => {
                BreakReason::Deleted {
                    first: expected,
                    last: expected + (orig - row.seq) - 1,
                }
            }
            Some(orig) => BreakReason::Reordered { original_seq: orig },
            None if next_links_to(&self.last_mac) => BreakReason::Inserted,
            None => BreakReason::Edited,
        };
        ChainBreak {
            seq: row.seq,
            event_id: Some(row.record.event_id),
            reason,
        }
    }
}

/// Verifies a whole chain held in memory (tests and small tools); the store streams instead.
///
/// # Errors
/// The first break found.
pub fn verify_chain(
    key: &[u8; 32],
    rows: impl IntoIterator<Item = StoredEvent>,
    head: ChainHead,
) -> Result<ChainSummary, ChainBreak> {
    let mut v = ChainVerifier::new(key, head.seq);
    for row in rows {
        v.push(row)?;
    }
    v.finish(head)
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
