//! Waiting for effects that are allowed to lag: changes made through another gateway (seen
//! within the change feed's bound) and writes moved off the request's critical path.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a change made outside a gateway may take to be seen by it when nothing tells it
/// about the change (the stated bound, `rgw_store::changes::UNWATCHED_MAX_AGE`), plus slack
/// for a loaded test machine.
pub const CHANGE_BOUND: Duration = Duration::from_millis(1_500);

/// Polls `check` until it returns true and returns how long that took.
///
/// # Panics
/// When `check` is still false after `bound`: `what` names the expectation.
pub async fn within<F, Fut>(bound: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < bound,
            "{what}: still not the case after {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
