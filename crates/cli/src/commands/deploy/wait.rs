//! The waiting half of a deploy: following the build (its live log, polling its status) and
//! the app after a promote, with the progress lines both print.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;
use tokio::time::Instant;

use super::logs;
use super::rack::Rack;
use crate::error::CliError;

/// How often the build (once its log ended) and the app are polled.
const POLL: Duration = Duration::from_millis(500);
/// How often the build is polled while its log still streams.
const POLL_WHILE_LOGGING: Duration = Duration::from_secs(2);
/// How long a log stream may go on once the build has ended (or a broken one be re-read).
const LOG_GRACE: Duration = Duration::from_secs(5);
/// Where progress and the build log go: stdout in text mode, stderr with `--output json`.
pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out { json }
    }

    pub fn writer(&self) -> Box<dyn Write + Send> {
        if self.json {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        }
    }

    pub fn step(&mut self, line: &str) {
        let _ = writeln!(self.writer(), "{line}");
    }
}

/// Streams the build log while polling the build (a safety net: the log's end normally says
/// the build ended) until it is no longer `created`/`running`; then prints any log a broken
/// stream missed, from a fresh stream of the finished build (as convox does).
pub async fn wait_build(
    rack: &Rack,
    app: &str,
    id: &str,
    deadline: Instant,
    out: &mut Out,
) -> Result<Value> {
    let mut writer = out.writer();
    let path = format!("/apps/{app}/builds/{id}");
    let left = deadline.saturating_duration_since(Instant::now());
    let mut ended = None;
    let build = {
        let log = logs::follow(rack, app, id, 0, left, writer.as_mut());
        tokio::pin!(log);
        let mut next_poll = Instant::now() + POLL_WHILE_LOGGING;
        let build = loop {
            if ended.is_none() {
                tokio::select! {
                    r = &mut log => {
                        ended = Some(r);
                        next_poll = Instant::now();
                        continue;
                    }
                    () = tokio::time::sleep_until(next_poll) => {}
                }
            } else {
                tokio::time::sleep_until(next_poll).await;
            }
            let build = rack.get("build", &path).await?;
            if !matches!(build["status"].as_str(), Some("created" | "running")) {
                break build;
            }
            if Instant::now() >= deadline {
                return Err(timeout(&format!("build {id} to finish")));
            }
            next_poll = Instant::now()
                + if ended.is_none() {
                    POLL_WHILE_LOGGING
                } else {
                    POLL
                };
        };
        if ended.is_none() {
            ended = tokio::time::timeout(LOG_GRACE, &mut log).await.ok();
        }
        build
    };
    if let Some((seen, logs::Ended::Lost(why))) = ended {
        eprintln!("(the build log stream was interrupted: {why}; reading the rest)");
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(LOG_GRACE);
        logs::follow(rack, app, id, seen, left, writer.as_mut()).await;
    }
    match build["status"].as_str() {
        Some("complete") => Ok(build),
        Some("failed") => Err(CliError::new(
            "build_failed",
            format!(
                "build {id} failed{}",
                build["reason"]
                    .as_str()
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        )
        .into()),
        other => Err(invalid(&format!(
            "build {id} has the unexpected status {}",
            other.unwrap_or("(none)")
        ))
        .into()),
    }
}

/// Polls the app until it is `running` twice in a row (after a promote: running `release`).
/// `rollback`, or a rollout that ends on another release, fails.
pub async fn wait_running(
    rack: &Rack,
    app: &str,
    release: Option<&str>,
    deadline: Instant,
    out: &mut Out,
) -> Result<()> {
    let rolled_back = |why: String| -> anyhow::Error { CliError::new("rollback", why).into() };
    let (mut streak, mut seen_update) = (0, false);
    let mut last_status = String::new();
    loop {
        let a = rack.get("app", &format!("/apps/{app}")).await?;
        let status = a["status"].as_str().unwrap_or_default().to_owned();
        let current = a["release"].as_str().unwrap_or_default();
        if !last_status.is_empty() && status != last_status {
            out.step(&format!("App {app} is {status}"));
        }
        match (status.as_str(), release) {
            ("rollback", _) => {
                return Err(rolled_back(format!(
                    "app {app} rolled back instead of running the new release"
                )));
            }
            ("running", Some(r)) if current != r => {
                // Either the rollout has not shown yet, or it ended on the old release.
                if seen_update {
                    return Err(rolled_back(format!(
                        "app {app} runs release {current}, not {r}: the rack rolled back"
                    )));
                }
                streak = 0;
            }
            ("running", _) => {
                streak += 1;
                if streak == 2 {
                    return Ok(());
                }
            }
            _ => {
                seen_update = true;
                streak = 0;
            }
        }
        last_status = status;
        if Instant::now() >= deadline {
            return Err(timeout(&format!("app {app} to be running")));
        }
        tokio::time::sleep(POLL).await;
    }
}

pub fn invalid(message: &str) -> CliError {
    CliError::new("invalid_response", message.to_owned())
}

pub fn timeout(what: &str) -> anyhow::Error {
    CliError::timeout(
        "deploy_timed_out",
        format!("gave up waiting for {what} (--timeout)"),
    )
    .into()
}
