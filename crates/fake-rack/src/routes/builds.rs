//! `/apps/{app}/builds`: create from an object URL, list, get, update, import, logs socket.
//!
//! A build really reads its manifest from the uploaded tarball (in `spawn_blocking`), then
//! completes with a release carrying the manifest text, or fails with an `ERROR:` log line.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::objects::parse_url;
use super::releases::{NewRelease, create_release};
use crate::form::Form;
use crate::logbook::LogBook;
use crate::manifest;
use crate::model::Build;
use crate::state::{AppRecord, BuildRecord, RackState};
use crate::tarball;
use crate::wire::{RackError, RackResult, json, new_id, pod_suffix};
use crate::ws::{self, LogOptions, Upgrade};

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<usize>,
}

fn new_build(app: &str) -> Build {
    Build {
        id: new_id('B'),
        app: app.to_owned(),
        description: String::new(),
        entrypoint: String::new(),
        git_sha: String::new(),
        logs: String::new(),
        manifest: String::new(),
        process: String::new(),
        release: String::new(),
        reason: String::new(),
        repository: String::new(),
        status: "created".to_owned(),
        started: None,
        ended: None,
    }
}

/// `POST builds` (form `url`, `manifest`, `description`, `git-sha`, `external`, ...).
pub(crate) async fn create(
    State(state): State<RackState>,
    Path(app): Path<String>,
    form: Form,
) -> RackResult {
    let external = form.flag("external");
    let url = form.value("url").unwrap_or_default().to_owned();
    let manifest_path = form
        .value("manifest")
        .filter(|m| !m.is_empty())
        .unwrap_or("convox.yml")
        .to_owned();
    let password = state.options().password.clone();
    let domain = format!("{}.convox", state.options().rack_name);
    let build = state.with_app(&app, |a| {
        let mut build = new_build(&app);
        build.description = form.value("description").unwrap_or_default().to_owned();
        build.git_sha = form.value("git-sha").unwrap_or_default().to_owned();
        build.started = Some(OffsetDateTime::now_utc());
        if external {
            // Like the k8s provider: the push URL embeds the rack password.
            build.repository = format!("https://convox:{password}@api.{domain}/v2/{app}");
        } else {
            build.process = format!("build-{}", pod_suffix(5));
            "running".clone_into(&mut build.status);
        }
        let mut logs = LogBook::new();
        if !external {
            logs.push("build", &format!("Building: {}", build.id));
        }
        a.builds.push(BuildRecord {
            build: build.clone(),
            logs,
        });
        Ok(build)
    })?;
    if !external {
        tokio::spawn(run_build(state, app, build.id.clone(), url, manifest_path));
    }
    Ok(json(&build))
}

fn build_log(state: &RackState, app: &str, id: &str, line: &str) {
    let _ = state.with_app(app, |a| {
        a.build_mut(id)?.logs.push("build", line);
        Ok(())
    });
}

async fn run_build(state: RackState, app: String, id: String, url: String, manifest_path: String) {
    let step = state.options().timing.build_step;
    tokio::time::sleep(step).await;
    build_log(&state, &app, &id, "Preparing source");
    let source = parse_url(&url)
        .map_err(|e| e.message)
        .and_then(|(owner, key)| {
            state
                .lock()
                .objects
                .get(&(owner, key.as_str().to_owned()))
                .cloned()
                .ok_or_else(|| format!("no such object: {url}"))
        });
    let limits = state.options().limits;
    let path = manifest_path.clone();
    let parsed = match source {
        Ok(bytes) => tokio::task::spawn_blocking(move || {
            let text = tarball::read_text(&bytes, &path, &limits).map_err(|e| e.to_string())?;
            let parsed = manifest::parse(&text)?;
            Ok((text, parsed))
        })
        .await
        .unwrap_or_else(|e| Err(format!("build worker failed: {e}"))),
        Err(error) => Err(error),
    };
    let (text, parsed) = match parsed {
        Ok(ok) => ok,
        Err(error) => return fail(&state, &app, &id, &error),
    };
    let _ = state.with_app(&app, |a| {
        let record = a.build_mut(&id)?;
        record.build.manifest.clone_from(&text);
        record
            .logs
            .push("build", &format!("Manifest: {manifest_path}"));
        for service in &parsed.services {
            record.logs.push("build", &format!("Building: {service}"));
        }
        Ok(())
    });
    tokio::time::sleep(step).await;
    for service in &parsed.services {
        build_log(
            &state,
            &app,
            &id,
            &format!("Pushing: fake/{app}:{service}.{id}"),
        );
    }
    tokio::time::sleep(step).await;
    let logs = state.with_app(&app, |a| complete(a, &id));
    if let Ok((key, text)) = logs {
        state.lock().objects.insert((app, key), text.into());
    }
}

/// Creates the release, marks the build complete and ends its log. Returns the logs object.
fn complete(a: &mut AppRecord, id: &str) -> Result<(String, String), RackError> {
    let release = create_release(
        a,
        &NewRelease {
            build: Some(id),
            env: None,
            parent: None,
            description: None,
        },
    )?;
    let app = a.app.name.clone();
    let record = a.build_mut(id)?;
    let key = format!("build/{id}/logs");
    record
        .logs
        .push("build", &format!("Release: {}", release.id));
    record.logs.end();
    record.build.release = release.id;
    record.build.logs = format!("object://{app}/{key}");
    "complete".clone_into(&mut record.build.status);
    record.build.ended = Some(OffsetDateTime::now_utc());
    Ok((key, record.logs.text()))
}

fn fail(state: &RackState, app: &str, id: &str, error: &str) {
    let _ = state.with_app(app, |a| {
        let record = a.build_mut(id)?;
        record.logs.push("build", &format!("ERROR: {error}"));
        record.logs.end();
        "failed".clone_into(&mut record.build.status);
        record.build.ended = Some(OffsetDateTime::now_utc());
        Ok(())
    });
}

pub(crate) async fn list(
    State(state): State<RackState>,
    Path(app): Path<String>,
    Query(query): Query<ListQuery>,
) -> RackResult {
    state.with_app(&app, |a| {
        let builds: Vec<&Build> = a
            .builds
            .iter()
            .rev()
            .take(query.limit.unwrap_or(10))
            .map(|b| &b.build)
            .collect();
        Ok(json(&builds))
    })
}

pub(crate) async fn get(
    State(state): State<RackState>,
    Path((app, id)): Path<(String, String)>,
) -> RackResult {
    if id.ends_with(".tgz") {
        return Err(RackError::not_implemented("build export is not emulated"));
    }
    state.with_app(&app, |a| Ok(json(&a.build(&id)?.build)))
}

/// `PUT builds/{id}`: `ended`, `entrypoint`, `logs`, `manifest`, `release`, `started`,
/// `status`. Times use Go's `20060102.150405.000000000` layout.
pub(crate) async fn update(
    State(state): State<RackState>,
    Path((app, id)): Path<(String, String)>,
    form: Form,
) -> RackResult {
    state.with_app(&app, |a| {
        let build = &mut a.build_mut(&id)?.build;
        for (field, target) in [
            ("entrypoint", &mut build.entrypoint),
            ("logs", &mut build.logs),
            ("manifest", &mut build.manifest),
            ("release", &mut build.release),
            ("status", &mut build.status),
        ] {
            if let Some(value) = form.field(field) {
                value.clone_into(target);
            }
        }
        if let Some(started) = form.field("started") {
            build.started = Some(parse_option_time(started)?);
        }
        if let Some(ended) = form.field("ended") {
            build.ended = Some(parse_option_time(ended)?);
        }
        Ok(json(&*build))
    })
}

fn parse_option_time(text: &str) -> Result<OffsetDateTime, RackError> {
    let layout =
        format_description!("[year][month][day].[hour][minute][second].[subsecond digits:9]");
    time::PrimitiveDateTime::parse(text, layout)
        .map(time::PrimitiveDateTime::assume_utc)
        .map_err(|_| RackError::bad_request(format!("invalid time: {text}")))
}

/// `POST builds/import`: a `convox builds export` tarball with `build.json`; the images are not
/// emulated. Creates a complete build plus its release.
pub(crate) async fn import(
    State(state): State<RackState>,
    Path(app): Path<String>,
    body: Body,
) -> RackResult {
    state.with_app(&app, |_| Ok(()))?;
    let limits = state.options().limits;
    let limit = usize::try_from(limits.max_object_bytes).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| RackError::too_large("import too large"))?;
    let meta = tokio::task::spawn_blocking(move || {
        tarball::read_text(&bytes, "build.json", &limits).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("import worker failed: {e}")))
    .map_err(RackError::bad_request)?;
    let meta: serde_json::Value = serde_json::from_str(&meta)
        .map_err(|e| RackError::bad_request(format!("invalid build.json: {e}")))?;
    let field = |name: &str| meta.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    state.with_app(&app, |a| {
        let mut build = new_build(&app);
        field("description").clone_into(&mut build.description);
        field("manifest").clone_into(&mut build.manifest);
        field("git-sha").clone_into(&mut build.git_sha);
        build.started = Some(OffsetDateTime::now_utc());
        let id = build.id.clone();
        a.builds.push(BuildRecord {
            build,
            logs: LogBook::new(),
        });
        complete(a, &id)?;
        Ok(json(&a.build(&id)?.build))
    })
}

/// Build logs socket: the full log, then (while the build runs) new lines until it ends.
pub(crate) async fn logs(
    State(state): State<RackState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    ws::serve(
        state,
        upgrade,
        headers,
        move |state, headers, mut socket| async move {
            let options = LogOptions {
                follow: true,
                prefix: false,
                ..LogOptions::from_headers(&headers)
            };
            let subscription = state.with_app(&app, |a| Ok(a.build(&id)?.logs.subscribe()));
            let result = match subscription {
                Ok((lines, rx)) => {
                    ws::stream_logs(&state, &mut socket, lines, rx, &options, |_| true).await;
                    Ok(())
                }
                Err(error) => Err(error.message),
            };
            ws::finish(&mut socket, result).await;
        },
    )
}
