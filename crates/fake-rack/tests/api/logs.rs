//! `convox logs` and the promote wait's log stream (§3.2, §3.7).

use super::helpers::{APP, TestRack, app_source, read_to_eof, read_until};

#[tokio::test]
async fn logs_without_follow_send_existing_lines_then_eof() {
    let t = TestRack::start().await;
    t.deploy(APP, app_source()).await;
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/logs"),
            &[("Prefix", "true"), ("Follow", "false"), ("Since", "2m")],
        )
        .await;
    let transcript = read_to_eof(&mut socket).await;
    assert!(transcript.eof);
    let text = transcript.text();
    let line = text
        .lines()
        .find(|l| l.contains("system/k8s/atom/app"))
        .unwrap();
    let mut fields = line.splitn(3, ' ');
    let ts = fields.next().unwrap();
    assert!(
        ts.ends_with('Z') && ts.contains('T'),
        "RFC3339 timestamp: {ts}"
    );
    assert_eq!(fields.next(), Some("system/k8s/atom/app"));
    assert!(text.contains(" service/web/web-"), "{text}");
}

#[tokio::test]
async fn logs_without_prefix_are_bare_messages_and_tail_limits_them() {
    let t = TestRack::start().await;
    t.deploy(APP, app_source()).await;
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/logs"),
            &[("Follow", "false"), ("Tail", "1")],
        )
        .await;
    let transcript = read_to_eof(&mut socket).await;
    assert_eq!(transcript.frames, ["Status: Updating => Running\n"]);
}

#[tokio::test]
async fn followed_logs_stream_promote_lines_as_they_happen() {
    let t = TestRack::start().await;
    let build = t.build(APP, app_source()).await;
    let release = build["release"].as_str().unwrap();
    // The promote wait: Prefix + Since 5s, following.
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/logs"),
            &[("Prefix", "true"), ("Since", "5s")],
        )
        .await;
    let response = t
        .post_form(
            &format!("/apps/{APP}/releases/{release}/promote"),
            &[("force", "false")],
        )
        .await;
    assert_eq!(response.text().await.unwrap(), "ok\n");
    let text = read_until(&mut socket, "Updating => Running").await;
    assert!(text.contains(&format!(
        "system/k8s/atom/app Promoting release {release}\n"
    )));
    // The client leaving ends the stream without trouble.
    drop(socket);
    t.wait_running(APP).await;
}

#[tokio::test]
async fn service_logs_only_carry_that_service() {
    let t = TestRack::start().await;
    t.deploy(APP, app_source()).await;
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/services/worker/logs"),
            &[("Prefix", "true"), ("Follow", "false")],
        )
        .await;
    let text = read_to_eof(&mut socket).await.text();
    assert!(!text.is_empty());
    assert!(
        text.lines().all(|l| l.contains(" service/worker/worker-")),
        "{text}"
    );
}

#[tokio::test]
async fn logs_of_an_unknown_app_are_an_error_frame() {
    let t = TestRack::start().await;
    let mut socket = t.socket("/apps/nope/logs", &[("Follow", "false")]).await;
    let transcript = read_to_eof(&mut socket).await;
    assert!(transcript.eof);
    assert_eq!(transcript.frames, ["ERROR: app not found: nope\n"]);
}
