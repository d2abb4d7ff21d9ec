//! Log sockets: app, service, process and system logs, with `Follow`, `Since`, `Prefix`,
//! `Filter` and `Tail` from the upgrade headers.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::logbook::LogLine;
use crate::state::RackState;
use crate::ws::{self, LogOptions, Upgrade};

/// Streams one app's log book, keeping the lines `select` accepts.
fn app_stream(
    state: RackState,
    upgrade: Upgrade,
    headers: HeaderMap,
    app: String,
    select: impl Fn(&LogLine) -> bool + Send + Sync + 'static,
) -> Response {
    ws::serve(
        state,
        upgrade,
        headers,
        move |state, headers, mut socket| async move {
            let options = LogOptions::from_headers(&headers);
            let result = match state.with_app(&app, |a| Ok(a.logs.subscribe())) {
                Ok((lines, rx)) => {
                    ws::stream_logs(&state, &mut socket, lines, rx, &options, select).await;
                    Ok(())
                }
                Err(error) => Err(error.message),
            };
            ws::finish(&mut socket, result).await;
        },
    )
}

pub(crate) async fn app(
    State(state): State<RackState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    app_stream(state, upgrade, headers, app, |_| true)
}

pub(crate) async fn service(
    State(state): State<RackState>,
    Path((app, service)): Path<(String, String)>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let prefix = format!("service/{service}/");
    app_stream(state, upgrade, headers, app, move |line| {
        line.source.starts_with(&prefix)
    })
}

pub(crate) async fn process(
    State(state): State<RackState>,
    Path((app, pid)): Path<(String, String)>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let suffix = format!("/{pid}");
    app_stream(state, upgrade, headers, app, move |line| {
        line.source.starts_with("service/") && line.source.ends_with(&suffix)
    })
}

pub(crate) async fn system(
    State(state): State<RackState>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    ws::serve(
        state,
        upgrade,
        headers,
        move |state, headers, mut socket| async move {
            let options = LogOptions::from_headers(&headers);
            let (lines, rx) = state.lock().system_logs.subscribe();
            ws::stream_logs(&state, &mut socket, lines, rx, &options, |_| true).await;
            ws::finish(&mut socket, Ok(())).await;
        },
    )
}
