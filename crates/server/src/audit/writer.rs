//! The [`Auditor`]: a cheap handle that queues events for one background writer task.
//!
//! - [`Auditor::record`] redacts the event and puts it on a bounded queue. It never waits for
//!   the database; it only waits when the queue is full (backpressure), so events are never
//!   dropped to keep a request fast.
//! - [`Auditor::record_and_wait`] also waits until the event is committed, for decisions that
//!   must be durable before the response (approval state changes).
//! - [`Auditor::append_in_tx`] writes the event inside the caller's transaction instead, for
//!   changes that must never be stored without their event (API tokens, users): the change
//!   and its event commit together or not at all, so a failed audit write fails the request.
//! - The writer takes up to `batch_max` events or whatever arrives within `batch_window`,
//!   appends them in one transaction, and logs each stored event (already redacted) as a
//!   `tracing` line with target `audit`. When the database is down it keeps the batch, retries
//!   with backoff and logs an error on every failed attempt; the queue bounds what is held.
//! - [`Auditor::shutdown`] stops intake, writes everything queued, and returns.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use rgw_core::audit::{AuditRecord, canonical_json, redact, redact_text};
use rgw_store::{Store, StoreError, StoreTx};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::AuditEvent;

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct AuditorOptions {
    /// Events held in memory before `record` waits.
    pub queue_capacity: usize,
    /// Most events per transaction.
    pub batch_max: usize,
    /// How long the writer waits for more events before writing a partial batch.
    pub batch_window: Duration,
    /// How long `record_and_wait` waits for the commit.
    pub durable_timeout: Duration,
    /// How long `shutdown` keeps retrying a failing database before giving up.
    pub shutdown_timeout: Duration,
    /// Extra names whose values are always redacted (e.g. env vars marked secret).
    pub secret_names: Vec<String>,
}

impl Default for AuditorOptions {
    fn default() -> Self {
        AuditorOptions {
            queue_capacity: 10_000,
            batch_max: 256,
            batch_window: Duration::from_millis(20),
            durable_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
            secret_names: Vec::new(),
        }
    }
}

/// Why an event could not be confirmed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit writer has shut down; the event was logged but not stored")]
    Closed,
    #[error("the audit event was queued but not committed within {0:?}")]
    Timeout(Duration),
    #[error("the audit event could not be stored: {0}")]
    Store(#[from] StoreError),
}

#[expect(
    clippy::large_enum_variant,
    reason = "nearly every message is an Event; boxing it would allocate per event for nothing"
)]
enum Msg {
    Event {
        record: AuditRecord,
        done: Option<oneshot::Sender<i64>>,
    },
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// The handle kept in `AppState`. Cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Msg>,
    options: Arc<AuditorOptions>,
    /// The chain MAC key, for appends inside a caller's transaction.
    key: Arc<[u8; 32]>,
}

/// An event appended inside a transaction; call [`Committed::log`] once it committed.
#[derive(Debug)]
#[must_use = "log the event once the transaction committed"]
pub struct Committed {
    record: AuditRecord,
    seq: i64,
}

impl Committed {
    /// Writes the stored event's `audit` log line (as the writer does for queued events).
    pub fn log(self) {
        log_stored(self.seq, &self.record);
    }
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("queued", &(self.tx.max_capacity() - self.tx.capacity()))
            .finish()
    }
}

/// Redacts a record in place: secret-named detail values, token-like text anywhere in details,
/// and credentials in the resource and user agent.
pub fn redact_record(record: &mut AuditRecord, secret_names: &[String]) {
    redact(&mut record.details, secret_names);
    for field in [
        &mut record.resource,
        &mut record.user_agent,
        &mut record.actor_token_name,
    ]
    .into_iter()
    .flatten()
    {
        if let Cow::Owned(masked) = redact_text(field) {
            *field = masked;
        }
    }
}

impl Auditor {
    /// Starts the writer task on the current Tokio runtime.
    pub fn spawn(store: Store, key: [u8; 32], options: AuditorOptions) -> Auditor {
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let options = Arc::new(options);
        tokio::spawn(run_writer(store, key, options.clone(), rx));
        Auditor {
            tx,
            options,
            key: Arc::new(key),
        }
    }

    fn prepare(&self, event: AuditEvent) -> AuditRecord {
        let mut record = event.into_record();
        super::request::annotate(&mut record);
        redact_record(&mut record, &self.options.secret_names);
        // As the store will keep it, so that the log line shows exactly what was chained.
        rgw_core::audit::sanitize_for_storage(&mut record);
        record
    }

    /// Appends an event inside `tx` (redacted and chained like every other), so it commits or
    /// rolls back with the change it records. Commit `tx`, then [`Committed::log`].
    ///
    /// # Errors
    /// [`AuditError::Store`] when the append fails; roll the transaction back (the HTTP edge
    /// answers it with a 500, whatever the store error was).
    pub async fn append_in_tx(
        &self,
        tx: &mut StoreTx,
        event: AuditEvent,
    ) -> Result<Committed, AuditError> {
        let record = self.prepare(event);
        let seqs = tx
            .append_audit_events(std::slice::from_ref(&record), &self.key)
            .await?;
        let seq = seqs.first().copied().unwrap_or_default();
        Ok(Committed { record, seq })
    }

    /// Queues an event. Returns at once unless the queue is full, in which case it waits for
    /// room: a slow database slows callers down rather than losing events.
    pub async fn record(&self, event: AuditEvent) {
        let record = self.prepare(event);
        if let Err(mpsc::error::SendError(Msg::Event { record, .. })) =
            self.tx.send(Msg::Event { record, done: None }).await
        {
            log_unstored(&record, "the audit writer has shut down");
        }
    }

    /// Queues an event and waits until it is committed; returns its seq.
    ///
    /// # Errors
    /// [`AuditError::Timeout`] when the database does not confirm in time (the event stays
    /// queued and is written later); [`AuditError::Closed`] after shutdown.
    pub async fn record_and_wait(&self, event: AuditEvent) -> Result<i64, AuditError> {
        let record = self.prepare(event);
        let (done, wait) = oneshot::channel();
        if let Err(mpsc::error::SendError(Msg::Event { record, .. })) = self
            .tx
            .send(Msg::Event {
                record,
                done: Some(done),
            })
            .await
        {
            log_unstored(&record, "the audit writer has shut down");
            return Err(AuditError::Closed);
        }
        match tokio::time::timeout(self.options.durable_timeout, wait).await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(_)) => Err(AuditError::Closed),
            Err(_) => Err(AuditError::Timeout(self.options.durable_timeout)),
        }
    }

    /// Waits until every event queued before this call is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Stops intake and writes everything queued. Call after the HTTP server has drained.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Last resort when an event cannot be stored: it still reaches the logs, never silently lost.
fn log_unstored(record: &AuditRecord, why: &str) {
    tracing::error!(
        target: "audit",
        event_id = %record.event_id,
        action = %record.action,
        outcome = %record.outcome,
        actor_email = record.actor_email.as_deref().unwrap_or(""),
        request_id = record.request_id.as_deref().unwrap_or(""),
        details = %canonical_json(&record.details),
        "audit event NOT STORED: {why}"
    );
}

/// The `audit` line of a stored event (`r` already sanitized for storage).
fn log_stored(seq: i64, r: &AuditRecord) {
    tracing::info!(
        target: "audit",
        seq,
        event_id = %r.event_id,
        occurred_at = %rgw_core::audit::format_timestamp(r.occurred_at),
        actor_type = %r.actor_type,
        actor_email = r.actor_email.as_deref().unwrap_or(""),
        actor_token_name = r.actor_token_name.as_deref().unwrap_or(""),
        ip = r.ip.as_deref().unwrap_or(""),
        request_id = r.request_id.as_deref().unwrap_or(""),
        action = %r.action,
        resource = r.resource.as_deref().unwrap_or(""),
        app = r.app.as_deref().unwrap_or(""),
        outcome = %r.outcome,
        http_status = r.http_status,
        latency_ms = r.latency_ms,
        details = %canonical_json(&r.details),
        "audit"
    );
}

/// Events gathered for one transaction, and who waits for each one's commit. Two vectors, so
/// the records go to the store as a slice without a copy.
#[derive(Default)]
struct Batch {
    records: Vec<AuditRecord>,
    done: Vec<Option<oneshot::Sender<i64>>>,
}

impl Batch {
    fn push(&mut self, record: AuditRecord, done: Option<oneshot::Sender<i64>>) {
        self.records.push(record);
        self.done.push(done);
    }

    fn len(&self) -> usize {
        self.records.len()
    }

    fn clear(&mut self) {
        self.records.clear();
        self.done.clear();
    }
}

/// How often the writer drains its queue while it gathers a batch (the most a flush or a
/// durable event waits before its batch is written).
const GATHER_TICK: Duration = Duration::from_millis(2);

fn absorb(
    msg: Msg,
    batch: &mut Batch,
    waiters: &mut Vec<oneshot::Sender<()>>,
    shutdown: &mut Option<oneshot::Sender<()>>,
) {
    match msg {
        Msg::Event { record, done } => batch.push(record, done),
        Msg::Flush(done) => waiters.push(done),
        Msg::Shutdown(done) => *shutdown = Some(done),
    }
}

async fn run_writer(
    store: Store,
    key: [u8; 32],
    options: Arc<AuditorOptions>,
    mut rx: mpsc::Receiver<Msg>,
) {
    let mut batch = Batch::default();
    loop {
        let Some(first) = rx.recv().await else {
            // Every handle was dropped without shutdown: nothing can be queued any more.
            return;
        };
        let mut waiters = Vec::new();
        let mut shutdown = None;
        absorb(first, &mut batch, &mut waiters, &mut shutdown);
        // Collect the batch by draining the queue every `GATHER_TICK` rather than waking for
        // each event: under load that is one wake-up per tick instead of one per request.
        let deadline = Instant::now() + options.batch_window;
        loop {
            while batch.len() < options.batch_max {
                match rx.try_recv() {
                    Ok(msg) => absorb(msg, &mut batch, &mut waiters, &mut shutdown),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if batch.len() >= options.batch_max
                || !waiters.is_empty()
                || shutdown.is_some()
                || now >= deadline
            {
                break;
            }
            tokio::time::sleep(GATHER_TICK.min(deadline - now)).await;
        }
        if let Some(done) = shutdown {
            rx.close();
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Event { record, done } => batch.push(record, done),
                    Msg::Flush(d) | Msg::Shutdown(d) => waiters.push(d),
                }
            }
            let give_up = Instant::now() + options.shutdown_timeout;
            let max = options.batch_max.max(1);
            for (records, done) in batch.records.chunks(max).zip(batch.done.chunks_mut(max)) {
                write_batch(&store, &key, records, done, Some(give_up)).await;
            }
            for w in waiters {
                let _ = w.send(());
            }
            let _ = done.send(());
            tracing::info!("audit writer stopped; queue flushed");
            return;
        }
        write_batch(&store, &key, &batch.records, &mut batch.done, None).await;
        batch.clear();
        for w in waiters {
            let _ = w.send(());
        }
    }
}

/// Writes one batch, retrying with backoff until it succeeds or `give_up` passes.
async fn write_batch(
    store: &Store,
    key: &[u8; 32],
    records: &[AuditRecord],
    done: &mut [Option<oneshot::Sender<i64>>],
    give_up: Option<Instant>,
) {
    if records.is_empty() {
        return;
    }
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 1u32;
    loop {
        match store.append_audit_events(records, key).await {
            Ok(seqs) => {
                crate::telemetry::batched(|| {
                    for ((record, done), seq) in records.iter().zip(done.iter_mut()).zip(seqs) {
                        log_stored(seq, record);
                        if let Some(done) = done.take() {
                            let _ = done.send(seq);
                        }
                    }
                });
                return;
            }
            Err(e) => {
                tracing::error!(
                    target: "audit",
                    error = %e,
                    error_source = ?std::error::Error::source(&e),
                    attempt,
                    events = records.len(),
                    "AUDIT WRITE FAILED: events are held in memory and retried; requests will slow down when the queue fills"
                );
                if give_up.is_some_and(|g| Instant::now() + backoff > g) {
                    records.iter().for_each(|r| {
                        log_unstored(r, "the database stayed unavailable during shutdown")
                    });
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
        }
    }
}
