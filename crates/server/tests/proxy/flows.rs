//! The convox CLI's call sequences, replayed through the gateway.

use std::time::Duration;

use reqwest::StatusCode;
use rgw_testkit::convox::{read_stream, send_stdin, tarball};

use crate::harness::{APP, Gateway, MANIFEST, RACK_PASSWORD, each_backend};

#[tokio::test]
async fn convox_deploy_runs_end_to_end_through_the_gateway() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        // Humans deploy with a login session and fresh MFA (API tokens only through approvals).
        let token = gw.session("deployer", "deployer").await;
        let cx = gw.convox(&token);

        let system = cx.get_json("/system").await;
        assert!(system["version"].as_str().unwrap().starts_with("3."));
        let url = cx
            .upload(APP, tarball(&[("convox.yml", MANIFEST), ("app.txt", "hi")]))
            .await;
        assert!(url.starts_with(&format!("object://{APP}/tmp/")));
        let build = cx
            .create_build(
                APP,
                &url,
                &[
                    ("description", "test"),
                    ("git-sha", "0123456789abcdef0123456789abcdef01234567"),
                ],
            )
            .await;
        let id = build["id"].as_str().unwrap().to_string();
        let _ = cx.get("/machines").await;
        let mut logs = cx
            .socket(&format!("/apps/{APP}/builds/{id}/logs"), &[])
            .await
            .unwrap();
        let out = read_stream(&mut logs, Duration::from_secs(10)).await;
        assert!(
            out.saw_eof_frame,
            "build logs must end with the empty binary frame"
        );
        let build = cx.wait_build(APP, &id).await;
        assert_eq!(build["status"], "complete", "{build}");
        let release = build["release"].as_str().unwrap().to_string();

        let app = cx.get_json(&format!("/apps/{APP}")).await;
        assert_eq!(app["status"], "running");
        let promote = cx
            .post_form(
                &format!("/apps/{APP}/releases/{release}/promote"),
                &[("force", "false")],
            )
            .await;
        assert_eq!(promote.status(), StatusCode::OK);
        assert_eq!(promote.text().await.unwrap(), "ok\n");
        let app = cx.wait_running(APP).await;
        assert_eq!(app["release"], release.as_str());

        // The rack saw the human-readable actor and its own password, never the caller's token.
        let seen = gw.rack.requests();
        let promote_req = seen.iter().find(|r| r.path.ends_with("/promote")).unwrap();
        assert_eq!(
            promote_req.header("convox-actor"),
            Some("deployer@example.com")
        );
        let auth = promote_req.header("authorization").unwrap();
        assert_eq!(auth, rgw_testkit::convox::basic("convox", RACK_PASSWORD));
        assert!(
            seen.iter()
                .all(|r| !format!("{:?}", r.headers).contains(&token))
        );
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn env_set_keeps_secrets_the_caller_only_saw_masked() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let admin = gw.convox(&gw.session("admin", "admin").await);
        let deployer = gw.convox(&gw.session("deployer", "deployer").await);
        // Release create is a human deploy action (API tokens never create releases).
        let setter = admin.clone();

        let r = setter
            .post_form(
                &format!("/apps/{APP}/releases"),
                &[("env", "DB_PASSWORD=hunter2\nPORT=3000")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

        // convox env set PORT=4000, as a deployer: read latest, read it, write all back.
        let list = deployer
            .get_json(&format!("/apps/{APP}/releases?limit=1"))
            .await;
        let latest = list[0]["id"].as_str().unwrap().to_string();
        let release = deployer
            .get_json(&format!("/apps/{APP}/releases/{latest}"))
            .await;
        let env = release["env"].as_str().unwrap();
        assert_eq!(
            env, "DB_PASSWORD=********\nPORT=3000",
            "deployers see secrets masked"
        );
        assert_eq!(list[0]["env"], "DB_PASSWORD=********\nPORT=3000");
        let r = deployer
            .post_form(
                &format!("/apps/{APP}/releases"),
                &[("env", "DB_PASSWORD=********\nPORT=4000")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let created: serde_json::Value = r.json().await.unwrap();
        assert_eq!(created["env"], "DB_PASSWORD=********\nPORT=4000");

        let stored = admin
            .get_json(&format!(
                "/apps/{APP}/releases/{}",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            stored["env"], "DB_PASSWORD=hunter2\nPORT=4000",
            "the secret survived the round trip"
        );

        let viewer = gw.convox(&gw.token("viewer-token", "viewer").await);
        let r = viewer.get(&format!("/apps/{APP}/releases/{latest}")).await;
        if r.status() == StatusCode::OK {
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["env"], "", "callers without convox:env:read see no env");
        } else {
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn run_and_exec_keep_output_framing_and_exit_codes() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        gw.deploy().await;
        let cx = gw.convox(
            &gw.token_with(
                "runner",
                None,
                &[
                    "convox:process:start",
                    "convox:process:exec",
                    "convox:process:read",
                    "convox:process:stop",
                ],
            )
            .await,
        );

        // convox run web (attached): start a sleeper, poll, exec, then stop it.
        let r = cx
            .request(
                reqwest::Method::POST,
                &format!("/apps/{APP}/services/web/processes"),
            )
            .header("Command", "sleep 3600")
            .header("content-type", "application/octet-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let process: serde_json::Value = r.json().await.unwrap();
        let pid = process["id"].as_str().unwrap().to_string();
        // Like the CLI: poll until the process is running twice in a row.
        let mut streak = 0;
        for _ in 0..200 {
            let p = cx.get_json(&format!("/apps/{APP}/processes/{pid}")).await;
            streak = if p["status"] == "running" {
                streak + 1
            } else {
                0
            };
            if streak == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(streak, 2, "process {pid} never ran");

        let mut exec = cx
            .socket(
                &format!("/apps/{APP}/processes/{pid}/exec"),
                &[("Command", "echo hello; exit 3"), ("Tty", "false")],
            )
            .await
            .unwrap();
        let out = read_stream(&mut exec, Duration::from_secs(10)).await;
        assert_eq!(out.text(), "hello\n");
        assert_eq!(out.exit_code, Some(3));

        let mut cat = cx
            .socket(
                &format!("/apps/{APP}/processes/{pid}/exec"),
                &[("Command", "cat"), ("Tty", "false")],
            )
            .await
            .unwrap();
        send_stdin(&mut cat, "piped through the gateway\n").await;
        let out = read_stream(&mut cat, Duration::from_secs(10)).await;
        assert_eq!(out.text(), "piped through the gateway\n");
        assert_eq!(out.exit_code, Some(0));

        let r = cx.delete(&format!("/apps/{APP}/processes/{pid}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn logs_stream_with_and_without_follow() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let cx = gw.convox(&gw.token("viewer-token", "viewer").await);
        let mut logs = cx
            .socket(
                &format!("/apps/{APP}/logs"),
                &[("Follow", "false"), ("Prefix", "true"), ("Since", "1h")],
            )
            .await
            .unwrap();
        let out = read_stream(&mut logs, Duration::from_secs(10)).await;
        assert!(out.saw_eof_frame, "no-follow logs end with the EOF frame");

        let mut follow = cx
            .socket(&format!("/apps/{APP}/logs"), &[("Prefix", "true")])
            .await
            .unwrap();
        let out = read_stream(&mut follow, Duration::from_millis(300)).await;
        assert!(!out.saw_eof_frame, "followed logs stay open");
        gw.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_large_upload_streams_through_unchanged() {
    each_backend(|ts| async move {
        let gw = Gateway::start(ts).await;
        let cx = gw.convox(&gw.session("deployer", "deployer").await);
        let body = vec![7u8; 24 * 1024 * 1024];
        let r = cx
            .post_bytes(&format!("/apps/{APP}/objects/tmp/big.bin"), body)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let seen = gw.rack.requests();
        let upload = seen
            .iter()
            .find(|r| r.path.ends_with("/tmp/big.bin"))
            .unwrap();
        assert_eq!(upload.body_len, 24 * 1024 * 1024);
        gw.stop().await;
    })
    .await;
}
