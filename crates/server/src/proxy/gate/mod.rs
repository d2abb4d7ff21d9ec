//! The deploy gate: what an API token's deploy step needs besides its permission — a live
//! approval that targets it for the app, and a step the approval's chain allows
//! (`rgw_core::approval::DeployChain`). See PRODUCT.md §3–§6.
//!
//! A call binds to exactly one approval, by its artefact: an upload to the one live approval
//! with no upload yet (or the same upload), a build to the approval of its `git-sha`, a build
//! read to the approval that recorded the build, a promote or run to the approval whose build
//! produced the release, an exec or stop to the approval that started the process. When two
//! live approvals could take an upload the call is refused as ambiguous; approving a newer
//! request supersedes unused older ones, so this only happens when an older chain is under way.
//!
//! Steps that reach the rack with something new (upload, build, promote) are claimed in the
//! database before they are forwarded and confirmed or released when the rack answers, so
//! concurrent calls cannot both get through. Build create re-reads the uploaded tarball from
//! the rack and checks its manifest; promote re-reads the release's manifest — the exact text
//! that will run — and checks it again.

mod bind;
mod manifest;
mod release;
mod steps;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use rgw_core::RouteMatch;
use rgw_core::approval::DeployDenial;
use rgw_core::rbac::DeployAction;
use uuid::Uuid;

use super::forward::Failure;
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::principal::TokenPrincipal;

/// Why a gated call did not reach the rack (or reached it and failed).
pub enum GateError {
    /// The deploy chain refuses it: a policy decision, answered with its own 4xx.
    Denied(DeployDenial),
    /// Something failed (rack unreachable, malformed answer, settings unreadable).
    Failed(Failure),
}

impl From<DeployDenial> for GateError {
    fn from(d: DeployDenial) -> Self {
        GateError::Denied(d)
    }
}

impl From<Failure> for GateError {
    fn from(f: Failure) -> Self {
        GateError::Failed(f)
    }
}

impl GateError {
    fn failed(status: StatusCode, message: impl Into<String>) -> Self {
        GateError::Failed(Failure {
            status,
            message: message.into(),
        })
    }
}

impl From<crate::error::ApiError> for GateError {
    fn from(e: crate::error::ApiError) -> Self {
        let status = match e.status() {
            s if s.is_server_error() => StatusCode::SERVICE_UNAVAILABLE,
            s => s,
        };
        let message = match &e {
            crate::error::ApiError::Internal(err) => {
                tracing::error!(error = %format!("{err:#}"), "deploy gate failed");
                "the gateway could not check the deploy approval (see its log); refusing rather than guessing".to_owned()
            }
            other => other.to_string(),
        };
        GateError::failed(status, message)
    }
}

impl From<rgw_store::StoreError> for GateError {
    fn from(e: rgw_store::StoreError) -> Self {
        crate::error::ApiError::from(e).into()
    }
}

/// What the gate adds to the call's audit event.
#[derive(Debug, Default)]
pub struct GateTrail {
    /// The approval the call was bound to.
    pub approval: Option<Uuid>,
    /// The chain step it performed or tried.
    pub step: Option<&'static str>,
}

/// Everything a step needs.
pub(crate) struct Ctx<'a> {
    pub state: &'a AppState,
    pub principal: &'a Principal,
    pub token: &'a TokenPrincipal,
    pub app: &'a rgw_core::AppName,
    pub path: &'a str,
    pub is_upgrade: bool,
    pub json: bool,
}

/// One gated call as the proxy matched it.
pub struct Call<'a> {
    /// The matched route.
    pub matched: &'a RouteMatch,
    /// Its deploy action.
    pub action: DeployAction,
    /// The request.
    pub req: Request<Body>,
    /// The rack path.
    pub path: &'a str,
    /// A websocket upgrade.
    pub is_upgrade: bool,
    /// The caller accepts JSON errors.
    pub json: bool,
}

/// Runs a gated call: binds it to an approval, checks the chain, claims, forwards, records.
pub async fn run(
    state: &AppState,
    principal: &Principal,
    call: Call<'_>,
    trail: &mut GateTrail,
) -> Result<(Response<Body>, StatusCode), GateError> {
    let Call {
        matched,
        action,
        req,
        path,
        is_upgrade,
        json,
    } = call;
    let Principal::Token(token) = principal else {
        // Humans are never approval-gated (`rgw_core::rbac::decide`).
        return Err(GateError::failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a login session reached the deploy gate",
        ));
    };
    let Some(app) = matched.app() else {
        return Err(GateError::failed(
            StatusCode::NOT_FOUND,
            "a gated route without an app",
        ));
    };
    let ctx = Ctx {
        state,
        principal,
        token,
        app,
        path,
        is_upgrade,
        json,
    };
    trail.step = Some(step_name(action));
    match action {
        DeployAction::ObjectCreate => steps::upload(&ctx, matched, req, trail).await,
        DeployAction::BuildCreate => steps::build(&ctx, req, trail).await,
        DeployAction::BuildImport => Err(DeployDenial::ImportNotAllowed.into()),
        DeployAction::BuildRead | DeployAction::BuildLogs => {
            steps::build_read(&ctx, matched, req, trail).await
        }
        DeployAction::AppLogs => steps::app_logs(&ctx, req, trail).await,
        DeployAction::ReleasePromote => release::promote(&ctx, matched, req, trail).await,
        DeployAction::ProcessRun => release::run(&ctx, req, trail).await,
        DeployAction::ProcessExec | DeployAction::ProcessStop => {
            steps::process(&ctx, matched, action, req, trail).await
        }
        DeployAction::None | DeployAction::Forbidden(_) => Err(GateError::failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a route that is not an approval step reached the deploy gate",
        )),
    }
}

fn step_name(action: DeployAction) -> &'static str {
    match action {
        DeployAction::ObjectCreate => "object_upload",
        DeployAction::BuildCreate => "build_create",
        DeployAction::BuildImport => "build_import",
        DeployAction::BuildRead => "build_read",
        DeployAction::BuildLogs => "build_logs",
        DeployAction::AppLogs => "app_logs",
        DeployAction::ReleasePromote => "release_promote",
        DeployAction::ProcessRun => "process_run",
        DeployAction::ProcessExec => "process_exec",
        DeployAction::ProcessStop => "process_stop",
        DeployAction::None | DeployAction::Forbidden(_) => "none",
    }
}
