//! Generic webhooks: one signed POST per state change of a request to each of the app's
//! `webhook_urls` and the global `default_webhook_urls`.
//!
//! Each delivery carries `X-RGW-Event`, `X-RGW-Delivery` (the job id: the same across retries,
//! so receivers can drop duplicates), `X-RGW-Timestamp` (unix seconds at sending) and
//! `X-RGW-Signature: sha256=<hex HMAC-SHA256(RGW_WEBHOOK_SECRET, "<timestamp>.<body>")>`.
//! Receivers check the signature with [`verify`] and refuse timestamps outside a few minutes,
//! so a captured delivery cannot be replayed later. Jobs carry the SHA-256 of their URL, never
//! the URL (which may hold a credential); it is looked up in the settings when the job runs.

use futures_util::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use rgw_store::Job;
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::http::send;
use super::message::{Summary, webhook_body};
use super::slack::callable;
use super::{Integration, JobError, Planned, Subject, Transition, setting};
use crate::app::AppState;

/// Job kind.
pub const DELIVER: &str = "webhook.deliver";
/// The signature header.
pub const SIGNATURE: &str = "x-rgw-signature";
/// The timestamp header.
pub const TIMESTAMP: &str = "x-rgw-timestamp";
/// How far a receiver should let a timestamp be from its clock.
pub const TOLERANCE_SECS: i64 = 300;

/// The generic webhook integration.
#[derive(Debug, Clone, Copy)]
pub struct Webhooks;

fn url_id(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

/// `sha256=<hex>` over `"<timestamp>.<body>"`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: checks the signature in constant time and the timestamp against `now`.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str, now_unix: i64) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (now_unix - ts).abs() > TOLERANCE_SECS {
        return false;
    }
    let Some(hex_sig) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Every webhook URL for `app`: its own, then the global ones, without duplicates.
async fn urls(state: &AppState, app: &str) -> Result<Vec<String>, JobError> {
    let mut all = setting(state, "webhook_urls", Some(app)).await?.as_list();
    all.extend(
        setting(state, "default_webhook_urls", None)
            .await?
            .as_list(),
    );
    let mut seen = std::collections::HashSet::new();
    Ok(all
        .into_iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty() && seen.insert(u.clone()))
        .collect())
}

async fn deliver(
    state: &AppState,
    job: &Job,
    subject: &Subject,
    event: Transition,
) -> Result<(), JobError> {
    let want = job.payload.0["url_sha256"].as_str().unwrap_or_default();
    let Some(url) = urls(state, &subject.row.app)
        .await?
        .into_iter()
        .find(|u| url_id(u) == want)
    else {
        // Removed from the settings since the change: nobody to tell.
        return Ok(());
    };
    let url = callable(&url)?;
    let secret = state
        .config
        .integrations
        .webhook_secret
        .as_ref()
        .ok_or_else(|| {
            JobError::permanent("RGW_WEBHOOK_SECRET is not set, so webhooks cannot be signed")
        })?;
    let summary = Summary::build(state, subject).await?;
    let now = state.clock.now();
    let body = serde_json::to_vec(&webhook_body(
        event,
        &summary,
        subject.row.public_id,
        job.public_id,
        now,
    ))
    .map_err(|e| JobError::permanent(format!("webhook body: {e}")))?;
    let ts = now.unix_timestamp();
    let req = state
        .jobs
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-rgw-event", format!("deploy_approval.{}", event.as_str()))
        .header("x-rgw-delivery", job.public_id.to_string())
        .header(TIMESTAMP, ts.to_string())
        .header(
            SIGNATURE,
            sign(secret.expose_secret().as_bytes(), ts, &body),
        )
        .body(body);
    let reply = send(req, "webhook").await?;
    if !reply.status.is_success() {
        return Err(reply.error("webhook"));
    }
    Ok(())
}

impl Integration for Webhooks {
    fn handles(&self, kind: &str) -> bool {
        kind == DELIVER
    }

    fn plan<'a>(
        &'a self,
        state: &'a AppState,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<Vec<Planned>, JobError>> {
        Box::pin(async move {
            if event == Transition::Voted {
                return Ok(Vec::new());
            }
            Ok(urls(state, &subject.row.app)
                .await?
                .iter()
                .map(|u| {
                    let id = url_id(u);
                    Planned::new(
                        DELIVER,
                        subject,
                        event,
                        &format!(":{id}"),
                        json!({"url_sha256": id}),
                    )
                })
                .collect())
        })
    }

    fn run<'a>(
        &'a self,
        state: &'a AppState,
        job: &'a Job,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(deliver(state, job, subject, event))
    }
}
