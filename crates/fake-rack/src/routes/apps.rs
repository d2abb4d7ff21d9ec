//! `/apps` and `/apps/{app}`: list, create, get, update, delete, cancel.

use axum::extract::{Path, State};
use axum::response::Response;

use crate::form::Form;
use crate::model::App;
use crate::state::{AppRecord, RackState};
use crate::wire::{RackError, RackResult, json, ok};

pub(crate) async fn list(State(state): State<RackState>) -> Response {
    // BTreeMap order is the rack's sort by name.
    let apps: Vec<App> = state.lock().apps.values().map(|a| a.app.clone()).collect();
    json(&apps)
}

pub(crate) async fn create(State(state): State<RackState>, form: Form) -> RackResult {
    let name = form
        .value("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RackError::bad_request("name required"))?
        .to_owned();
    if !valid_app_name(&name) {
        return Err(RackError::bad_request(format!("invalid app name: {name}")));
    }
    let mut inner = state.lock();
    if inner.apps.contains_key(&name) {
        return Err(RackError::conflict(format!("app already exists: {name}")));
    }
    let mut record = AppRecord::new(&name);
    if let Some(generation) = form.value("generation").filter(|g| !g.is_empty()) {
        generation.clone_into(&mut record.app.generation);
    }
    let app = record.app.clone();
    inner.apps.insert(name, record);
    Ok(json(&app))
}

fn valid_app_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) async fn get(State(state): State<RackState>, Path(app): Path<String>) -> RackResult {
    state.with_app(&app, |a| Ok(json(&a.app)))
}

/// `PUT /apps/{app}`: `lock` and `parameters` (a url-encoded map).
pub(crate) async fn update(
    State(state): State<RackState>,
    Path(app): Path<String>,
    form: Form,
) -> RackResult {
    state.with_app(&app, |a| {
        if let Some(lock) = form.field("lock") {
            a.app.locked = lock == "true";
        }
        if let Some(parameters) = form.field("parameters") {
            let parsed: Vec<(String, String)> = serde_urlencoded::from_str(parameters)
                .map_err(|e| RackError::bad_request(format!("invalid parameters: {e}")))?;
            a.app.parameters.extend(parsed);
        }
        Ok(ok())
    })
}

pub(crate) async fn delete(State(state): State<RackState>, Path(app): Path<String>) -> RackResult {
    let mut inner = state.lock();
    let record = inner
        .apps
        .remove(&app)
        .ok_or_else(|| RackError::not_found(format!("app not found: {app}")))?;
    for process in &record.processes {
        if let Some(task) = &process.task {
            task.abort();
        }
    }
    inner.objects.retain(|(owner, _), _| *owner != app);
    Ok(ok())
}

/// `POST /apps/{app}/cancel`: 403 unless the app is updating; rolls the update back.
pub(crate) async fn cancel(State(state): State<RackState>, Path(app): Path<String>) -> RackResult {
    state.with_app(&app, |a| {
        if a.app.status != "updating" {
            return Err(RackError::forbidden("app is not updating"));
        }
        // Supersede the running rollout; the current release stays.
        a.rollout += 1;
        "running".clone_into(&mut a.app.status);
        a.log("system/k8s/atom/app", "Status: Updating => Cancelled");
        Ok(ok())
    })
}
