//! The deploy chain one approval unlocks: object upload → build create (or build import) →
//! release promote, each once, in order, for the approved app and commit (PRODUCT.md §3, §4, §6).
//!
//! Retrying a step with the *same* artefact is allowed while the approval is live (the rack
//! call may have failed); a *different* artefact, a step out of order or a step already
//! completed is refused with a message that says what to do. The server records each
//! artefact after the rack answers 2xx, in a guarded write (the database enforces "set once").

use std::fmt;

use time::OffsetDateTime;

use super::lifecycle::ApprovalStatus;
use crate::ids::{AppName, BuildId, GitSha, ObjectKey, ReleaseId, RequestId};
use crate::wire::rfc3339;

/// Run headers that would run code or mounts that were never approved; refused for
/// approval-gated callers. (`Environment` is included: it can redirect what the approved code
/// runs against.)
pub const FORBIDDEN_RUN_HEADERS: &[&str] = &["Image", "Privileged", "Volumes", "Environment"];

/// The state of one live approval, as the chain check needs it.
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
    /// `POST /apps/{app}/builds` with form fields `url` and optional `git-sha`.
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
    /// First time: forward, then record the artefact on a 2xx.
    Proceed,
    /// The same artefact is already recorded: forward, nothing new to record.
    Retry,
}

/// A refused deploy step. Messages follow PRODUCT.md §4 and are shown by the `convox` CLI.
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
    #[error("the {header} header is not allowed for tokens that deploy with approval")]
    ForbiddenRunHeader {
        /// The header name as sent.
        header: String,
    },
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

/// `convox run` (attached) first starts `sleep <seconds>` and then execs the real command, so
/// a bare sleep is accepted for a *run*; the exec is then checked against the list.
fn is_attach_placeholder(command: &str) -> bool {
    command
        .strip_prefix("sleep ")
        .is_some_and(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl DeployChain<'_> {
    /// Checks one gated call against this approval at `now`.
    pub fn check(
        &self,
        step: &ChainStep<'_>,
        now: OffsetDateTime,
    ) -> Result<ChainOutcome, DeployDenial> {
        self.check_live(now)?;
        if let Some(app) = step_app(step)
            && app != self.app
        {
            return Err(DeployDenial::WrongApp {
                id: self.id,
                approved: self.app.clone(),
                requested: app.clone(),
            });
        }
        let id = self.id;
        match *step {
            ChainStep::ObjectUpload { app, key } => {
                let url = key.object_url(app);
                match self.object_url {
                    None => Ok(ChainOutcome::Proceed),
                    Some(rec) if rec == url && self.build_id.is_none() => Ok(ChainOutcome::Retry),
                    Some(rec) if rec == url => Err(DeployDenial::AlreadyDone {
                        id,
                        step: Step::ObjectUpload,
                        recorded: rec.to_owned(),
                    }),
                    Some(rec) => Err(DeployDenial::DifferentArtefact {
                        id,
                        step: Step::ObjectUpload,
                        recorded: rec.to_owned(),
                        attempted: url,
                    }),
                }
            }
            ChainStep::BuildCreate { url, git_sha, .. } => {
                if let Some(sent) = git_sha
                    && GitSha::parse(sent).ok().as_ref() != Some(self.commit)
                {
                    return Err(DeployDenial::CommitMismatch {
                        id,
                        approved: self.commit.clone(),
                        supplied: sent.chars().take(64).collect(),
                    });
                }
                let Some(rec) = self.object_url else {
                    return Err(DeployDenial::OutOfOrder {
                        id,
                        step: Step::Build,
                        hint: "upload the source archive (object upload) under this approval first",
                    });
                };
                if url != Some(rec) {
                    return Err(DeployDenial::DifferentArtefact {
                        id,
                        step: Step::Build,
                        recorded: rec.to_owned(),
                        attempted: url.unwrap_or("(no url)").chars().take(200).collect(),
                    });
                }
                self.build_not_done()
            }
            ChainStep::BuildImport { .. } => {
                if let Some(rec) = self.object_url {
                    return Err(DeployDenial::AlreadyDone {
                        id,
                        step: Step::ObjectUpload,
                        recorded: format!(
                            "{rec}; create the build from it with POST /apps/{}/builds",
                            self.app
                        ),
                    });
                }
                self.build_not_done()
            }
            ChainStep::BuildRead { build, .. } => match self.build_id {
                Some(rec) if rec == build => Ok(ChainOutcome::Proceed),
                Some(rec) => Err(DeployDenial::DifferentArtefact {
                    id,
                    step: Step::BuildRead,
                    recorded: format!("build {rec}"),
                    attempted: format!("build {build}"),
                }),
                None => Err(DeployDenial::OutOfOrder {
                    id,
                    step: Step::BuildRead,
                    hint: "no build has been created under this approval",
                }),
            },
            ChainStep::RecordRelease { build, release } => {
                if self.build_id != Some(build) {
                    return Err(DeployDenial::DifferentArtefact {
                        id,
                        step: Step::Release,
                        recorded: self
                            .build_id
                            .map_or("no build".into(), |b| format!("build {b}")),
                        attempted: format!("build {build}"),
                    });
                }
                match self.release_id {
                    None => Ok(ChainOutcome::Proceed),
                    Some(rec) if rec == release => Ok(ChainOutcome::Retry),
                    Some(rec) => Err(DeployDenial::DifferentArtefact {
                        id,
                        step: Step::Release,
                        recorded: format!("release {rec}"),
                        attempted: format!("release {release}"),
                    }),
                }
            }
            ChainStep::ReleasePromote { release, .. } => match self.release_id {
                Some(rec) if rec == release => Ok(ChainOutcome::Proceed),
                Some(rec) => Err(DeployDenial::DifferentArtefact {
                    id,
                    step: Step::Promote,
                    recorded: format!("release {rec}"),
                    attempted: format!("release {release}"),
                }),
                None => Err(DeployDenial::OutOfOrder {
                    id,
                    step: Step::Promote,
                    hint: "the approved build has not produced a release yet; wait for the build to complete",
                }),
            },
            ChainStep::ProcessRun {
                app,
                release,
                command,
            } => {
                let Some(rec) = self.release_id else {
                    return Err(DeployDenial::OutOfOrder {
                        id,
                        step: Step::Process,
                        hint: "one-off processes run on the approved release; wait for the build to complete",
                    });
                };
                if release != Some(rec.as_str()) {
                    return Err(DeployDenial::DifferentArtefact {
                        id,
                        step: Step::Process,
                        recorded: format!("release {rec}"),
                        attempted: release
                            .map_or("the app's current release (pass --release)".into(), |r| {
                                format!("release {}", r.chars().take(40).collect::<String>())
                            }),
                    });
                }
                let cmd = normalize_command(command.unwrap_or(""));
                if is_attach_placeholder(&cmd) {
                    return Ok(ChainOutcome::Proceed);
                }
                self.command_allowed(app, cmd)
            }
            ChainStep::ProcessExec { app, pid, command } => {
                self.known_process(pid)?;
                self.command_allowed(app, normalize_command(command.unwrap_or("")))
            }
            ChainStep::ProcessStop { pid, .. } => self.known_process(pid),
        }
    }

    fn check_live(&self, now: OffsetDateTime) -> Result<(), DeployDenial> {
        match (self.status, self.approval_expires_at) {
            (ApprovalStatus::Approved, Some(at)) if now < at => Ok(()),
            (ApprovalStatus::Approved | ApprovalStatus::Expired, Some(at)) => {
                Err(DeployDenial::Expired { id: self.id, at })
            }
            (status, _) => Err(DeployDenial::NotApproved {
                id: self.id,
                status,
            }),
        }
    }

    fn build_not_done(&self) -> Result<ChainOutcome, DeployDenial> {
        match self.build_id {
            None => Ok(ChainOutcome::Proceed),
            Some(b) => Err(DeployDenial::AlreadyDone {
                id: self.id,
                step: Step::Build,
                recorded: format!("build {b}"),
            }),
        }
    }

    fn known_process(&self, pid: &str) -> Result<ChainOutcome, DeployDenial> {
        if self.process_ids.iter().any(|p| p == pid) {
            Ok(ChainOutcome::Proceed)
        } else {
            Err(DeployDenial::UnknownProcess {
                id: self.id,
                pid: pid.chars().take(80).collect(),
            })
        }
    }

    fn command_allowed(&self, app: &AppName, cmd: String) -> Result<ChainOutcome, DeployDenial> {
        let ok = !cmd.is_empty()
            && self
                .approved_commands
                .iter()
                .any(|allowed| normalize_command(allowed) == cmd);
        if ok {
            Ok(ChainOutcome::Proceed)
        } else {
            Err(DeployDenial::CommandNotApproved {
                app: app.clone(),
                command: cmd.chars().take(200).collect(),
            })
        }
    }
}

fn step_app<'a>(step: &ChainStep<'a>) -> Option<&'a AppName> {
    match *step {
        ChainStep::ObjectUpload { app, .. }
        | ChainStep::BuildCreate { app, .. }
        | ChainStep::BuildImport { app }
        | ChainStep::BuildRead { app, .. }
        | ChainStep::ReleasePromote { app, .. }
        | ChainStep::ProcessRun { app, .. }
        | ChainStep::ProcessExec { app, .. }
        | ChainStep::ProcessStop { app, .. } => Some(app),
        ChainStep::RecordRelease { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-05-01 12:00:00 UTC);
    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    struct Fx {
        app: AppName,
        other: AppName,
        sha: GitSha,
        key: ObjectKey,
        key2: ObjectKey,
        build: BuildId,
        build2: BuildId,
        release: ReleaseId,
        release2: ReleaseId,
        pids: Vec<String>,
        cmds: Vec<String>,
    }

    fn fx() -> Fx {
        Fx {
            app: AppName::parse("myapp").unwrap(),
            other: AppName::parse("other").unwrap(),
            sha: GitSha::parse(SHA).unwrap(),
            key: ObjectKey::parse("tmp/a.tgz").unwrap(),
            key2: ObjectKey::parse("tmp/b.tgz").unwrap(),
            build: BuildId::parse("BAAAAAAAAAA").unwrap(),
            build2: BuildId::parse("BBBBBBBBBBB").unwrap(),
            release: ReleaseId::parse("RAAAAAAAAAA").unwrap(),
            release2: ReleaseId::parse("RBBBBBBBBBB").unwrap(),
            pids: vec!["web-1".into()],
            cmds: vec!["bin/rails   db:migrate".into()],
        }
    }

    fn id() -> RequestId {
        RequestId::parse("123e4567-e89b-12d3-a456-426614174000").unwrap()
    }

    /// Chain at a given stage: 0 = approved, 1 = object, 2 = build, 3 = release.
    fn chain(f: &Fx, stage: u8) -> DeployChain<'_> {
        DeployChain {
            id: id(),
            app: &f.app,
            commit: &f.sha,
            status: ApprovalStatus::Approved,
            approval_expires_at: Some(NOW + Duration::minutes(15)),
            object_url: (stage >= 1).then_some("object://myapp/tmp/a.tgz"),
            build_id: (stage >= 2).then_some(&f.build),
            release_id: (stage >= 3).then_some(&f.release),
            process_ids: &f.pids,
            approved_commands: &f.cmds,
        }
    }

    #[rstest]
    #[case::upload_first(0, "upload", Ok(ChainOutcome::Proceed))]
    #[case::upload_retry_same(1, "upload", Ok(ChainOutcome::Retry))]
    #[case::upload_different(
        1,
        "upload2",
        Err("is bound to object://myapp/tmp/a.tgz, not object://myapp/tmp/b.tgz")
    )]
    #[case::upload_after_build(2, "upload", Err("already completed object upload"))]
    #[case::build_before_upload(0, "build", Err("upload the source archive"))]
    #[case::build_after_upload(1, "build", Ok(ChainOutcome::Proceed))]
    #[case::build_twice(2, "build", Err("already completed build (build BAAAAAAAAAA)"))]
    #[case::build_other_object(1, "build-other-url", Err("is bound to object://myapp/tmp/a.tgz"))]
    #[case::build_wrong_sha(1, "build-wrong-sha", Err("does not match the approved commit"))]
    #[case::import_first(0, "import", Ok(ChainOutcome::Proceed))]
    #[case::import_after_upload(1, "import", Err("already completed object upload"))]
    #[case::read_build(2, "read", Ok(ChainOutcome::Proceed))]
    #[case::read_other_build(
        2,
        "read2",
        Err("is bound to build BAAAAAAAAAA, not build BBBBBBBBBBB")
    )]
    #[case::read_before_build(1, "read", Err("no build has been created"))]
    #[case::record_release(2, "record", Ok(ChainOutcome::Proceed))]
    #[case::record_release_again(3, "record", Ok(ChainOutcome::Retry))]
    #[case::record_other_release(3, "record2", Err("is bound to release RAAAAAAAAAA"))]
    #[case::promote_before_release(2, "promote", Err("has not produced a release yet"))]
    #[case::promote(3, "promote", Ok(ChainOutcome::Proceed))]
    #[case::promote_other(3, "promote2", Err("a different release promote needs a new approval"))]
    #[case::run_allowed(3, "run", Ok(ChainOutcome::Proceed))]
    #[case::run_sleep(3, "run-sleep", Ok(ChainOutcome::Proceed))]
    #[case::run_not_allowed(3, "run-bad", Err("command not approved for app myapp: \"rm -rf /\""))]
    #[case::run_without_release(
        3,
        "run-no-release",
        Err("the app's current release (pass --release)")
    )]
    #[case::exec_allowed(3, "exec", Ok(ChainOutcome::Proceed))]
    #[case::exec_sleep_refused(3, "exec-sleep", Err("command not approved"))]
    #[case::exec_unknown_pid(
        3,
        "exec-other-pid",
        Err("process web-2 was not started under deploy approval")
    )]
    #[case::stop_known(3, "stop", Ok(ChainOutcome::Proceed))]
    #[case::other_app(3, "other-app", Err("is for app myapp, not other"))]
    fn chain_steps_run_once_in_order(
        #[case] stage: u8,
        #[case] call: &str,
        #[case] want: Result<ChainOutcome, &str>,
    ) {
        let f = fx();
        let c = chain(&f, stage);
        let step = match call {
            "upload" => ChainStep::ObjectUpload {
                app: &f.app,
                key: &f.key,
            },
            "upload2" => ChainStep::ObjectUpload {
                app: &f.app,
                key: &f.key2,
            },
            "build" => ChainStep::BuildCreate {
                app: &f.app,
                url: Some("object://myapp/tmp/a.tgz"),
                git_sha: Some(SHA),
            },
            "build-other-url" => ChainStep::BuildCreate {
                app: &f.app,
                url: Some("object://myapp/tmp/b.tgz"),
                git_sha: None,
            },
            "build-wrong-sha" => ChainStep::BuildCreate {
                app: &f.app,
                url: Some("object://myapp/tmp/a.tgz"),
                git_sha: Some("abc123f"),
            },
            "import" => ChainStep::BuildImport { app: &f.app },
            "read" => ChainStep::BuildRead {
                app: &f.app,
                build: &f.build,
            },
            "read2" => ChainStep::BuildRead {
                app: &f.app,
                build: &f.build2,
            },
            "record" => ChainStep::RecordRelease {
                build: &f.build,
                release: &f.release,
            },
            "record2" => ChainStep::RecordRelease {
                build: &f.build,
                release: &f.release2,
            },
            "promote" => ChainStep::ReleasePromote {
                app: &f.app,
                release: &f.release,
            },
            "promote2" => ChainStep::ReleasePromote {
                app: &f.app,
                release: &f.release2,
            },
            "run" => ChainStep::ProcessRun {
                app: &f.app,
                release: Some("RAAAAAAAAAA"),
                command: Some(" bin/rails db:migrate "),
            },
            "run-sleep" => ChainStep::ProcessRun {
                app: &f.app,
                release: Some("RAAAAAAAAAA"),
                command: Some("sleep 3600"),
            },
            "run-bad" => ChainStep::ProcessRun {
                app: &f.app,
                release: Some("RAAAAAAAAAA"),
                command: Some("rm -rf /"),
            },
            "run-no-release" => ChainStep::ProcessRun {
                app: &f.app,
                release: None,
                command: Some("bin/rails db:migrate"),
            },
            "exec" => ChainStep::ProcessExec {
                app: &f.app,
                pid: "web-1",
                command: Some("bin/rails db:migrate"),
            },
            "exec-sleep" => ChainStep::ProcessExec {
                app: &f.app,
                pid: "web-1",
                command: Some("sleep 10"),
            },
            "exec-other-pid" => ChainStep::ProcessExec {
                app: &f.app,
                pid: "web-2",
                command: Some("bin/rails db:migrate"),
            },
            "stop" => ChainStep::ProcessStop {
                app: &f.app,
                pid: "web-1",
            },
            "other-app" => ChainStep::BuildImport { app: &f.other },
            other => panic!("unknown call {other}"),
        };
        match (c.check(&step, NOW), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(
                got.to_string().contains(want),
                "{got} should contain {want:?}"
            ),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn an_expired_approval_names_its_id_and_time() {
        let f = fx();
        let c = chain(&f, 3);
        let err = c
            .check(
                &ChainStep::ReleasePromote {
                    app: &f.app,
                    release: &f.release,
                },
                NOW + Duration::minutes(15),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "deploy approval 123e4567-e89b-12d3-a456-426614174000 expired at 2026-05-01T12:15:00Z; request a new approval"
        );
    }

    #[rstest]
    #[case(
        ApprovalStatus::Pending,
        "is pending, not approved; an admin must approve it first"
    )]
    #[case(ApprovalStatus::Rejected, "is rejected, not approved")]
    #[case(ApprovalStatus::Deployed, "already been used for a deploy")]
    fn only_approved_requests_unlock_steps(#[case] status: ApprovalStatus, #[case] msg: &str) {
        let f = fx();
        let c = DeployChain {
            status,
            ..chain(&f, 0)
        };
        let err = c
            .check(
                &ChainStep::ObjectUpload {
                    app: &f.app,
                    key: &f.key,
                },
                NOW,
            )
            .unwrap_err();
        assert!(err.to_string().contains(msg), "{err}");
    }

    #[test]
    fn the_approval_required_message_matches_the_spec() {
        let f = fx();
        let err = DeployDenial::ApprovalRequired {
            app: f.app.clone(),
            commit: Some(f.sha.clone()),
        };
        assert!(err.to_string().starts_with(&format!(
            "deploy approval required for commit {SHA} on app myapp"
        )));
        let err = DeployDenial::ApprovalRequired {
            app: f.app,
            commit: None,
        };
        assert!(
            err.to_string()
                .starts_with("deploy approval required for app myapp;"),
            "{err}"
        );
    }

    #[test]
    fn image_and_privileged_run_headers_are_refused() {
        assert!(check_run_headers(["Command", "Release", "Height"]).is_ok());
        assert!(check_run_headers(["command", "image"]).is_err());
        assert!(check_run_headers(["PRIVILEGED"]).is_err());
        assert!(check_run_headers(["Volumes"]).is_err());
    }

    #[test]
    fn an_empty_allow_list_allows_no_command() {
        let f = fx();
        let c = DeployChain {
            approved_commands: &[],
            ..chain(&f, 3)
        };
        let step = ChainStep::ProcessExec {
            app: &f.app,
            pid: "web-1",
            command: Some("bin/rails db:migrate"),
        };
        assert!(c.check(&step, NOW).is_err());
        let step = ChainStep::ProcessExec {
            app: &f.app,
            pid: "web-1",
            command: None,
        };
        assert!(chain(&f, 3).check(&step, NOW).is_err());
    }
}
