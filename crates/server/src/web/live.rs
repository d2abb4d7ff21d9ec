//! `GET /deploy-approvals/events`: Server-Sent Events for the live list. Every change to any request
//! the gateway hears of (`state.approval_events`, which carries changes from every replica)
//! becomes one `changed` event naming the request; the page then re-fetches its rows, so what
//! it shows always comes from the database and from the same visibility rules as the list.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::context::{WebError, WebUser};
use crate::app::AppState;

/// The stream of change notices. The session is checked again before each notice (without
/// counting as activity), so a signed-out or suspended user's open tab stops hearing of changes.
pub async fn events(
    axum::extract::State(state): axum::extract::State<AppState>,
    _user: WebUser,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let rx = state.approval_events.subscribe();
    let credentials = crate::auth::credential_headers(&headers);
    let stream = futures_util::stream::unfold(
        (rx, state, credentials),
        |(mut rx, state, creds)| async move {
            let data = match rx.recv().await {
                Ok(id) => id.to_string(),
                // Missed some: one refresh covers them all.
                Err(RecvError::Lagged(_)) => "*".to_owned(),
                Err(RecvError::Closed) => return None,
            };
            crate::auth::reauthenticate(&state, &creds).await.ok()?;
            // Ids are UUIDs or "*": nothing here needs escaping in an event line.
            let ev = Event::default().event("changed").data(data);
            Some((Ok(ev), (rx, state, creds)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
