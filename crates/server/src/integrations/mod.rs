//! Outbound integrations around deploy approvals (PRODUCT.md §9): CircleCI auto-approval,
//! GitHub commit statuses and the PR comment, Slack and signed webhooks. Each provider is one
//! module implementing [`Integration`]: it plans the jobs a state change needs (from the app's
//! settings) and runs them. Adding a provider (Buildkite, GitHub Actions) is one new module and
//! one line in [`registry`]. GitHub's synchronous checks at request creation live in
//! [`github_verify`]; [`precheck`] is what `approvals::create` calls.

pub mod circleci;
pub mod github;
pub mod github_verify;
pub mod http;
pub mod message;
pub mod slack;
pub mod webhook;

use futures_util::future::BoxFuture;
use rgw_store::{DeployApproval, DeployApprovalRequest, Job};
use serde_json::Value;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
pub use crate::jobs::policy::JobError;
pub use crate::jobs::transition::Transition;

/// A request and what notifications need to say about it.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The request row.
    pub row: DeployApprovalRequest,
    /// Its approvals so far.
    pub approvals: Vec<DeployApproval>,
    /// Who asked: a user's email or a token's name.
    pub requester: String,
}

impl Subject {
    /// Loads request `public_id` with its approvals and requester.
    ///
    /// # Errors
    /// Permanent when the request is gone; retry on database errors.
    pub async fn load(state: &AppState, public_id: Uuid) -> Result<Subject, JobError> {
        let row = state.store.get_request_by_public_id(public_id).await?;
        let approvals = state.store.list_approvals(row.id).await?;
        let requester = match (row.created_by_user_id, row.created_by_api_token_id) {
            (Some(u), _) => state.store.get_user(u).await?.email,
            (None, Some(t)) => format!("API token {}", state.store.get_api_token(t).await?.name),
            (None, None) => "unknown".into(),
        };
        Ok(Subject {
            row,
            approvals,
            requester,
        })
    }
}

/// A job an integration wants for a state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Job kind (one the integration [`handles`](Integration::handles)).
    pub kind: &'static str,
    /// Idempotency key: the same change never enqueues the same job twice.
    pub key: String,
    /// Payload: `request_id`, `event` and provider ids; never a secret.
    pub payload: Value,
}

impl Planned {
    /// A job for `subject`'s `event` whose payload is the request and the event plus `extra`.
    pub fn new(
        kind: &'static str,
        subject: &Subject,
        event: Transition,
        suffix: &str,
        extra: Value,
    ) -> Planned {
        let mut payload = serde_json::json!({
            "request_id": subject.row.public_id,
            "event": event,
        });
        if let (Some(p), Value::Object(e)) = (payload.as_object_mut(), extra) {
            p.extend(e);
        }
        Planned {
            kind,
            key: format!(
                "{kind}:{}:{}{suffix}",
                subject.row.public_id,
                event.as_str()
            ),
            payload,
        }
    }
}

/// One outbound provider.
pub trait Integration: Send + Sync {
    /// Whether this integration runs jobs of `kind`.
    fn handles(&self, kind: &str) -> bool;

    /// The jobs `event` on `subject` needs (none when the app does not use this provider).
    fn plan<'a>(
        &'a self,
        state: &'a AppState,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<Vec<Planned>, JobError>>;

    /// Runs one of its jobs. Must be safe to run again after a crash (idempotent effects).
    fn run<'a>(
        &'a self,
        state: &'a AppState,
        job: &'a Job,
        subject: &'a Subject,
        event: Transition,
    ) -> BoxFuture<'a, Result<(), JobError>>;
}

/// Every integration, in the order their jobs are enqueued.
pub fn registry() -> &'static [&'static dyn Integration] {
    &[
        &circleci::CircleCi,
        &github::GitHub,
        &slack::Slack,
        &webhook::Webhooks,
    ]
}

/// The checks that decide whether a request may be created: GitHub commit/branch/PR
/// verification (returns the PR URL to store) and CircleCI metadata for auto-approval.
///
/// # Errors
/// 422 for what the caller can fix, 503 when GitHub cannot be asked or is misconfigured.
pub async fn precheck(
    state: &AppState,
    req: &rgw_core::wire::CreateDeployApprovalRequest,
) -> Result<Option<String>, ApiError> {
    circleci::precheck(state, req).await?;
    github_verify::verify(state, req).await
}

/// A setting read for a job: an unreadable value is worth a retry (the database is down).
pub(crate) async fn setting(
    state: &AppState,
    key: &str,
    app: Option<&str>,
) -> Result<rgw_core::settings::Resolved, JobError> {
    crate::settings::resolve(state, key, app)
        .await
        .map_err(|e| JobError::retry(format!("reading setting {key}: {e}")))
}
