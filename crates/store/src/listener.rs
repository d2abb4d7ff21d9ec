//! The PostgreSQL side of the [change feed](crate::changes): one `LISTEN` connection per
//! gateway that turns the triggers' notifications into epoch bumps and approval wake-ups.
//!
//! A listener that is connected but no longer receiving (a half-open TCP connection after a
//! network partition) would look healthy forever, so liveness is proven, not assumed: every
//! [`HEARTBEAT_EVERY`] the gateway sends itself a notification through the ordinary pool, and
//! the feed counts as watched only while its own heartbeat came back within
//! [`changes::HEARTBEAT_GRACE`](crate::changes::HEARTBEAT_GRACE). PostgreSQL delivers
//! notifications in commit order, so a heartbeat heard means every change committed before it
//! was heard too.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgNotification};
use uuid::Uuid;

use crate::changes::{APPROVALS_CHANNEL, ChangeFeed, HEARTBEAT_CHANNEL, Topic};
use crate::db::{Db, Store};

/// How often the gateway proves its listener alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(250);

impl Store {
    /// Starts listening for changes made by other gateways (PostgreSQL only; on SQLite there
    /// is nobody to hear and `None` is returned). The task runs until it is aborted, and
    /// reconnects with backoff when the connection drops; while it is away, cached copies are
    /// trusted for at most [`crate::changes::UNWATCHED_MAX_AGE`].
    #[must_use]
    pub fn spawn_change_listener(&self) -> Option<tokio::task::JoinHandle<()>> {
        let Db::Pg(pool) = &self.db else {
            return None;
        };
        Some(tokio::spawn(listen_forever(
            pool.clone(),
            self.changes.clone(),
        )))
    }
}

/// Aborts the heartbeat task when the listener task ends or is aborted.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn listen_forever(pool: PgPool, feed: Arc<ChangeFeed>) {
    let nonce = Uuid::new_v4().to_string();
    let _heartbeat = AbortOnDrop(tokio::spawn(heartbeat(pool.clone(), nonce.clone())));
    let mut backoff = Duration::from_millis(100);
    loop {
        // The listener holds one connection of the pool; once the pool is closed (shutdown)
        // there is nothing left to listen for.
        if pool.is_closed() {
            feed.lost_listener();
            return;
        }
        match connect(&pool).await {
            Ok(mut listener) => {
                // Anything cached before LISTEN took effect may have missed a notification.
                feed.bump_all();
                backoff = Duration::from_millis(100);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => dispatch(&feed, &nonce, &n),
                        Ok(None) => {
                            tracing::warn!("change listener lost its connection; reconnecting");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change listener failed; reconnecting");
                            break;
                        }
                    }
                }
                feed.lost_listener();
            }
            Err(e) => tracing::warn!(error = %e, "change listener cannot connect; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([
            Topic::Identity.channel(),
            Topic::Settings.channel(),
            Topic::Approvals.channel(),
            HEARTBEAT_CHANNEL,
        ])
        .await?;
    Ok(listener)
}

fn dispatch(feed: &ChangeFeed, nonce: &str, n: &PgNotification) {
    match n.channel() {
        HEARTBEAT_CHANNEL if n.payload() == nonce => feed.heard_heartbeat(),
        HEARTBEAT_CHANNEL => {}
        APPROVALS_CHANNEL => match Uuid::parse_str(n.payload()) {
            Ok(id) => {
                feed.bump(Topic::Approvals);
                feed.approval_changed(id);
            }
            Err(_) => tracing::warn!(payload = n.payload(), "unexpected approval notification"),
        },
        c if c == Topic::Identity.channel() => feed.bump(Topic::Identity),
        c if c == Topic::Settings.channel() => feed.bump(Topic::Settings),
        other => tracing::debug!(channel = other, "ignoring notification"),
    }
}

async fn heartbeat(pool: PgPool, nonce: String) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sent = tokio::time::timeout(
            HEARTBEAT_EVERY * 4,
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(HEARTBEAT_CHANNEL)
                .bind(&nonce)
                .execute(&pool),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            tracing::debug!("change listener heartbeat not sent");
        }
    }
}
