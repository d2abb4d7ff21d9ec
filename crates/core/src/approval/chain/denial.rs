//! [`DeployDenial`]: why a gated deploy step was refused. Messages follow PRODUCT.md §4 and
//! are printed verbatim by the `convox` CLI, so each one says what to do next.

use std::fmt;

use time::OffsetDateTime;

use crate::approval::lifecycle::ApprovalStatus;
use crate::ids::{AppName, GitSha, RequestId};
use crate::wire::rfc3339;

/// A refused deploy step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployDenial {
    /// No live approval targets this caller for the app (and commit, when known).
    #[error("deploy approval required for {}app {app}; request one with `rack-gateway deploy-approval request` and wait for approval", commit.as_ref().map(|c| format!("commit {c} on ")).unwrap_or_default())]
    ApprovalRequired {
        /// The app.
        app: AppName,
        /// The commit, when the call names one.
        commit: Option<GitSha>,
    },
    /// The approval's window has passed.
    #[error("deploy approval {id} expired at {}; request a new approval", rfc3339(*at))]
    Expired {
        /// The request.
        id: RequestId,
        /// When it expired.
        at: OffsetDateTime,
    },
    /// The request is not approved (pending, rejected or already deployed).
    #[error("deploy approval {id} is {status}, not approved{}", match status { ApprovalStatus::Pending => "; an admin must approve it first", ApprovalStatus::Deployed => "; it has already been used for a deploy, request a new approval", _ => "; request a new approval" })]
    NotApproved {
        /// The request.
        id: RequestId,
        /// Its status.
        status: ApprovalStatus,
    },
    /// The call addresses another app.
    #[error("deploy approval {id} is for app {approved}, not {requested}")]
    WrongApp {
        /// The request.
        id: RequestId,
        /// The approved app.
        approved: AppName,
        /// The app in the call.
        requested: AppName,
    },
    /// A build create without `git-sha`.
    #[error(
        "build create under deploy approval {id} must send git-sha (the approved commit {commit}); run convox deploy from the git checkout of that commit"
    )]
    CommitRequired {
        /// The request.
        id: RequestId,
        /// The approved commit.
        commit: GitSha,
    },
    /// The build's git-sha is not the approved commit.
    #[error(
        "git-sha {supplied} does not match the approved commit {approved} of deploy approval {id}"
    )]
    CommitMismatch {
        /// The request.
        id: RequestId,
        /// The approved commit.
        approved: GitSha,
        /// What the call sent.
        supplied: String,
    },
    /// The manifest (in the tarball, or the release's) breaks the image rules.
    #[error("deploy approval {id}: {reason}")]
    ManifestRejected {
        /// The request.
        id: RequestId,
        /// What is wrong with the manifest.
        reason: String,
    },
    /// Build import skips the commit and manifest checks.
    #[error(
        "build import is not allowed under deploy approvals: it carries no commit and no manifest the gateway can check; deploy with `convox deploy` (object upload, then a build with git-sha)"
    )]
    ImportNotAllowed,
    /// An earlier step has not happened yet.
    #[error("deploy approval {id}: {step} is not possible yet: {hint}")]
    OutOfOrder {
        /// The request.
        id: RequestId,
        /// The refused step.
        step: Step,
        /// What to do first.
        hint: &'static str,
    },
    /// Another call holds a claim on a step of this approval.
    #[error(
        "deploy approval {id}: a {step} under this approval is in progress; wait for it to finish and retry"
    )]
    InProgress {
        /// The request.
        id: RequestId,
        /// The step in progress.
        step: Step,
    },
    /// The step already happened with this approval.
    #[error(
        "deploy approval {id} already completed {step} ({recorded}); a new deploy needs a new approval"
    )]
    AlreadyDone {
        /// The request.
        id: RequestId,
        /// The refused step.
        step: Step,
        /// The artefact recorded.
        recorded: String,
    },
    /// A different artefact from the recorded one.
    #[error(
        "deploy approval {id} is bound to {recorded}, not {attempted}; a different {step} needs a new approval"
    )]
    DifferentArtefact {
        /// The request.
        id: RequestId,
        /// The refused step.
        step: Step,
        /// The artefact recorded.
        recorded: String,
        /// The artefact in the call.
        attempted: String,
    },
    /// Several live approvals could take this call.
    #[error(
        "{count} live deploy approvals for app {app} target this token and none is named by the call; reject or let all but one expire"
    )]
    Ambiguous {
        /// The app.
        app: AppName,
        /// How many.
        count: usize,
    },
    /// A command outside `approved_deploy_commands`.
    #[error(
        "command not approved for app {app}: {command:?}; add it to the app setting approved_deploy_commands"
    )]
    CommandNotApproved {
        /// The app.
        app: AppName,
        /// The normalised command.
        command: String,
    },
    /// A process not started under this approval.
    #[error("process {pid} was not started under deploy approval {id}")]
    UnknownProcess {
        /// The request.
        id: RequestId,
        /// The pid.
        pid: String,
    },
    /// A run header that would run unapproved code.
    #[error("the {header} header is not allowed for API tokens")]
    ForbiddenRunHeader {
        /// The header name as sent.
        header: String,
    },
}

impl DeployDenial {
    /// A stable snake_case code.
    pub const fn code(&self) -> &'static str {
        match self {
            DeployDenial::ApprovalRequired { .. } => "deploy_approval_required",
            DeployDenial::Expired { .. } => "deploy_approval_expired",
            DeployDenial::NotApproved { .. } => "deploy_approval_not_approved",
            DeployDenial::WrongApp { .. } => "deploy_approval_wrong_app",
            DeployDenial::CommitRequired { .. } => "git_sha_required",
            DeployDenial::CommitMismatch { .. } => "commit_mismatch",
            DeployDenial::ManifestRejected { .. } => "manifest_rejected",
            DeployDenial::ImportNotAllowed => "build_import_not_allowed",
            DeployDenial::OutOfOrder { .. } => "deploy_step_out_of_order",
            DeployDenial::InProgress { .. } => "deploy_step_in_progress",
            DeployDenial::AlreadyDone { .. } => "deploy_step_already_done",
            DeployDenial::DifferentArtefact { .. } => "deploy_artefact_mismatch",
            DeployDenial::Ambiguous { .. } => "deploy_approval_ambiguous",
            DeployDenial::CommandNotApproved { .. } => "command_not_approved",
            DeployDenial::UnknownProcess { .. } => "unknown_process",
            DeployDenial::ForbiddenRunHeader { .. } => "forbidden_run_header",
        }
    }

    /// The HTTP status: 403 when no approval allows it, 409 when the chain's state conflicts,
    /// 422 when the content (commit, manifest) does not match the approval.
    pub const fn status(&self) -> u16 {
        match self {
            DeployDenial::ApprovalRequired { .. }
            | DeployDenial::Expired { .. }
            | DeployDenial::NotApproved { .. }
            | DeployDenial::WrongApp { .. }
            | DeployDenial::ImportNotAllowed
            | DeployDenial::CommandNotApproved { .. }
            | DeployDenial::UnknownProcess { .. }
            | DeployDenial::ForbiddenRunHeader { .. } => 403,
            DeployDenial::OutOfOrder { .. }
            | DeployDenial::InProgress { .. }
            | DeployDenial::AlreadyDone { .. }
            | DeployDenial::DifferentArtefact { .. }
            | DeployDenial::Ambiguous { .. } => 409,
            DeployDenial::CommitRequired { .. }
            | DeployDenial::CommitMismatch { .. }
            | DeployDenial::ManifestRejected { .. } => 422,
        }
    }
}

/// The kind of chain step, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Object upload.
    ObjectUpload,
    /// Build create or import.
    Build,
    /// Reading the approved build.
    BuildRead,
    /// The release of the build.
    Release,
    /// Promote.
    Promote,
    /// One-off process.
    Process,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ObjectUpload => "object upload",
            Step::Build => "build",
            Step::BuildRead => "build read",
            Step::Release => "release",
            Step::Promote => "release promote",
            Step::Process => "process",
        })
    }
}
