//! The deploy chain one approval unlocks: object upload → build create → release promote, each
//! once, in order, for the approved app and commit (PRODUCT.md §3, §4, §6).
//!
//! - Retrying a step with the *same* artefact is allowed while the approval is live (the rack
//!   call may have failed); a *different* artefact, a step out of order or a step already done
//!   is refused with a message that says what to do.
//! - A build the rack accepted and then **failed** may be replaced by a new build while the
//!   approval is live; any other second build is refused.
//! - The server *claims* a step in the database before it forwards the call ([`ClaimedStep`])
//!   and confirms or releases the claim when the rack answers, so two concurrent uploads or
//!   builds can never both reach the rack. While a claim is held every other chain step of that
//!   approval is refused with "in progress".
//! - Build import is refused under approvals: it carries no commit and no manifest to check.
//!
//! Which approval a call binds to is decided by its artefact (PRODUCT.md §3): an upload binds
//! to the one live approval of its token and app that has no upload yet (ambiguity is refused),
//! a build to the approval of its `git-sha`, a build read to the approval that recorded the
//! build, a promote or run to the approval whose build produced the release, an exec or stop to
//! the approval that started the process.

mod check;
mod denial;

use time::OffsetDateTime;

use super::lifecycle::ApprovalStatus;
use crate::ids::{AppName, BuildId, GitSha, ObjectKey, ReleaseId, RequestId};

pub use check::claim_for;
pub use denial::{DeployDenial, Step};

/// Run headers that would run code, mounts or config that were never approved; refused for
/// API tokens. (`Environment` is included: it can redirect what the approved code runs
/// against.) `Release` is allowed for tokens but must name the approved release.
pub const FORBIDDEN_RUN_HEADERS: &[&str] = &["Image", "Privileged", "Volumes", "Environment"];

/// Run headers only admins may send (PRODUCT.md §4; issue: ops users ran any image,
/// privileged, with host mounts). Every one that is used is recorded in the audit event.
pub const PRIVILEGED_RUN_HEADERS: &[&str] =
    &["Image", "Privileged", "Volumes", "Environment", "Release"];

/// A chain step claimed by a call that has not finished yet (stored names `object`, `build`,
/// `promote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimedStep {
    /// An object upload is being forwarded.
    Object,
    /// A build create is being checked and forwarded.
    Build,
    /// A promote is being checked and forwarded.
    Promote,
}

impl ClaimedStep {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClaimedStep::Object => "object",
            ClaimedStep::Build => "build",
            ClaimedStep::Promote => "promote",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ClaimedStep::Object,
            ClaimedStep::Build,
            ClaimedStep::Promote,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    fn step(self) -> Step {
        match self {
            ClaimedStep::Object => Step::ObjectUpload,
            ClaimedStep::Build => Step::Build,
            ClaimedStep::Promote => Step::Promote,
        }
    }
}

/// The state of one approval, as the chain check needs it.
#[derive(Debug, Clone, Copy)]
pub struct DeployChain<'a> {
    /// The request's public id.
    pub id: RequestId,
    /// The approved app.
    pub app: &'a AppName,
    /// The approved commit.
    pub commit: &'a GitSha,
    /// Current status.
    pub status: ApprovalStatus,
    /// When the approval lapses.
    pub approval_expires_at: Option<OffsetDateTime>,
    /// Recorded object URL (`object://app/key`).
    pub object_url: Option<&'a str>,
    /// Recorded build.
    pub build_id: Option<&'a BuildId>,
    /// Recorded release (from the build once it completes).
    pub release_id: Option<&'a ReleaseId>,
    /// A step another call has claimed and not finished.
    pub claim: Option<ClaimedStep>,
    /// The rack reports the recorded build as `failed` (the server asks it before a rebuild).
    pub recorded_build_failed: bool,
    /// Processes started under this approval.
    pub process_ids: &'a [String],
    /// The app's `approved_deploy_commands` (empty = none allowed).
    pub approved_commands: &'a [String],
}

/// A gated call, with what the proxy knows of it.
#[derive(Debug, Clone, Copy)]
pub enum ChainStep<'a> {
    /// `POST /apps/{app}/objects/{key}`.
    ObjectUpload {
        /// App in the path.
        app: &'a AppName,
        /// Key in the path.
        key: &'a ObjectKey,
    },
    /// `POST /apps/{app}/builds` with form fields `url` and `git-sha`.
    BuildCreate {
        /// App in the path.
        app: &'a AppName,
        /// The `url` form field.
        url: Option<&'a str>,
        /// The `git-sha` form field as sent.
        git_sha: Option<&'a str>,
    },
    /// `POST /apps/{app}/builds/import`.
    BuildImport {
        /// App in the path.
        app: &'a AppName,
    },
    /// `GET builds/{id}` or the build log socket.
    BuildRead {
        /// App in the path.
        app: &'a AppName,
        /// Build in the path.
        build: &'a BuildId,
    },
    /// The app log socket (`convox deploy` follows it while the promote rolls out).
    AppLogs {
        /// App in the path.
        app: &'a AppName,
    },
    /// Recording the release a completed build produced (from its `release` field).
    RecordRelease {
        /// The build read.
        build: &'a BuildId,
        /// Its release.
        release: &'a ReleaseId,
    },
    /// `POST releases/{id}/promote`.
    ReleasePromote {
        /// App in the path.
        app: &'a AppName,
        /// Release in the path.
        release: &'a ReleaseId,
    },
    /// `POST services/{service}/processes`.
    ProcessRun {
        /// App in the path.
        app: &'a AppName,
        /// The `Release` header.
        release: Option<&'a str>,
        /// The `Command` header.
        command: Option<&'a str>,
    },
    /// Exec socket `processes/{pid}/exec`.
    ProcessExec {
        /// App in the path.
        app: &'a AppName,
        /// Pid in the path.
        pid: &'a str,
        /// The `Command` header.
        command: Option<&'a str>,
    },
    /// `DELETE processes/{pid}`.
    ProcessStop {
        /// App in the path.
        app: &'a AppName,
        /// Pid in the path.
        pid: &'a str,
    },
}

/// The check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainOutcome {
    /// First time: claim (where the step is claimed), forward, then record the artefact.
    Proceed,
    /// The same artefact is already recorded: forward again, nothing new to record.
    Retry,
}

/// Collapses runs of whitespace to one space and trims (PRODUCT.md §6 matching).
pub fn normalize_command(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Refuses [`FORBIDDEN_RUN_HEADERS`] (case-insensitive) among the request's header names.
pub fn check_run_headers<'h>(names: impl IntoIterator<Item = &'h str>) -> Result<(), DeployDenial> {
    for name in names {
        if FORBIDDEN_RUN_HEADERS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
        {
            return Err(DeployDenial::ForbiddenRunHeader {
                header: name.to_owned(),
            });
        }
    }
    Ok(())
}

/// The [`PRIVILEGED_RUN_HEADERS`] among `names`, in their canonical spelling, for audit and
/// for refusing them to non-admins.
pub fn privileged_run_headers<'h>(names: impl IntoIterator<Item = &'h str>) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = names
        .into_iter()
        .filter_map(|n| {
            PRIVILEGED_RUN_HEADERS
                .iter()
                .copied()
                .find(|p| p.eq_ignore_ascii_case(n))
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(test)]
mod tests;
