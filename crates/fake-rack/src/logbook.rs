//! Append-only log lines with live subscribers (app, build and system logs).

use time::OffsetDateTime;
use tokio::sync::broadcast;

/// Lines kept per book; older lines are dropped.
const MAX_LINES: usize = 10_000;

#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    pub time: OffsetDateTime,
    /// `system/k8s/...`, `service/<service>/<pod>` or `build`.
    pub source: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub(crate) enum LogEvent {
    Line(LogLine),
    /// The stream is complete (a finished build); followers stop.
    End,
}

pub(crate) struct LogBook {
    lines: Vec<LogLine>,
    tx: broadcast::Sender<LogEvent>,
    ended: bool,
}

impl LogBook {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            lines: Vec::new(),
            tx,
            ended: false,
        }
    }

    pub fn push(&mut self, source: &str, message: &str) {
        let line = LogLine {
            time: OffsetDateTime::now_utc(),
            source: source.to_owned(),
            message: message.to_owned(),
        };
        if self.lines.len() >= MAX_LINES {
            self.lines.remove(0);
        }
        self.lines.push(line.clone());
        // No subscribers is fine.
        let _ = self.tx.send(LogEvent::Line(line));
    }

    /// Marks the book complete: current and future followers get an end of stream.
    pub fn end(&mut self) {
        self.ended = true;
        let _ = self.tx.send(LogEvent::End);
    }

    /// The lines so far plus, unless the book has ended, a receiver for what comes next.
    /// Taken under the state lock, so no line falls between the two.
    pub fn subscribe(&self) -> (Vec<LogLine>, Option<broadcast::Receiver<LogEvent>>) {
        let rx = (!self.ended).then(|| self.tx.subscribe());
        (self.lines.clone(), rx)
    }

    /// All messages joined with newlines (stored as the build's logs object).
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("{}\n", l.message))
            .collect()
    }
}
