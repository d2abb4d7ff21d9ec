//! `rack-gateway-server dev` seeds a usable admin and a `cicd` token, stable across restarts.

use rgw_server::commands::dev::{DevArgs, start};
use rgw_testkit::body_json;
use serde_json::{Value, json};
use tokio::net::TcpListener;

async fn run_dev(
    dir: &std::path::Path,
) -> (
    Value,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let args = DevArgs {
        listen: listener.local_addr().unwrap(),
        data_dir: dir.to_path_buf(),
        app: "myapp".into(),
    };
    let dev = start(listener, &args, Vec::new()).await.unwrap();
    let creds: Value =
        serde_json::from_slice(&std::fs::read(&dev.credentials_path).unwrap()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        dev.serve_until(async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (creds, tx, task)
}

#[tokio::test]
async fn dev_seeds_an_admin_with_a_password_and_a_cicd_token_owned_by_the_ci_service_user() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, stop, task) = run_dev(dir.path()).await;
    let url = creds["gateway_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    assert_eq!(creds["admin_email"], "admin@example.com");
    let login = http.post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"email": creds["admin_email"], "password": creds["admin_password"], "channel": "cli"}))
        .send().await.unwrap();
    let (status, body) = body_json(login).await;
    assert_eq!(
        (status, body["user"]["role"].as_str()),
        (200, Some("admin"))
    );
    let token = creds["cicd_token"].as_str().unwrap().to_owned();
    let (status, me) = body_json(
        http.get(format!("{url}/api/v1/auth/whoami"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["role"].as_str(), me["owner_email"].as_str()),
        (Some("cicd"), Some("ci@example.com"))
    );
    let _ = stop.send(());
    task.await.unwrap();

    let (again, stop, task) = run_dev(dir.path()).await;
    assert_eq!(
        again["cicd_token"], creds["cicd_token"],
        "a restart keeps the seeded token"
    );
    assert_eq!(again["admin_password"], creds["admin_password"]);
    let _ = stop.send(());
    task.await.unwrap();
}

/// The seed's whole flow against `dev` as a newcomer runs it: CI asks with the seeded `cicd`
/// token, the seeded admin logs in with the printed password and TOTP secret and approves, and
/// CI deploys exactly that commit through the embedded fake rack.
#[tokio::test]
async fn dev_runs_the_whole_deploy_approval_flow_out_of_the_box() {
    use rgw_testkit::approvals::{convox_deploy, sha};
    let dir = tempfile::tempdir().unwrap();
    let (creds, stop, task) = run_dev(dir.path()).await;
    let url = creds["gateway_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let cicd = creds["cicd_token"].as_str().unwrap().to_owned();
    let commit = sha(0xdead);
    let (status, req) = body_json(
        http.post(format!("{url}/api/v1/deploy-approval-requests"))
            .bearer_auth(&cicd)
            .json(
                &json!({"app": "myapp", "git_commit_hash": commit, "git_branch": "main",
                          "ci_metadata": {"workflow_id": "abc-123", "pipeline_number": "42"},
                          "message": "Deploy to production"}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{req}");
    let id = req["public_id"].as_str().unwrap().to_owned();

    // The admin logs in and verifies MFA with the printed secret, then approves with the code
    // of the next 30 s step (the login consumed the current one; codes are single use).
    let secret =
        secrecy::SecretString::from(creds["admin_totp_secret"].as_str().unwrap().to_owned());
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let code = |at: u64| rgw_server::mfa::totp::code_at(&secret, at).unwrap();
    let (_, login) = body_json(
        http.post(format!("{url}/api/v1/auth/login"))
            .json(&json!({"email": creds["admin_email"], "password": creds["admin_password"], "channel": "cli"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let session = login["session_token"].as_str().unwrap().to_owned();
    let (status, verified) = body_json(
        http.post(format!("{url}/api/v1/mfa/verify"))
            .bearer_auth(&session)
            .json(&json!({"totp": code(now)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{verified}");
    let session = verified["session_token"].as_str().unwrap().to_owned();
    let (status, approved) = body_json(
        http.post(format!(
            "{url}/api/v1/deploy-approval-requests/{id}/approve"
        ))
        .bearer_auth(&session)
        .json(
            &json!({"notes": "Reviewed diff, LGTM", "intent_digest": req["intent_digest"],
                          "mfa": {"totp": code(now + 30)}}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("approved")),
        "{approved}"
    );

    let convox = rgw_testkit::convox::Convox::new(format!("{url}/api/v1/rack-proxy"), &cicd);
    convox_deploy(&convox, &commit).await;
    let (_, done) = body_json(
        http.get(format!("{url}/api/v1/deploy-approval-requests/{id}"))
            .bearer_auth(&cicd)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(done["status"], "deployed", "{done}");
    let _ = stop.send(());
    task.await.unwrap();
}
