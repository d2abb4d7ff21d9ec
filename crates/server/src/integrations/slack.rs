//! Slack incoming webhook: one message per state change of a request, to the app's
//! `slack_webhook_url` or else the global `default_slack_webhook_url`. The URL is itself the
//! credential, so it is read from the settings when the job runs and never stored in the job.

use futures_util::future::BoxFuture;
use rgw_store::Job;
use serde_json::json;

use super::http::send;
use super::message::{Summary, slack_payload};
use super::{Integration, JobError, Planned, Subject, Transition, setting};
use crate::app::AppState;

/// Job kind.
pub const NOTIFY: &str = "slack.notify";

/// The Slack integration.
#[derive(Debug, Clone, Copy)]
pub struct Slack;

/// The webhook URL for `app`, if any.
async fn webhook_url(state: &AppState, app: &str) -> Result<Option<String>, JobError> {
    let own = setting(state, "slack_webhook_url", Some(app)).await?;
    let url = match own.as_text().filter(|u| !u.trim().is_empty()) {
        Some(u) => Some(u.trim().to_owned()),
        None => setting(state, "default_slack_webhook_url", None)
            .await?
            .as_text()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
    };
    Ok(url)
}

/// Only http(s) URLs are called (an admin typo must not reach another scheme).
pub fn callable(url: &str) -> Result<url::Url, JobError> {
    let parsed = url::Url::parse(url)
        .map_err(|_| JobError::permanent("the configured webhook URL is not a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(JobError::permanent(
            "the configured webhook URL is not an http(s) URL",
        ));
    }
    Ok(parsed)
}

async fn notify(state: &AppState, subject: &Subject, event: Transition) -> Result<(), JobError> {
    let Some(url) = webhook_url(state, &subject.row.app).await? else {
        // Removed since the change: nothing to send.
        return Ok(());
    };
    let url = callable(&url)?;
    let summary = Summary::build(state, subject).await?;
    let req = state
        .jobs
        .http
        .post(url)
        .json(&slack_payload(event, &summary));
    let reply = send(req, "Slack webhook").await?;
    if !reply.status.is_success() {
        return Err(reply.error("Slack webhook"));
    }
    Ok(())
}

impl Integration for Slack {
    fn handles(&self, kind: &str) -> bool {
        kind == NOTIFY
    }

    fn plan<'a>(
        &'a self,
        state: &'a AppState,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<Vec<Planned>, JobError>> {
        Box::pin(async move {
            // A vote is not news for a channel; the PR comment shows it.
            if event == Transition::Voted || webhook_url(state, &subject.row.app).await?.is_none() {
                return Ok(Vec::new());
            }
            Ok(vec![Planned::new(NOTIFY, subject, event, "", json!({}))])
        })
    }

    fn run<'a>(
        &'a self,
        state: &'a AppState,
        _job: &'a Job,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(notify(state, subject, event))
    }
}
