//! `convox run` (detached and attached) and `convox exec` (§3.5, §3.6, §5).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::helpers::{APP, EXIT_MARKER, TestRack, app_source, read_to_eof, send_eof, send_stdin};

async fn running_app() -> TestRack {
    let t = TestRack::start().await;
    t.deploy(APP, app_source()).await;
    t
}

async fn web_pid(t: &TestRack) -> String {
    t.get_json(&format!("/apps/{APP}/processes?service=web"))
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn start_process(t: &TestRack, service: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = t
        .request(
            reqwest::Method::POST,
            &format!("/apps/{APP}/services/{service}/processes"),
        )
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn exec(t: &TestRack, pid: &str, command: &str) -> (String, i32) {
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/processes/{pid}/exec"),
            &[
                ("Command", command),
                ("Height", "24"),
                ("Width", "80"),
                ("Tty", "false"),
            ],
        )
        .await;
    let transcript = read_to_eof(&mut socket).await;
    assert!(transcript.eof);
    transcript.output_and_code()
}

#[tokio::test]
async fn exec_reports_the_exit_code_in_the_marker_frame() {
    let t = running_app().await;
    let pid = web_pid(&t).await;
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/processes/{pid}/exec"),
            &[("Command", "exit 3")],
        )
        .await;
    let transcript = read_to_eof(&mut socket).await;
    assert!(transcript.eof);
    assert_eq!(transcript.frames, [format!("{EXIT_MARKER}:3\n")]);
}

#[tokio::test]
async fn exec_runs_echo_sequences_and_unknown_commands() {
    let t = running_app().await;
    let pid = web_pid(&t).await;
    assert_eq!(
        exec(&t, &pid, "echo hello world").await,
        ("hello world\n".into(), 0)
    );
    assert_eq!(
        exec(&t, &pid, "echo a && false && echo b; echo c").await,
        ("a\nc\n".into(), 0)
    );
    assert_eq!(
        exec(&t, &pid, "bash -c id").await,
        ("sh: bash: not found\n".into(), 127)
    );
    assert_eq!(
        exec(&t, &pid, "sleep 0.05; exit 256").await,
        (String::new(), 0)
    );
}

#[tokio::test]
async fn exec_accepts_a_service_name_in_place_of_a_pid() {
    let t = running_app().await;
    assert_eq!(exec(&t, "worker", "echo hi").await, ("hi\n".into(), 0));
}

#[tokio::test]
async fn exec_cat_echoes_stdin_until_the_empty_binary_frame() {
    let t = running_app().await;
    let pid = web_pid(&t).await;
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/processes/{pid}/exec"),
            &[("Command", "cat")],
        )
        .await;
    send_stdin(&mut socket, "line one\n").await;
    send_stdin(&mut socket, "line two\n").await;
    send_eof(&mut socket).await;
    let (output, code) = read_to_eof(&mut socket).await.output_and_code();
    assert_eq!((output.as_str(), code), ("line one\nline two\n", 0));
}

#[tokio::test]
async fn exec_on_an_unknown_process_sends_an_error_frame_then_eof() {
    let t = running_app().await;
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/processes/web-nope-nope/exec"),
            &[("Command", "true")],
        )
        .await;
    let transcript = read_to_eof(&mut socket).await;
    assert!(transcript.eof);
    assert_eq!(
        transcript.frames,
        ["ERROR: process not found: web-nope-nope\n"]
    );
}

#[tokio::test]
async fn convox_run_detached_starts_a_one_off_that_completes() {
    let t = running_app().await;
    let response = start_process(&t, "web", &[("Command", "echo from one-off")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let process: Value = response.json().await.unwrap();
    let pid = process["id"].as_str().unwrap().to_owned();
    assert_eq!(process["name"], "web");
    assert_eq!(process["command"], "echo from one-off");
    assert_eq!(process["status"], "pending");
    let mut status = String::new();
    for _ in 0..100 {
        status = t.get_json(&format!("/apps/{APP}/processes/{pid}")).await["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status == "complete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, "complete");
    // Its output went to the app log under its own source.
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/processes/{pid}/logs"),
            &[("Follow", "false"), ("Prefix", "true")],
        )
        .await;
    let text = read_to_eof(&mut socket).await.text();
    assert!(
        text.contains(&format!(" service/web/{pid} from one-off\n")),
        "{text}"
    );
}

#[tokio::test]
async fn convox_run_attached_sleeps_execs_and_deletes() {
    let t = running_app().await;
    let response = start_process(
        &t,
        "web",
        &[
            ("Command", "sleep 3600"),
            ("Height", "24"),
            ("Width", "80"),
            ("Environment", "EXTRA=yes&MORE=1"),
            ("Image", "evil/image:latest"),
        ],
    )
    .await;
    let process: Value = response.json().await.unwrap();
    let pid = process["id"].as_str().unwrap().to_owned();
    assert_eq!(process["image"], "evil/image:latest");
    let options = t.rack.state().process_options(APP, &pid).unwrap();
    assert_eq!(options["command"], "sleep 3600");
    assert_eq!(options["environment"], "EXTRA=yes&MORE=1");

    // Poll until two consecutive running.
    let mut streak = 0;
    for _ in 0..100 {
        let got = t.get_json(&format!("/apps/{APP}/processes/{pid}")).await;
        streak = if got["status"] == "running" {
            streak + 1
        } else {
            0
        };
        if streak == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(streak, 2);

    assert_eq!(
        exec(&t, &pid, "env; exit 7").await,
        ("EXTRA=yes\nMORE=1\n".into(), 7)
    );

    let response = t.delete(&format!("/apps/{APP}/processes/{pid}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok\n");
    assert_eq!(
        t.get(&format!("/apps/{APP}/processes/{pid}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn running_a_service_that_is_not_in_the_release_is_not_found() {
    let t = running_app().await;
    let response = start_process(&t, "db", &[("Command", "true")]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.text().await.unwrap(), "service not found: db\n");
}

#[tokio::test]
async fn services_list_scale_and_restart_follow_the_release() {
    let t = running_app().await;
    let services = t.get_json(&format!("/apps/{APP}/services")).await;
    let names: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "worker"]);
    let response = t
        .send_form(
            reqwest::Method::PUT,
            &format!("/apps/{APP}/services/web"),
            &[("count", "3")],
        )
        .await;
    assert_eq!(response.text().await.unwrap(), "ok\n");
    let web = t
        .get_json(&format!("/apps/{APP}/processes?service=web"))
        .await;
    assert_eq!(web.as_array().unwrap().len(), 3);
    let before = web_pid(&t).await;
    let response = t
        .post_form(&format!("/apps/{APP}/services/web/restart"), &[])
        .await;
    assert_eq!(response.text().await.unwrap(), "ok\n");
    assert_ne!(web_pid(&t).await, before);
}
