//! Structured logging: human-readable text by default, JSON lines with `RGW_LOG_FORMAT=json`.
//!
//! A line logged while a request is served carries that request's gateway request id, method
//! and path. They come from the request's audit context (`audit::request`), read only when a
//! line is written, instead of from a `tracing` span entered on every request: a span costs a
//! registry slot and its formatted fields per request even though almost no request logs.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// Installs the global tracing subscriber. Safe to call more than once (later calls are no-ops),
/// which keeps tests that start several gateways in one process simple.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a terminal: in a log file or a collector they are noise, and
    // writing them took ~3% of the gateway's CPU under load (one audit line per call).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stdout);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(format::JsonFields::new())
            .event_format(WithRequest {
                inner: format::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
                json: true,
            })
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(ansi)
            .event_format(WithRequest {
                inner: format::format().with_target(false).with_ansi(ansi),
                json: false,
            })
            .try_init(),
    };
}

thread_local! {
    /// Lines held back by [`batched`] on this thread.
    static HELD: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Runs `f` with the log lines this thread writes meanwhile held back and then written to
/// stdout at once: the audit writer logs every stored event, and one `write` per batch
/// instead of one per event saves ~2% of the gateway's CPU under load. `f` must not await
/// (the lines of other tasks on this thread would wait with it) and should be short.
pub fn batched<T>(f: impl FnOnce() -> T) -> T {
    /// Writes what was held even when `f` panics.
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            if let Some(lines) = HELD.with_borrow_mut(Option::take) {
                let _ = std::io::stdout().lock().write_all(&lines);
            }
        }
    }
    let nested = HELD.with_borrow_mut(|held| {
        let nested = held.is_some();
        held.get_or_insert_with(Vec::new);
        nested
    });
    if nested {
        return f();
    }
    let _release = Release;
    f()
}

/// The log writer: stdout, or the held lines inside [`batched`].
struct Stdout;

impl Stdout {
    /// Appends `buf` to the held lines; `false` outside [`batched`].
    fn hold(buf: &[u8]) -> bool {
        HELD.with_borrow_mut(|held| {
            held.as_mut()
                .map(|lines| lines.extend_from_slice(buf))
                .is_some()
        })
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if Self::hold(buf) {
            return Ok(buf.len());
        }
        std::io::stdout().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if Self::hold(buf) {
            return Ok(());
        }
        std::io::stdout().lock().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// An event formatter that adds the served request's context to the line `inner` writes.
struct WithRequest<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        // The inner formatter writes a whole line; splice the served request's context into it.
        // (In a terminal this line loses its colours: the buffer is not a terminal.)
        let spliced = crate::audit::request::log_context(|id, method, path| {
            let mut line = String::new();
            self.inner
                .format_event(ctx, Writer::new(&mut line), event)
                .map(|()| {
                    splice(
                        &line,
                        self.json,
                        id.unwrap_or_default(),
                        method.as_str(),
                        path,
                    )
                })
        });
        match spliced {
            Some(line) => writer.write_str(&line?),
            None => self.inner.format_event(ctx, writer, event),
        }
    }
}

/// `line` with the request context added: after the `{` of a JSON object, or at the end of a
/// text line (before its newline).
fn splice(line: &str, json: bool, id: &str, method: &str, path: &str) -> String {
    let mut out = String::with_capacity(line.len() + id.len() + path.len() + 48);
    if json && let Some(rest) = line.strip_prefix('{') {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let _ = write!(
            out,
            "{{\"request_id\":{},\"method\":{},\"path\":{}",
            quoted(id),
            quoted(method),
            quoted(path)
        );
        if !rest.trim_start().starts_with('}') {
            out.push(',');
        }
        out.push_str(rest);
        return out;
    }
    let (body, newline) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    // The path is the request's, which a caller chose: escape it like any field value.
    let _ = write!(
        out,
        "{body} request_id={id} method={method} path={path:?}{newline}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::{HELD, Stdout, batched, splice};

    #[test]
    fn lines_written_inside_batched_are_held_until_it_ends() {
        use std::io::Write;
        let held = || HELD.with_borrow(Clone::clone);
        batched(|| {
            Stdout.write_all(b"one\n").unwrap();
            batched(|| Stdout.write_all(b"two\n").unwrap());
            assert_eq!(held(), Some(b"one\ntwo\n".to_vec()));
        });
        assert_eq!(held(), None);
        let _ = std::panic::catch_unwind(|| batched(|| panic!("while holding")));
        assert_eq!(held(), None, "a panic releases the held lines too");
    }

    #[test]
    fn json_lines_get_the_request_fields_first_and_stay_json() {
        let line = "{\"timestamp\":\"t\",\"level\":\"WARN\",\"message\":\"rack down\"}\n";
        let out = splice(line, true, "0190-abc", "GET", "/api/v1/rack-proxy/apps\"x");
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["request_id"], "0190-abc");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/api/v1/rack-proxy/apps\"x");
        assert_eq!(v["message"], "rack down");
        assert!(out.ends_with('\n'));
        let empty: serde_json::Value =
            serde_json::from_str(&splice("{}", true, "i", "GET", "/")).unwrap();
        assert_eq!(empty["request_id"], "i");
    }

    #[test]
    fn text_lines_get_the_request_fields_at_the_end() {
        let out = splice(
            "2026-12-07T00:00:00Z  WARN rack down\n",
            false,
            "id1",
            "POST",
            "/a b",
        );
        assert_eq!(
            out,
            "2026-12-07T00:00:00Z  WARN rack down request_id=id1 method=POST path=\"/a b\"\n"
        );
    }
}
