//! `/apps/{app}/processes`: list, get, stop, one-off runs (options in headers) and the exec
//! socket, which runs the small command set of [`crate::exec`].

use std::collections::BTreeMap;

use axum::extract::ws::Message;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::StreamExt;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::exec::{self, ExecIo};
use crate::form::parse_env;
use crate::model::Process;
use crate::state::{AppRecord, ProcessRecord, RackState};
use crate::wire::{RackError, RackResult, header_str, json, ok, pod_suffix};
use crate::ws::{self, EXIT_MARKER, Upgrade};

/// Header options of `POST services/{service}/processes` (`ProcessRunOptions`).
const RUN_OPTIONS: &[&str] = &[
    "command",
    "cpu",
    "cpu-limit",
    "entrypoint",
    "environment",
    "gpu",
    "gpu-vendor",
    "height",
    "image",
    "memory",
    "memory-limit",
    "node-labels",
    "privileged",
    "release",
    "system-critical",
    "use-service-volume",
    "volumes",
    "width",
];

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    service: Option<String>,
    release: Option<String>,
}

pub(crate) async fn list(
    State(state): State<RackState>,
    Path(app): Path<String>,
    Query(query): Query<ListQuery>,
) -> RackResult {
    state.with_app(&app, |a| {
        let processes: Vec<&Process> = a
            .processes
            .iter()
            .map(|p| &p.process)
            .filter(|p| {
                query
                    .service
                    .as_ref()
                    .is_none_or(|s| s.is_empty() || *s == p.name)
            })
            .filter(|p| {
                query
                    .release
                    .as_ref()
                    .is_none_or(|r| r.is_empty() || *r == p.release)
            })
            .collect();
        Ok(json(&processes))
    })
}

pub(crate) async fn get(
    State(state): State<RackState>,
    Path((app, pid)): Path<(String, String)>,
) -> RackResult {
    state.with_app(&app, |a| Ok(json(&a.process(&pid)?.process)))
}

/// `DELETE processes/{pid}`: stops the process (a one-off's command is aborted).
pub(crate) async fn stop(
    State(state): State<RackState>,
    Path((app, pid)): Path<(String, String)>,
) -> RackResult {
    state.with_app(&app, |a| {
        let index = a
            .processes
            .iter()
            .position(|p| p.process.id == pid)
            .ok_or_else(|| RackError::not_found(format!("process not found: {pid}")))?;
        let record = a.processes.remove(index);
        if let Some(task) = record.task {
            task.abort();
        }
        a.log(&format!("service/{}/{pid}", record.process.name), "stopped");
        Ok(ok())
    })
}

/// `POST services/{service}/processes`: starts a one-off process of the service in the
/// current release (or `Release`), `pending` for `timing.process_start`, then `running` while
/// its `Command` runs; `complete` or `failed` after.
pub(crate) async fn run(
    State(state): State<RackState>,
    Path((app, service)): Path<(String, String)>,
    headers: HeaderMap,
) -> RackResult {
    let options: BTreeMap<String, String> = RUN_OPTIONS
        .iter()
        .filter_map(|name| header_str(&headers, name).map(|v| ((*name).to_owned(), v.to_owned())))
        .collect();
    let process = state.with_app(&app, |a| {
        let release_id = options
            .get("release")
            .filter(|r| !r.is_empty())
            .cloned()
            .unwrap_or_else(|| a.app.release.clone());
        if release_id.is_empty() {
            return Err(RackError::bad_request(format!("no release for app: {app}")));
        }
        let release = a.release(&release_id)?;
        if !super::releases::release_services(release).contains(&service) {
            return Err(RackError::not_found(format!(
                "service not found: {service}"
            )));
        }
        let process = Process {
            id: format!("{service}-run-{}", pod_suffix(5)),
            app: app.clone(),
            command: options.get("command").cloned().unwrap_or_default(),
            cpu: 0.0,
            gpu: 0,
            host: "10.0.0.12".to_owned(),
            image: options
                .get("image")
                .cloned()
                .unwrap_or_else(|| format!("fake/{app}:{service}.{}", release.build)),
            instance: "node-fake-2".to_owned(),
            memory: 0.0,
            name: service.clone(),
            ports: Vec::new(),
            release: release.id.clone(),
            started: OffsetDateTime::now_utc(),
            status: "pending".to_owned(),
            service: String::new(),
        };
        let env = options
            .get("environment")
            .map(|e| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(e)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect()
            })
            .unwrap_or_default();
        a.processes.push(ProcessRecord {
            process: process.clone(),
            one_off: true,
            options: options.clone(),
            env,
            task: None,
        });
        Ok(process)
    })?;
    let task = tokio::spawn(run_one_off(state.clone(), app.clone(), process.id.clone()));
    let _ = state.with_app(&app, |a| {
        if let Some(record) = a.processes.iter_mut().find(|p| p.process.id == process.id) {
            record.task = Some(task.abort_handle());
        } else {
            // Stopped before we got here.
            task.abort();
        }
        Ok(())
    });
    Ok(json(&process))
}

async fn run_one_off(state: RackState, app: String, pid: String) {
    tokio::time::sleep(state.options().timing.process_start).await;
    let Ok((command, env, source)) = state.with_app(&app, |a| {
        let env = process_env(a, &pid)?;
        let record = a
            .processes
            .iter_mut()
            .find(|p| p.process.id == pid)
            .ok_or_else(|| RackError::not_found("gone"))?;
        "running".clone_into(&mut record.process.status);
        let source = format!("service/{}/{pid}", record.process.name);
        Ok((record.process.command.clone(), env, source))
    }) else {
        return;
    };
    let (out, mut rx) = mpsc::channel(64);
    let mut io = ExecIo {
        out,
        stdin: None,
        env,
    };
    let engine = async move { exec::run(&command, &mut io).await };
    let logger = async {
        while let Some(chunk) = rx.recv().await {
            let _ = state.with_app(&app, |a| {
                for line in chunk.lines() {
                    a.log(&source, line);
                }
                Ok(())
            });
        }
    };
    let (code, ()) = tokio::join!(engine, logger);
    let _ = state.with_app(&app, |a| {
        if let Some(record) = a.processes.iter_mut().find(|p| p.process.id == pid) {
            let status = if code == 0 { "complete" } else { "failed" };
            status.clone_into(&mut record.process.status);
            record.task = None;
        }
        Ok(())
    });
}

/// The environment a process sees: its release's env plus one-off extras.
fn process_env(a: &AppRecord, pid: &str) -> Result<Vec<String>, RackError> {
    let record = a.process(pid)?;
    let mut env = a
        .release(&record.process.release)
        .map(|r| parse_env(&r.env))
        .unwrap_or_default();
    env.extend(parse_env(&record.env.join("\n")));
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// Exec socket: runs `Command` with stdin from text frames (an empty binary frame is EOF),
/// output as text frames, then the exit marker and the end-of-stream frame.
pub(crate) async fn exec(
    State(state): State<RackState>,
    Path((app, pid)): Path<(String, String)>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    ws::serve(
        state,
        upgrade,
        headers,
        move |state, headers, socket| async move {
            let command = header_str(&headers, "command")
                .unwrap_or_default()
                .to_owned();
            let stdin_enabled = header_str(&headers, "disable-stdin") != Some("true");
            let env = state.with_app(&app, |a| {
                let record = a.process(&pid)?;
                if record.process.status != "running" {
                    return Err(RackError::bad_request(format!(
                        "process is not running: {}",
                        record.process.id
                    )));
                }
                process_env(a, &record.process.id)
            });
            let (mut sink, mut stream) = socket.split();
            let env = match env {
                Ok(env) => env,
                Err(error) => return ws::finish(&mut sink, Err(error.message)).await,
            };

            let (stdin_tx, stdin_rx) = mpsc::channel::<String>(64);
            let (gone_tx, mut gone_rx) = oneshot::channel::<()>();
            let reader = tokio::spawn(async move {
                let mut stdin_tx = Some(stdin_tx);
                while let Some(message) = stream.next().await {
                    match message {
                        Ok(Message::Text(text)) => {
                            if let Some(tx) = &stdin_tx {
                                let _ = tx.send(text.as_str().to_owned()).await;
                            }
                        }
                        // gorilla's reader maps any binary frame to EOF.
                        Ok(Message::Binary(_)) => stdin_tx = None,
                        Ok(Message::Close(_)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                let _ = gone_tx.send(());
            });

            let (out, mut out_rx) = mpsc::channel(64);
            let mut io = ExecIo {
                out,
                stdin: stdin_enabled.then_some(stdin_rx),
                env,
            };
            let engine = tokio::spawn(async move { exec::run(&command, &mut io).await });
            let shutdown = state.shutdown_signal();
            tokio::pin!(shutdown);
            let mut interrupted = false;
            loop {
                tokio::select! {
                    chunk = out_rx.recv() => match chunk {
                        Some(chunk) => {
                            if !ws::send(&mut sink, chunk).await {
                                interrupted = true;
                                break;
                            }
                        }
                        // The engine dropped its output: it has finished.
                        None => break,
                    },
                    _ = &mut gone_rx => { interrupted = true; break; }
                    () = &mut shutdown => { interrupted = true; break; }
                }
            }
            reader.abort();
            if interrupted {
                engine.abort();
                return ws::finish(&mut sink, Err("session ended".to_owned())).await;
            }
            let code = engine.await.unwrap_or(1);
            let _ = ws::send(&mut sink, format!("{EXIT_MARKER}:{code}\n")).await;
            ws::finish(&mut sink, Ok(())).await;
        },
    )
}
