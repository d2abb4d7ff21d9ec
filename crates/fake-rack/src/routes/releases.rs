//! `/apps/{app}/releases`: list, get, create (build/env/parent) and promote with the rack's
//! validation rules, rolling the app through `updating` back to `running`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::form::{Form, parse_env, render_env};
use crate::manifest;
use crate::model::{Process, Release};
use crate::state::{AppRecord, ProcessRecord, RackState};
use crate::wire::{RackError, RackResult, json, new_id, ok, pod_suffix};

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<usize>,
}

pub(crate) async fn list(
    State(state): State<RackState>,
    Path(app): Path<String>,
    Query(query): Query<ListQuery>,
) -> RackResult {
    state.with_app(&app, |a| {
        let mut releases: Vec<&Release> = a.releases.iter().collect();
        releases.sort_by_key(|r| std::cmp::Reverse(r.created));
        releases.truncate(query.limit.unwrap_or(10));
        Ok(json(&releases))
    })
}

pub(crate) async fn get(
    State(state): State<RackState>,
    Path((app, id)): Path<(String, String)>,
) -> RackResult {
    state.with_app(&app, |a| Ok(json(a.release(&id)?)))
}

pub(crate) async fn create(
    State(state): State<RackState>,
    Path(app): Path<String>,
    form: Form,
) -> RackResult {
    state.with_app(&app, |a| {
        let release = create_release(
            a,
            &NewRelease {
                build: form.field("build").filter(|b| !b.is_empty()),
                env: form.field("env"),
                parent: form.field("parent-release").filter(|p| !p.is_empty()),
                description: form.field("description").filter(|d| !d.is_empty()),
            },
        )?;
        Ok(json(&release))
    })
}

/// The inputs of `POST releases`.
pub(crate) struct NewRelease<'a> {
    pub build: Option<&'a str>,
    pub env: Option<&'a str>,
    pub parent: Option<&'a str>,
    pub description: Option<&'a str>,
}

/// Forks a release from `parent` (or the newest release), then applies build, env and
/// description like the rack: build copies its manifest and description, an env change
/// describes itself as `env add:K change:K remove:K`, an explicit description wins.
pub(crate) fn create_release(
    a: &mut AppRecord,
    new: &NewRelease<'_>,
) -> Result<Release, RackError> {
    let base = match new.parent {
        Some(parent) => Some(a.release(parent)?.clone()),
        None => a.latest_release().cloned(),
    };
    let mut release = Release {
        id: new_id('R'),
        app: a.app.name.clone(),
        build: base.as_ref().map(|b| b.build.clone()).unwrap_or_default(),
        env: base.as_ref().map(|b| b.env.clone()).unwrap_or_default(),
        manifest: base
            .as_ref()
            .map(|b| b.manifest.clone())
            .unwrap_or_default(),
        description: String::new(),
        created: OffsetDateTime::now_utc(),
    };
    if let Some(build) = new.build {
        let build = &a.build(build)?.build;
        release.build.clone_from(&build.id);
        release.manifest.clone_from(&build.manifest);
        release.description.clone_from(&build.description);
    }
    if let Some(env) = new.env {
        let old = parse_env(&release.env);
        let new_env = parse_env(env);
        let changes = describe_env_change(&old, &new_env);
        if !changes.is_empty() {
            release.description = format!("env {changes}");
        }
        release.env = render_env(&new_env);
    }
    if let Some(description) = new.description {
        description.clone_into(&mut release.description);
    }
    a.releases.push(release.clone());
    Ok(release)
}

fn describe_env_change(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> String {
    let mut parts = Vec::new();
    for (key, value) in new {
        match old.get(key) {
            None => parts.push(format!("add:{key}")),
            Some(previous) if previous != value => parts.push(format!("change:{key}")),
            Some(_) => {}
        }
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        parts.push(format!("remove:{key}"));
    }
    parts.join(" ")
}

/// `POST .../promote`: validates like `ReleasePromoteValidate`, flips the app to `updating`
/// and commits the release after `timing.promote`.
pub(crate) async fn promote(
    State(state): State<RackState>,
    Path((app, id)): Path<(String, String)>,
    form: Form,
) -> RackResult {
    let force = form.flag("force");
    let rollout = state.with_app(&app, |a| {
        let release = a.release(&id)?;
        if a.app.status != "running" && !force {
            return Err(RackError::forbidden("app is currently updating"));
        }
        if release.manifest.trim().is_empty() {
            return Err(RackError::bad_request(
                "can not promote a release with an empty manifest",
            ));
        }
        if let Some(current) = a.current_release()
            && release.created < current.created
        {
            return Err(RackError::bad_request(
                "can not promote an older release, try rollback",
            ));
        }
        a.rollout += 1;
        "updating".clone_into(&mut a.app.status);
        a.log("system/k8s/atom/app", "Status: Running => Pending");
        a.log("system/k8s/atom/app", &format!("Promoting release {id}"));
        Ok(a.rollout)
    })?;
    tokio::spawn(roll_out(state, app, id, rollout));
    Ok(ok())
}

async fn roll_out(state: RackState, app: String, id: String, rollout: u64) {
    let half = state.options().timing.promote / 2;
    tokio::time::sleep(half).await;
    let still_current = state
        .with_app(&app, |a| {
            if a.rollout != rollout {
                return Ok(false);
            }
            a.log("system/k8s/atom/app", "Status: Pending => Updating");
            for service in release_services(a.release(&id)?) {
                a.log(
                    &format!("system/k8s/{service}/deployment"),
                    &format!("Scaled up replica set {service}-{} to 1", pod_suffix(9)),
                );
            }
            Ok(true)
        })
        .unwrap_or(false);
    if !still_current {
        return;
    }
    tokio::time::sleep(half).await;
    let _ = state.with_app(&app, |a| {
        if a.rollout != rollout {
            return Ok(());
        }
        let release = a.release(&id)?.clone();
        a.app.release.clone_from(&release.id);
        "running".clone_into(&mut a.app.status);
        replace_service_pods(a, &release);
        a.log("system/k8s/atom/app", "Status: Updating => Running");
        Ok(())
    });
}

/// Service names of a release's manifest (empty when it does not parse).
pub(crate) fn release_services(release: &Release) -> Vec<String> {
    manifest::parse(&release.manifest)
        .map(|m| m.services)
        .unwrap_or_default()
}

/// Replaces the service pods (not the one-offs) with fresh pods of `release`, `scale` each.
pub(crate) fn replace_service_pods(a: &mut AppRecord, release: &Release) {
    a.processes.retain(|p| p.one_off);
    let now = OffsetDateTime::now_utc();
    for service in release_services(release) {
        let count = a.scale.get(&service).copied().unwrap_or(1);
        let replica_set = pod_suffix(9);
        for _ in 0..count {
            let id = format!("{service}-{replica_set}-{}", pod_suffix(5));
            a.log(
                &format!("service/{service}/{id}"),
                &format!("starting {service} for release {}", release.id),
            );
            a.processes.push(ProcessRecord {
                process: Process {
                    id,
                    app: a.app.name.clone(),
                    command: String::new(),
                    cpu: 0.0,
                    gpu: 0,
                    host: "10.0.0.11".to_owned(),
                    image: format!("fake/{}:{service}.{}", a.app.name, release.build),
                    instance: "node-fake-1".to_owned(),
                    memory: 0.0,
                    name: service.clone(),
                    ports: Vec::new(),
                    release: release.id.clone(),
                    started: now,
                    status: "running".to_owned(),
                    service: String::new(),
                },
                one_off: false,
                options: BTreeMap::new(),
                env: Vec::new(),
                task: None,
            });
        }
    }
}
