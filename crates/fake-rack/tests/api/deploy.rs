//! The `convox deploy` sequence (reference §3.1 + §3.2), byte-level where it matters.

use reqwest::StatusCode;
use serde_json::Value;

use super::helpers::{APP, MANIFEST, TestRack, app_source, read_to_eof};

#[tokio::test]
async fn a_full_convox_deploy_sequence_succeeds() {
    let t = TestRack::start().await;

    // 1. GET /system: a 3.x version keeps the CLI on modern routes.
    let response = t.get("/system").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.text().await.unwrap();
    assert!(body.starts_with("{\n  \""), "pretty JSON: {body}");
    assert!(body.ends_with("}\n"));
    let system: Value = serde_json::from_str(&body).unwrap();
    assert!(system["version"].as_str().unwrap().starts_with("3."));
    assert_eq!(system["status"], "running");

    // 2. POST the tarball as an object.
    let source = app_source();
    let size = source.len() as u64;
    let key = "tmp/0123456789abcdef0123456789abcd.tgz";
    let response = t
        .post_bytes(&format!("/apps/{APP}/objects/{key}"), source)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        format!("{{\n  \"Url\": \"object://{APP}/{key}\"\n}}\n")
    );

    // 3. POST builds (form) answers a running build with a B id.
    let build = t
        .create_build(
            APP,
            &format!("object://{APP}/{key}"),
            &[("description", "build abc"), ("git-sha", "0123456789")],
        )
        .await;
    let id = build["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 11);
    assert!(id.starts_with('B') && id[1..].bytes().all(|b| b.is_ascii_uppercase()));
    assert_eq!(build["status"], "running");
    assert_eq!(build["release"], "");
    assert_eq!(build["manifest"], "");
    assert_eq!(build["ended"], "0001-01-01T00:00:00Z");
    assert!(build["process"].as_str().unwrap().starts_with("build-"));

    // 4. GET /machines (ignored), then the build logs socket until the empty binary frame.
    assert_eq!(t.get("/machines").await.status(), StatusCode::NOT_FOUND);
    let mut socket = t
        .socket(&format!("/apps/{APP}/builds/{id}/logs"), &[])
        .await;
    let logs = read_to_eof(&mut socket).await;
    assert!(logs.eof, "the stream ends with an empty binary frame");
    let text = logs.text();
    assert!(text.contains("Manifest: convox.yml\n"), "{text}");
    assert!(text.contains("Building: web\n"), "{text}");

    // 5. Poll the build until complete.
    let build = t.wait_build(APP, &id).await;
    assert_eq!(build["status"], "complete");
    assert_eq!(build["manifest"], MANIFEST);
    assert_eq!(build["description"], "build abc");
    assert_eq!(build["git-sha"], "0123456789");
    assert_ne!(build["ended"], "0001-01-01T00:00:00Z");
    let release = build["release"].as_str().unwrap().to_owned();
    assert!(release.starts_with('R') && release.len() == 11);

    // 6. The deferred finaliser re-reads logs of the finished build: full text, then EOF.
    assert_eq!(t.get("/machines").await.status(), StatusCode::NOT_FOUND);
    let mut socket = t
        .socket(&format!("/apps/{APP}/builds/{id}/logs"), &[])
        .await;
    let again = read_to_eof(&mut socket).await;
    assert!(again.eof);
    assert!(
        again.text().starts_with(&text),
        "replay includes what was printed"
    );
    assert!(again.text().contains(&format!("Release: {release}\n")));

    // The release carries the manifest text.
    let got = t.get_json(&format!("/apps/{APP}/releases/{release}")).await;
    assert_eq!(got["manifest"], MANIFEST);
    assert_eq!(got["build"], id.as_str());

    // Promote: app running → POST promote `ok\n` → updating → running, release current.
    let app = t.get_json(&format!("/apps/{APP}")).await;
    assert_eq!(app["status"], "running");
    assert_eq!(app["release"], "");
    let response = t
        .post_form(
            &format!("/apps/{APP}/releases/{release}/promote"),
            &[("force", "false")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), "ok\n");
    let app = t.get_json(&format!("/apps/{APP}")).await;
    assert_eq!(app["status"], "updating");
    let app = t.wait_running(APP).await;
    assert_eq!(app["release"], release.as_str());

    // Processes reflect the release: one pod per service.
    let processes = t.get_json(&format!("/apps/{APP}/processes")).await;
    let mut names: Vec<&str> = processes
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["release"], release.as_str());
            assert_eq!(p["status"], "running");
            p["name"].as_str().unwrap()
        })
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["web", "worker"]);

    // The recorded sequence is the CLI's.
    let lines: Vec<String> = t
        .rack
        .requests()
        .iter()
        .map(fake_rack::RecordedRequest::line)
        .collect();
    assert_eq!(lines[0], "GET /system");
    assert_eq!(lines[1], format!("POST /apps/{APP}/objects/{key}"));
    assert_eq!(lines[2], format!("POST /apps/{APP}/builds"));
    assert_eq!(lines[3], "GET /machines");
    assert_eq!(lines[4], format!("GET /apps/{APP}/builds/{id}/logs"));
    let upload = &t.rack.requests()[1];
    assert_eq!(upload.body_len, size);
    assert_eq!(
        upload.header("content-type"),
        Some("application/octet-stream")
    );
}

#[tokio::test]
async fn build_logs_stream_while_the_build_runs() {
    let t = TestRack::start_with(fake_rack::Options {
        password: super::helpers::PASSWORD.to_owned(),
        timing: fake_rack::Timing {
            build_step: std::time::Duration::from_millis(150),
            ..fake_rack::Timing::fast()
        },
        ..fake_rack::Options::default()
    })
    .await;
    let url = t.upload(APP, app_source()).await;
    let build = t.create_build(APP, &url, &[]).await;
    let id = build["id"].as_str().unwrap();
    // Connect immediately: the build is still running, so lines arrive over time.
    let mut socket = t
        .socket(&format!("/apps/{APP}/builds/{id}/logs"), &[])
        .await;
    let logs = read_to_eof(&mut socket).await;
    assert!(logs.eof);
    assert!(logs.frames.len() > 3, "{:?}", logs.frames);
    assert!(logs.text().contains("Release: R"));
    let status = t.get_json(&format!("/apps/{APP}/builds/{id}")).await;
    assert_eq!(status["status"], "complete");
}

#[tokio::test]
async fn builds_list_newest_first_and_honour_limit() {
    let t = TestRack::start().await;
    let first = t.build(APP, app_source()).await;
    let second = t.build(APP, app_source()).await;
    let list = t.get_json(&format!("/apps/{APP}/builds?limit=1")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], second["id"]);
    let list = t.get_json(&format!("/apps/{APP}/builds")).await;
    assert_eq!(list[1]["id"], first["id"]);
}

#[tokio::test]
async fn a_custom_manifest_path_is_read_from_the_tarball() {
    let t = TestRack::start().await;
    let source = super::helpers::tarball(&[("ci/convox.prod.yml", b"services:\n  api: {}\n")]);
    let url = t.upload(APP, source).await;
    let build = t
        .create_build(APP, &url, &[("manifest", "ci/convox.prod.yml")])
        .await;
    let build = t.wait_build(APP, build["id"].as_str().unwrap()).await;
    assert_eq!(build["status"], "complete");
    assert_eq!(build["manifest"], "services:\n  api: {}\n");
}

#[tokio::test]
async fn build_update_rewrites_fields_with_go_times() {
    let t = TestRack::start().await;
    let build = t.build(APP, app_source()).await;
    let id = build["id"].as_str().unwrap();
    let response = t
        .send_form(
            reqwest::Method::PUT,
            &format!("/apps/{APP}/builds/{id}"),
            &[
                ("manifest", "services:\n  x: {}\n"),
                ("started", "20240102.030405.000000000"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let build: Value = response.json().await.unwrap();
    assert_eq!(build["manifest"], "services:\n  x: {}\n");
    assert_eq!(build["started"], "2024-01-02T03:04:05Z");
}

#[tokio::test]
async fn a_build_export_can_be_imported() {
    let t = TestRack::start().await;
    let meta = serde_json::json!({"description": "imported", "manifest": MANIFEST}).to_string();
    let export = super::helpers::tarball(&[("build.json", meta.as_bytes())]);
    let response = t
        .post_bytes(&format!("/apps/{APP}/builds/import"), export)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let build: Value = response.json().await.unwrap();
    assert_eq!(build["status"], "complete");
    assert_eq!(build["description"], "imported");
    let release = t
        .get_json(&format!(
            "/apps/{APP}/releases/{}",
            build["release"].as_str().unwrap()
        ))
        .await;
    assert_eq!(release["manifest"], MANIFEST);
}
