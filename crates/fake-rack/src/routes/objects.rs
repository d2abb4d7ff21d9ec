//! `/apps/{app}/objects/{key}`: the per-app blob store, kept in memory.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header;
use axum::response::IntoResponse;
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::model::Object;
use crate::state::RackState;
use crate::wire::{RackError, RackResult, json, ok};

/// An object key that cannot climb out of the app's store.
pub(crate) struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(key: &str) -> Result<Self, RackError> {
        if key.is_empty() || key.split('/').any(|segment| segment == "..") {
            return Err(RackError::bad_request("invalid object key"));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Splits `object://app/key` into its parts.
pub(crate) fn parse_url(url: &str) -> Result<(String, ObjectKey), RackError> {
    let rest = url
        .strip_prefix("object://")
        .ok_or_else(|| RackError::bad_request(format!("invalid object url: {url}")))?;
    let (app, key) = rest
        .split_once('/')
        .ok_or_else(|| RackError::bad_request(format!("invalid object url: {url}")))?;
    Ok((app.to_owned(), ObjectKey::parse(key)?))
}

fn app_exists(state: &RackState, app: &str) -> Result<(), RackError> {
    state.with_app(app, |_| Ok(()))
}

/// `POST`: streams the body in (bounded) and stores one copy of it.
pub(crate) async fn store(
    State(state): State<RackState>,
    Path((app, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> RackResult {
    let key = ObjectKey::parse(&key)?;
    app_exists(&state, &app)?;
    let limit = state.options().limits.max_object_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(RackError::too_large(format!(
            "object too large: limit is {limit} bytes"
        )));
    }
    // Reserve once from Content-Length so the body is not copied while growing.
    let mut buffer = BytesMut::with_capacity(
        declared
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0),
    );
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| RackError::bad_request(format!("read error: {e}")))?;
        if (buffer.len() + chunk.len()) as u64 > limit {
            return Err(RackError::too_large(format!(
                "object too large: limit is {limit} bytes"
            )));
        }
        buffer.extend_from_slice(&chunk);
    }
    let url = format!("object://{app}/{}", key.0);
    state.lock().objects.insert((app, key.0), buffer.freeze());
    Ok(json(&Object { url }))
}

pub(crate) async fn fetch(
    State(state): State<RackState>,
    Path((app, key)): Path<(String, String)>,
) -> RackResult {
    let key = ObjectKey::parse(&key)?;
    app_exists(&state, &app)?;
    let bytes = state
        .lock()
        .objects
        .get(&(app, key.0.clone()))
        .cloned()
        .ok_or_else(|| RackError::not_found(format!("object not found: {}", key.0)))?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from(bytes),
    )
        .into_response())
}

/// `HEAD`: 200 with a JSON bool, even when the object is missing (the rack's quirk).
pub(crate) async fn exists(
    State(state): State<RackState>,
    Path((app, key)): Path<(String, String)>,
) -> RackResult {
    let key = ObjectKey::parse(&key)?;
    app_exists(&state, &app)?;
    let found = state.lock().objects.contains_key(&(app, key.0));
    Ok(json(&found))
}

pub(crate) async fn delete(
    State(state): State<RackState>,
    Path((app, key)): Path<(String, String)>,
) -> RackResult {
    let key = ObjectKey::parse(&key)?;
    app_exists(&state, &app)?;
    state
        .lock()
        .objects
        .remove(&(app, key.0.clone()))
        .ok_or_else(|| RackError::not_found(format!("object not found: {}", key.0)))?;
    Ok(ok())
}

/// `GET /apps/{app}/objects`: not implemented on k8s racks.
pub(crate) async fn list() -> RackResult {
    Err(RackError::not_implemented("unimplemented"))
}
