//! [`DeployChain::check`]: one gated call against one approval.

use time::OffsetDateTime;

use super::{ChainOutcome, ChainStep, ClaimedStep, DeployChain, DeployDenial, Step};
use crate::approval::lifecycle::ApprovalStatus;
use crate::ids::{AppName, GitSha};

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
        if let ChainStep::AppLogs { .. } = step {
            self.check_logs_live(now)?;
        } else {
            self.check_live(now)?;
        }
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
                self.not_in_progress()?;
                let url = key.object_url(app);
                match self.object_url {
                    None => Ok(ChainOutcome::Proceed),
                    Some(rec) if rec == url && self.build_id.is_none() => Ok(ChainOutcome::Retry),
                    // Once a build was requested the tarball must not change under it.
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
                self.not_in_progress()?;
                let Some(sent) = git_sha else {
                    return Err(DeployDenial::CommitRequired {
                        id,
                        commit: self.commit.clone(),
                    });
                };
                if GitSha::parse(sent).ok().as_ref() != Some(self.commit) {
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
                match self.build_id {
                    None => Ok(ChainOutcome::Proceed),
                    // A build the rack accepted and then failed may be replaced while live.
                    Some(_) if self.recorded_build_failed && self.release_id.is_none() => {
                        Ok(ChainOutcome::Proceed)
                    }
                    Some(b) => Err(DeployDenial::AlreadyDone {
                        id,
                        step: Step::Build,
                        recorded: format!("build {b}"),
                    }),
                }
            }
            ChainStep::BuildImport { .. } => Err(DeployDenial::ImportNotAllowed),
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
            ChainStep::AppLogs { .. } => Ok(ChainOutcome::Proceed),
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
            ChainStep::ReleasePromote { release, .. } => {
                self.not_in_progress()?;
                match self.release_id {
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
                }
            }
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
                let cmd = super::normalize_command(command.unwrap_or(""));
                if is_attach_placeholder(&cmd) {
                    return Ok(ChainOutcome::Proceed);
                }
                self.command_allowed(app, cmd)
            }
            ChainStep::ProcessExec { app, pid, command } => {
                self.known_process(pid)?;
                self.command_allowed(app, super::normalize_command(command.unwrap_or("")))
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

    /// The app log may be followed while the approval is live and, once deployed, until the
    /// window ends (the CLI follows it while the promote rolls out).
    fn check_logs_live(&self, now: OffsetDateTime) -> Result<(), DeployDenial> {
        match (self.status, self.approval_expires_at) {
            (ApprovalStatus::Deployed, Some(at)) if now < at => Ok(()),
            _ => self.check_live(now),
        }
    }

    fn not_in_progress(&self) -> Result<(), DeployDenial> {
        match self.claim {
            None => Ok(()),
            Some(c) => Err(DeployDenial::InProgress {
                id: self.id,
                step: c.step(),
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
                .any(|allowed| super::normalize_command(allowed) == cmd);
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

/// The claim a step takes before it is forwarded, if any.
pub fn claim_for(step: &ChainStep<'_>) -> Option<ClaimedStep> {
    match step {
        ChainStep::ObjectUpload { .. } => Some(ClaimedStep::Object),
        ChainStep::BuildCreate { .. } => Some(ClaimedStep::Build),
        ChainStep::ReleasePromote { .. } => Some(ClaimedStep::Promote),
        _ => None,
    }
}

fn step_app<'a>(step: &ChainStep<'a>) -> Option<&'a AppName> {
    match *step {
        ChainStep::ObjectUpload { app, .. }
        | ChainStep::BuildCreate { app, .. }
        | ChainStep::BuildImport { app }
        | ChainStep::BuildRead { app, .. }
        | ChainStep::AppLogs { app }
        | ChainStep::ReleasePromote { app, .. }
        | ChainStep::ProcessRun { app, .. }
        | ChainStep::ProcessExec { app, .. }
        | ChainStep::ProcessStop { app, .. } => Some(app),
        ChainStep::RecordRelease { .. } => None,
    }
}
