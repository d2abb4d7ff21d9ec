//! CircleCI auto-approval: the newest rerun's approval job is approved once; transient errors
//! retry with backoff; permanent ones stop and show on the request; a worker killed mid-call
//! leaves the job to another gateway, which finishes it without approving twice.

use std::time::Duration;

use rgw_core::Clock;
use rgw_server::jobs::worker::run_once;
use rgw_store::JobStatus;
use rgw_testkit::approvals::sha;
use rgw_testkit::mocks::FaultKind;
use rgw_testkit::{TestApp, body_json, error_code};
use serde_json::json;

use crate::support::*;

const APPROVE: &str = "circleci.approve";

fn hold() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("build", "build", "success"),
        ("hold", "approval", "on_hold"),
        ("deploy", "build", "blocked"),
    ]
}

#[tokio::test]
async fn an_approval_approves_the_hold_job_of_the_newest_rerun_exactly_once() {
    let mocks = Mocks::start().await;
    for app in TestApp::spawn_all_with(mocks.env(CIRCLECI)).await {
        let original = mocks.circle.add_workflow("deploy", &hold());
        mocks.circle.set_commit(original, &sha(1));
        let rerun = mocks.circle.rerun(original, &hold());
        let token = ci_token(&app, "circleci").await;
        // pipeline_number as a JSON number works as well as a string.
        let id = request_ok(
            &app,
            &token,
            &sha(1),
            "main",
            json!({"workflow_id": original.to_string(), "pipeline_number": 42}),
        )
        .await;
        drain(&app).await;
        assert!(
            jobs_of(&app, APPROVE).await.is_empty(),
            "[{}] nothing to approve while pending",
            app.backend
        );
        let admin = app.approver("admin@example.com").await;
        let (status, body) = app.approve(&admin, &id).await;
        assert_eq!(status, 200, "{body}");
        let ran = drain(&app).await;
        assert!(
            ran.iter()
                .any(|r| r.kind == APPROVE && r.status == JobStatus::Succeeded),
            "{ran:?}"
        );
        let hold_of = |w| {
            mocks
                .circle
                .jobs(w)
                .into_iter()
                .find(|j| j.name == "hold")
                .unwrap()
                .status
        };
        assert_eq!(
            hold_of(rerun),
            "success",
            "[{}] the rerun's job is approved",
            app.backend
        );
        assert_eq!(
            hold_of(original),
            "on_hold",
            "the superseded original is left alone"
        );
        let calls = mocks
            .circle
            .journal
            .matching(&format!("POST /api/v2/workflow/{rerun}/approve/"));
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].header("circle-token").as_deref(),
            Some(CIRCLE_TOKEN)
        );
        assert!(
            actions(&app, &admin.session, &id)
                .await
                .contains(&"integration.circleci.approve".to_owned())
        );
        // Running the worker again does nothing more.
        assert!(drain(&app).await.is_empty());
        assert_eq!(
            mocks
                .circle
                .journal
                .matching(&format!("{rerun}/approve/"))
                .len(),
            1
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn circleci_5xx_and_timeouts_are_retried_with_backoff_until_the_approval_goes_through() {
    let mocks = Mocks::start().await;
    for app in TestApp::spawn_all_with(mocks.env(CIRCLECI)).await {
        let wf = mocks.circle.add_workflow("deploy", &hold());
        mocks.circle.set_commit(wf, &sha(2));
        let token = ci_token(&app, "circleci").await;
        let id = request_ok(
            &app,
            &token,
            &sha(2),
            "main",
            json!({"workflow_id": wf.to_string(), "pipeline_number": "7"}),
        )
        .await;
        let admin = app.approver("admin@example.com").await;
        assert_eq!(app.approve(&admin, &id).await.0, 200);
        mocks.circle.journal.fault(
            &format!("GET /api/v2/workflow/{wf}"),
            1,
            FaultKind::Status(502, "<html>Bad Gateway</html>".into()),
        );
        mocks.circle.journal.fault(
            &format!("POST /api/v2/workflow/{wf}/approve/"),
            1,
            FaultKind::Delay(Duration::from_secs(3)),
        );
        drain(&app).await;
        let job = jobs_of(&app, APPROVE).await.pop().unwrap();
        assert_eq!(
            (job.status, job.attempts),
            (JobStatus::Queued, 1),
            "[{}]",
            app.backend
        );
        assert!(
            job.last_error.as_deref().unwrap().contains("HTTP 502"),
            "{:?}",
            job.last_error
        );
        let wait = job.run_at - app.clock.now();
        assert!(
            wait >= time::Duration::seconds(2) && wait <= time::Duration::seconds(5),
            "backoff {wait}"
        );
        assert!(run_once(&app.state).await.unwrap().is_none(), "not due yet");
        app.clock.advance(wait);
        let ran = run_once(&app.state).await.unwrap().unwrap();
        assert_eq!(
            ran.status,
            JobStatus::Queued,
            "the approve call timed out: {ran:?}"
        );
        assert!(
            ran.error.as_deref().unwrap().contains("timed out"),
            "{ran:?}"
        );
        let job = jobs_of(&app, APPROVE).await.pop().unwrap();
        let wait2 = job.run_at - app.clock.now();
        assert!(
            wait2 >= time::Duration::seconds(5) && wait2 <= time::Duration::seconds(10),
            "doubled backoff {wait2}"
        );
        app.clock.advance(wait2);
        let ran = run_once(&app.state).await.unwrap().unwrap();
        assert_eq!((ran.status, ran.error), (JobStatus::Succeeded, None));
        assert_eq!(mocks.circle.jobs(wf)[1].status, "success");
        app.cleanup().await;
    }
}

#[tokio::test]
async fn permanent_circleci_errors_stop_at_once_and_show_on_the_request() {
    let mocks = Mocks::start().await;
    type Setup = fn(&rgw_testkit::mocks::circleci::MockCircleCi) -> uuid::Uuid;
    let cases: [(&str, Setup, &str); 4] = [
        (
            "missing job",
            |c| c.add_workflow("deploy", &[("build", "build", "success")]),
            "not found in workflow",
        ),
        (
            "not an approval job",
            |c| c.add_workflow("deploy", &[("hold", "build", "running")]),
            "is not an approval job",
        ),
        (
            "cancelled",
            |c| {
                let w = c.add_workflow("deploy", &hold());
                c.set_workflow_status(w, "canceled");
                w
            },
            "was cancelled",
        ),
        (
            "approved by someone else",
            |c| c.add_workflow("deploy", &[("hold", "approval", "success")]),
            "already approved by someone else",
        ),
    ];
    for app in TestApp::spawn_all_with(mocks.env(CIRCLECI)).await {
        let admin = app.approver("admin@example.com").await;
        for (n, (case, setup, want)) in cases.iter().enumerate() {
            let wf = setup(&mocks.circle);
            mocks.circle.set_commit(wf, &sha(10 + n as u64));
            let token = ci_token(&app, &format!("ci-{n}")).await;
            let id = request_ok(
                &app,
                &token,
                &sha(10 + n as u64),
                "main",
                json!({"workflow_id": wf.to_string()}),
            )
            .await;
            assert_eq!(app.approve(&admin, &id).await.0, 200);
            drain(&app).await;
            let job = jobs_of(&app, APPROVE).await.pop().unwrap();
            assert_eq!(
                (job.status, job.attempts),
                (JobStatus::Failed, 1),
                "[{}] {case}",
                app.backend
            );
            assert!(
                job.last_error.as_deref().unwrap().contains(want),
                "{case}: {:?}",
                job.last_error
            );
            // The request's page shows it: its jobs and its audit trail.
            let resp = app
                .get(&format!("/api/v1/deploy-approval-requests/{id}/jobs"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let (status, body) = body_json(resp).await;
            assert_eq!(status, 200, "{body}");
            let shown = body["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["kind"] == APPROVE)
                .cloned()
                .unwrap();
            assert_eq!(shown["status"], "failed");
            assert!(shown["last_error"].as_str().unwrap().contains(want));
            let trail = trail(&app, &admin.session, &id).await;
            let failed = trail
                .iter()
                .find(|e| e["action"] == "integration.failed")
                .expect("failure on the trail");
            assert!(
                failed["details"]["error"].as_str().unwrap().contains(want),
                "{failed}"
            );
            assert!(drain(&app).await.is_empty(), "{case}: no retry");
        }
        assert_eq!(mocks.circle.approve_calls(), 0);
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_request_that_could_never_be_auto_approved_is_refused_at_creation() {
    let mocks = Mocks::start().await;
    for app in TestApp::spawn_all_with(mocks.env(CIRCLECI)).await {
        let token = ci_token(&app, "circleci").await;
        for meta in [
            json!({}),
            json!({"workflow_id": "../../me"}),
            json!({"workflow_id": uuid::Uuid::new_v4().to_string(), "pipeline_number": "4x"}),
        ] {
            let (status, body) =
                request(&app, &token, &sha(3), "main", meta.clone(), "Deploy").await;
            assert_eq!(
                (status, error_code(&body)),
                (422, "invalid_ci_metadata"),
                "[{}] {meta}: {body}",
                app.backend
            );
        }
        assert!(jobs(&app).await.is_empty());
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_gateway_killed_mid_approval_leaves_the_job_to_another_which_finishes_it_exactly_once() {
    let mocks = Mocks::start().await;
    // Long timeout: the first worker must still be waiting for CircleCI when it is killed.
    let mut env = CIRCLECI.to_vec();
    env.push(("RGW_INTEGRATION_TIMEOUT_SECS", "30"));
    for app in TestApp::spawn_all_with(mocks.env(&env)).await {
        let wf = mocks.circle.add_workflow("deploy", &hold());
        mocks.circle.set_commit(wf, &sha(4));
        let token = ci_token(&app, "circleci").await;
        let id = request_ok(
            &app,
            &token,
            &sha(4),
            "main",
            json!({"workflow_id": wf.to_string()}),
        )
        .await;
        drain(&app).await;
        let admin = app.approver("admin@example.com").await;
        assert_eq!(app.approve(&admin, &id).await.0, 200);
        // Fan out first, so the next claim is the approval itself.
        let fanned = run_once(&app.state)
            .await
            .unwrap()
            .expect("the approval's fan-out");
        assert_eq!(fanned.kind, "deploy_approval.transition");
        // CircleCI approves but its answer never arrives: the gateway dies waiting for it.
        mocks.circle.journal.fault(
            "/approve/",
            1,
            FaultKind::DelayResponse(Duration::from_secs(60)),
        );
        let state = app.state.clone();
        let worker = tokio::spawn(async move { run_once(&state).await });
        for _ in 0..200 {
            if mocks.circle.jobs(wf)[1].status == "success" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let calls = || {
            mocks
                .circle
                .journal
                .matching(&format!("{wf}/approve/"))
                .len()
        };
        assert_eq!(calls(), 1, "[{}] the call reached CircleCI", app.backend);
        worker.abort();
        let _ = worker.await;
        assert_eq!(mocks.circle.jobs(wf)[1].status, "success");
        let held = jobs_of(&app, APPROVE).await.pop().unwrap();
        assert_eq!(held.status, JobStatus::Running);

        // "After restart": another gateway process on the same database.
        let replica = app.spawn_replica().await;
        assert!(
            run_once(&replica.state).await.unwrap().is_none(),
            "the dead worker's lease still holds"
        );
        app.clock.advance(time::Duration::seconds(31));
        let ran = run_once(&replica.state).await.unwrap().expect("taken over");
        assert_eq!(
            (ran.kind.as_str(), ran.status),
            (APPROVE, JobStatus::Succeeded),
            "{ran:?}"
        );
        assert_eq!(calls(), 1, "approved exactly once");
        let done = jobs_of(&app, APPROVE).await.pop().unwrap();
        assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 2));
        assert!(drain(&replica).await.is_empty());
        replica.cleanup().await;
        app.cleanup().await;
    }
}
