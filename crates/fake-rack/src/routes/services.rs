//! `/apps/{app}/services`: list (from the current release's manifest), scale, restart.

use axum::extract::{Path, State};

use super::releases::{release_services, replace_service_pods};
use crate::form::Form;
use crate::model::Service;
use crate::state::RackState;
use crate::wire::{RackError, RackResult, json, ok};

pub(crate) async fn list(State(state): State<RackState>, Path(app): Path<String>) -> RackResult {
    state.with_app(&app, |a| {
        let names = a
            .current_release()
            .map(release_services)
            .unwrap_or_default();
        let services: Vec<Service> = names
            .into_iter()
            .map(|name| Service {
                count: a.scale.get(&name).copied().unwrap_or(1),
                cpu: 256,
                memory: 512,
                gpu: 0,
                gpu_vendor: String::new(),
                domain: format!("{name}.{app}.fake.convox"),
                ports: Vec::new(),
                nlb: Vec::new(),
                name,
            })
            .collect();
        Ok(json(&services))
    })
}

/// `PUT services/{service}` (form `count`, `cpu`, `memory`, ...): only `count` changes the
/// pods; the rest is accepted.
pub(crate) async fn scale(
    State(state): State<RackState>,
    Path((app, service)): Path<(String, String)>,
    form: Form,
) -> RackResult {
    state.with_app(&app, |a| {
        let release = a
            .current_release()
            .cloned()
            .ok_or_else(|| RackError::bad_request(format!("no release for app: {app}")))?;
        if !release_services(&release).contains(&service) {
            return Err(RackError::not_found(format!(
                "service not found: {service}"
            )));
        }
        if let Some(count) = form.field("count") {
            let count: u32 = count
                .parse()
                .map_err(|_| RackError::bad_request(format!("invalid count: {count}")))?;
            a.scale.insert(service.clone(), count);
            replace_service_pods(a, &release);
        }
        Ok(ok())
    })
}

/// `POST services/{service}/restart`: new pods for the service.
pub(crate) async fn restart(
    State(state): State<RackState>,
    Path((app, service)): Path<(String, String)>,
) -> RackResult {
    state.with_app(&app, |a| {
        let release = a
            .current_release()
            .cloned()
            .ok_or_else(|| RackError::bad_request(format!("no release for app: {app}")))?;
        if !release_services(&release).contains(&service) {
            return Err(RackError::not_found(format!(
                "service not found: {service}"
            )));
        }
        replace_service_pods(a, &release);
        a.log(
            &format!("system/k8s/{service}/deployment"),
            &format!("Restarted {service}"),
        );
        Ok(ok())
    })
}
