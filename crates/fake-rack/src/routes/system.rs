//! `/system`, `/instances`, `/auth` and the SDK's session probes.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use time::OffsetDateTime;

use crate::form::Form;
use crate::model::{Instance, Process, Release, System};
use crate::state::RackState;
use crate::wire::{json, ok};

pub(crate) async fn auth() -> Response {
    ok()
}

fn system(state: &RackState, parameters: BTreeMap<String, String>) -> System {
    let options = state.options();
    System {
        count: 3,
        domain: format!("router.{}.convox", options.rack_name),
        name: options.rack_name.clone(),
        provider: "k8s".to_owned(),
        rack_domain: format!("{}.convox", options.rack_name),
        region: "local".to_owned(),
        router_internal: String::new(),
        status: "running".to_owned(),
        kind: "k8s".to_owned(),
        version: options.version.clone(),
        outputs: BTreeMap::new(),
        parameters,
    }
}

pub(crate) async fn get(State(state): State<RackState>) -> Response {
    let parameters = state.lock().system_parameters.clone();
    json(&system(&state, parameters))
}

/// `PUT /system`: merges `parameters` (a url-encoded map); other fields are accepted and
/// ignored.
pub(crate) async fn update(State(state): State<RackState>, form: Form) -> Response {
    if let Some(parameters) = form.field("parameters") {
        let parsed: Vec<(String, String)> =
            serde_urlencoded::from_str(parameters).unwrap_or_default();
        state.lock().system_parameters.extend(parsed);
    }
    ok()
}

pub(crate) async fn processes(State(state): State<RackState>) -> Response {
    let inner = state.lock();
    let all: Vec<&Process> = inner
        .apps
        .values()
        .flat_map(|a| a.processes.iter().map(|p| &p.process))
        .collect();
    json(&all)
}

pub(crate) async fn releases(State(state): State<RackState>) -> Response {
    let inner = state.lock();
    let current: Vec<&Release> = inner
        .apps
        .values()
        .filter_map(|a| a.current_release())
        .collect();
    json(&current)
}

pub(crate) async fn instances(State(state): State<RackState>) -> Response {
    let processes: usize = state.lock().apps.values().map(|a| a.processes.len()).sum();
    let started = OffsetDateTime::now_utc() - time::Duration::days(1);
    let instances: Vec<Instance> = (1..=3)
        .map(|i| Instance {
            agent: true,
            cpu: 0.1,
            id: format!("node-fake-{i}"),
            memory: 0.3,
            private_ip: format!("10.0.0.{}", 10 + i),
            processes: i64::try_from(processes).unwrap_or(i64::MAX) / 3,
            public_ip: String::new(),
            status: "running".to_owned(),
            started,
        })
        .collect();
    json(&instances)
}

/// `GET /racks`: the SDK's pre-websocket probe; an empty list is harmless.
pub(crate) async fn racks() -> Response {
    json(&Vec::<String>::new())
}
