//! Websocket conventions of the rack: GET + Upgrade only, gorilla's same-origin check, auth
//! checked *after* the upgrade, output as text frames, `ERROR: ...` frames for errors and an
//! empty binary frame as end of stream.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::auth;
use crate::form::parse_go_duration;
use crate::logbook::{LogEvent, LogLine};
use crate::model::format_time;
use crate::state::RackState;
use crate::wire::{self, header_str};

pub(crate) type Upgrade = Result<WebSocketUpgrade, WebSocketUpgradeRejection>;

/// Exit status marker written near the end of an exec stream.
pub(crate) const EXIT_MARKER: &str = "F1E49A85-0AD7-4AEF-A618-C249C6E6568D";

/// Upgrades a socket route and runs `handler` on the socket once the password checked out.
///
/// A plain GET (no upgrade) is 404, a foreign `Origin` is 403. A bad password is reported on
/// the open socket, as the rack does.
pub(crate) fn serve<F, Fut>(
    state: RackState,
    upgrade: Upgrade,
    headers: HeaderMap,
    handler: F,
) -> Response
where
    F: FnOnce(RackState, HeaderMap, WebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(upgrade) = upgrade else {
        return wire::not_found_response();
    };
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "Forbidden\n").into_response();
    }
    upgrade.on_upgrade(move |mut socket| async move {
        if auth::authorized(&state, &headers) {
            handler(state, headers, socket).await;
        } else {
            finish(&mut socket, Err(auth::INVALID.to_owned())).await;
        }
    })
}

/// gorilla/websocket's default `CheckOrigin`: no `Origin`, or its host equals `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = origin
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .map(|authority| authority.rsplit_once('@').map_or(authority, |(_, h)| h))
        .unwrap_or_default();
    let request_host = header_str(headers, header::HOST.as_str()).unwrap_or_default();
    !host.is_empty() && host.eq_ignore_ascii_case(request_host)
}

/// Sends one text frame; `false` when the client is gone.
pub(crate) async fn send<S>(sink: &mut S, text: impl Into<String>) -> bool
where
    S: Sink<Message> + Unpin,
{
    sink.send(Message::text(text.into())).await.is_ok()
}

/// Ends a stream: `ERROR: msg\n` on failure, then the empty binary frame and a normal close.
pub(crate) async fn finish<S>(sink: &mut S, result: Result<(), String>)
where
    S: Sink<Message> + Unpin,
{
    if let Err(message) = result {
        let _ = send(sink, format!("ERROR: {message}\n")).await;
    }
    let _ = sink.send(Message::Binary(Bytes::new())).await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
}

/// Log socket options from the upgrade headers.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogOptions {
    pub follow: bool,
    pub prefix: bool,
    pub since: Option<Duration>,
    pub tail: Option<usize>,
    pub filter: Option<String>,
}

impl LogOptions {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            // Absent means follow; only an explicit `false` stops following.
            follow: header_str(headers, "follow") != Some("false"),
            prefix: header_str(headers, "prefix") == Some("true"),
            since: header_str(headers, "since").and_then(parse_go_duration),
            tail: header_str(headers, "tail").and_then(|t| t.parse().ok()),
            filter: header_str(headers, "filter")
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
        }
    }

    fn wants(&self, line: &LogLine) -> bool {
        let recent = self
            .since
            .is_none_or(|since| line.time >= OffsetDateTime::now_utc() - since);
        let matches = self
            .filter
            .as_deref()
            .is_none_or(|f| line.message.contains(f));
        recent && matches
    }

    fn render(&self, line: &LogLine) -> String {
        if self.prefix {
            format!(
                "{} {} {}\n",
                format_time(line.time),
                line.source,
                line.message
            )
        } else {
            format!("{}\n", line.message)
        }
    }
}

/// Streams `lines` (then, when following, new events from `rx`) that pass `select` and the
/// options, until the book ends, the client leaves or the rack shuts down.
pub(crate) async fn stream_logs(
    state: &RackState,
    socket: &mut WebSocket,
    lines: Vec<LogLine>,
    rx: Option<broadcast::Receiver<LogEvent>>,
    options: &LogOptions,
    select: impl Fn(&LogLine) -> bool,
) {
    let mut backlog: Vec<&LogLine> = lines
        .iter()
        .filter(|l| select(l) && options.wants(l))
        .collect();
    if let Some(tail) = options.tail {
        let skip = backlog.len().saturating_sub(tail);
        backlog.drain(..skip);
    }
    for line in backlog {
        if !send(socket, options.render(line)).await {
            return;
        }
    }
    let Some(mut rx) = rx.filter(|_| options.follow) else {
        return;
    };
    let shutdown = state.shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            incoming = socket.recv() => match incoming {
                // Clients send nothing on log sockets but pings; anything else is ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            event = rx.recv() => match event {
                Ok(LogEvent::Line(line)) => {
                    if select(&line)
                        && options.filter.as_deref().is_none_or(|f| line.message.contains(f))
                        && !send(socket, options.render(&line)).await
                    {
                        return;
                    }
                }
                Ok(LogEvent::End) | Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_static(o));
        }
        h
    }

    #[test]
    fn origin_must_name_the_host_when_present() {
        assert!(same_origin(&headers(None, "rack:5443")));
        assert!(same_origin(&headers(
            Some("https://RACK:5443"),
            "rack:5443"
        )));
        assert!(!same_origin(&headers(
            Some("https://gw.example.com"),
            "rack:5443"
        )));
        assert!(!same_origin(&headers(Some("null"), "rack:5443")));
    }
}
