//! Retry policy: exponential backoff with jitter, and how errors are classified.

use std::time::Duration;

/// First retry delay.
pub const BASE: Duration = Duration::from_secs(5);
/// Longest delay between attempts.
pub const CAP: Duration = Duration::from_secs(30 * 60);

/// How one attempt of a job ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth retrying: timeouts, connection errors, 5xx, 429.
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (not found, refused, misconfigured): stop and show it.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// A transient error.
    pub fn retry(msg: impl Into<String>) -> Self {
        JobError::Retry(msg.into())
    }

    /// A permanent error.
    pub fn permanent(msg: impl Into<String>) -> Self {
        JobError::Permanent(msg.into())
    }
}

impl From<rgw_store::StoreError> for JobError {
    fn from(e: rgw_store::StoreError) -> Self {
        match e {
            // The request or job row is gone or refused: nothing later will change that.
            rgw_store::StoreError::NotFound => {
                JobError::permanent("the deploy approval request no longer exists")
            }
            other => JobError::retry(format!("database: {other}")),
        }
    }
}

/// Delay before the retry that follows attempt `attempts` (1-based): [`BASE`] doubling per
/// attempt up to [`CAP`], then "equal jitter": a random point in the upper half, so workers that
/// failed together (GitHub was down) do not come back together. `unit` is a random number in
/// `[0, 1)`; passing it in keeps this pure.
#[must_use]
pub fn backoff(attempts: i64, unit: f64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = BASE.saturating_mul(2u32.saturating_pow(exp)).min(CAP);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    full / 2 + full.div_f64(2.0).mul_f64(unit)
}

/// A random number in `[0, 1)` for [`backoff`].
#[must_use]
pub fn jitter() -> f64 {
    let mut b = [0u8; 8];
    rand::fill(&mut b);
    // 53 random bits: every value is exactly representable.
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_with_jitter_in_the_upper_half_and_is_capped() {
        let cases = [
            (1, 0.0, 2.5),
            (1, 0.999_999, 5.0),
            (2, 0.0, 5.0),
            (3, 0.5, 15.0),
            (4, 0.0, 20.0),
            (40, 0.0, 900.0),
            (40, 1.0, 1800.0),
            (0, 0.0, 2.5),
            (-3, f64::NAN, 2.5),
        ];
        for (attempts, unit, want) in cases {
            let got = backoff(attempts, unit).as_secs_f64();
            assert!(
                (got - want).abs() < 0.01,
                "attempt {attempts}, unit {unit}: {got} != {want}"
            );
        }
    }

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
