//! The chain table: every step at every stage of a deploy.

use super::*;
use crate::approval::lifecycle::ApprovalStatus;
use crate::ids::{AppName, BuildId, GitSha, ObjectKey, ReleaseId, RequestId};
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
        claim: None,
        recorded_build_failed: false,
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
#[case::import_first(0, "import", Err("build import is not allowed under deploy approvals"))]
#[case::build_without_sha(1, "build-no-sha", Err("must send git-sha (the approved commit"))]
#[case::logs(0, "logs", Ok(ChainOutcome::Proceed))]
#[case::import_after_upload(1, "import", Err("build import is not allowed"))]
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
#[case::run_without_release(3, "run-no-release", Err("the app's current release (pass --release)"))]
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
            git_sha: Some(SHA),
        },
        "build-no-sha" => ChainStep::BuildCreate {
            app: &f.app,
            url: Some("object://myapp/tmp/a.tgz"),
            git_sha: None,
        },
        "logs" => ChainStep::AppLogs { app: &f.app },
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

fn build_step(f: &Fx) -> ChainStep<'_> {
    ChainStep::BuildCreate {
        app: &f.app,
        url: Some("object://myapp/tmp/a.tgz"),
        git_sha: Some(SHA),
    }
}

#[test]
fn a_failed_build_may_be_replaced_while_the_approval_is_live() {
    let f = fx();
    let failed = DeployChain {
        recorded_build_failed: true,
        ..chain(&f, 2)
    };
    assert_eq!(
        failed.check(&build_step(&f), NOW),
        Ok(ChainOutcome::Proceed)
    );
    // A build that did not fail stays the only one.
    let err = chain(&f, 2).check(&build_step(&f), NOW).unwrap_err();
    assert!(err.to_string().contains("already completed build"), "{err}");
    // A build that produced a release is never replaced, whatever the rack says.
    let released = DeployChain {
        recorded_build_failed: true,
        ..chain(&f, 3)
    };
    assert!(released.check(&build_step(&f), NOW).is_err());
}

#[rstest]
#[case::upload_during_build(
    ClaimedStep::Build,
    "upload",
    "a build under this approval is in progress"
)]
#[case::build_during_upload(
    ClaimedStep::Object,
    "build",
    "a object upload under this approval is in progress"
)]
#[case::promote_during_promote(ClaimedStep::Promote, "promote", "in progress")]
fn a_claimed_step_blocks_every_other_chain_step(
    #[case] claim: ClaimedStep,
    #[case] call: &str,
    #[case] msg: &str,
) {
    let f = fx();
    let c = DeployChain {
        claim: Some(claim),
        ..chain(&f, if call == "promote" { 3 } else { 1 })
    };
    let step = match call {
        "upload" => ChainStep::ObjectUpload {
            app: &f.app,
            key: &f.key,
        },
        "build" => build_step(&f),
        _ => ChainStep::ReleasePromote {
            app: &f.app,
            release: &f.release,
        },
    };
    let err = c.check(&step, NOW).unwrap_err();
    assert!(err.to_string().contains(msg), "{err}");
    assert_eq!(err.status(), 409);
}

#[test]
fn the_app_log_stays_readable_after_the_deploy_until_the_window_ends() {
    let f = fx();
    let deployed = DeployChain {
        status: ApprovalStatus::Deployed,
        ..chain(&f, 3)
    };
    let logs = ChainStep::AppLogs { app: &f.app };
    assert_eq!(deployed.check(&logs, NOW), Ok(ChainOutcome::Proceed));
    assert!(deployed.check(&logs, NOW + Duration::minutes(15)).is_err());
    // ...but nothing else is possible once deployed.
    let promote = ChainStep::ReleasePromote {
        app: &f.app,
        release: &f.release,
    };
    assert!(deployed.check(&promote, NOW).is_err());
    let pending = DeployChain {
        status: ApprovalStatus::Pending,
        ..chain(&f, 0)
    };
    assert!(pending.check(&logs, NOW).is_err());
}

#[test]
fn denials_map_to_the_documented_statuses() {
    let f = fx();
    let no_sha = ChainStep::BuildCreate {
        app: &f.app,
        url: Some("object://myapp/tmp/a.tgz"),
        git_sha: None,
    };
    assert_eq!(chain(&f, 1).check(&no_sha, NOW).unwrap_err().status(), 422);
    let import = ChainStep::BuildImport { app: &f.app };
    let err = chain(&f, 0).check(&import, NOW).unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (403, "build_import_not_allowed")
    );
    let pending = DeployChain {
        status: ApprovalStatus::Pending,
        ..chain(&f, 0)
    };
    let err = pending.check(&build_step(&f), NOW).unwrap_err();
    assert_eq!(err.status(), 403);
}

#[test]
fn privileged_run_headers_are_found_case_insensitively() {
    assert_eq!(
        privileged_run_headers(["command", "IMAGE", "release", "Image", "height"]),
        vec!["Image", "Release"]
    );
    assert!(privileged_run_headers(["Command", "Height", "Width"]).is_empty());
}

#[test]
fn each_step_that_reaches_the_rack_takes_a_claim() {
    let f = fx();
    assert_eq!(claim_for(&build_step(&f)), Some(ClaimedStep::Build));
    assert_eq!(claim_for(&ChainStep::AppLogs { app: &f.app }), None);
    for c in [
        ClaimedStep::Object,
        ClaimedStep::Build,
        ClaimedStep::Promote,
    ] {
        assert_eq!(ClaimedStep::parse(c.as_str()), Some(c));
    }
}
