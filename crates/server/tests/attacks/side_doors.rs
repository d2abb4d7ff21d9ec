//! Attacks on the chain's side doors (issue 10): one-off processes and exec outside the
//! allow-list or with run headers, and build import, which carries no commit to check.

use rgw_testkit::approvals::{convox_build, manifest_for, sha};
use rgw_testkit::convox::tarball;
use rgw_testkit::{RACK_APP, TestApp, TestOptions};

async fn spawn() -> Vec<TestApp> {
    TestApp::spawn_all_fast(TestOptions::default()).await
}

fn refused(got: (u16, String), status: u16, says: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert!(got.1.contains(says), "{:?} should say {says:?}", got.1);
}

#[tokio::test]
async fn exec_of_a_command_not_on_the_allow_list_is_refused() {
    for app in TestApp::spawn_all_fast(TestOptions {
        env: vec![(
            "RGW_APP_MYAPP_SETTING_APPROVED_DEPLOY_COMMANDS".into(),
            r#"["bin/migrate"]"#.into(),
        )],
    })
    .await
    {
        let (token, _) = app.approved_deploy(&sha(15)).await;
        let cx = app.convox(&token);
        let release = convox_build(&cx, &sha(15)).await;
        let release = release.as_str();
        let run = |command: &'static str, extra: Option<(&'static str, &'static str)>| {
            let cx = cx.clone();
            let release = release.to_owned();
            async move {
                let mut req = cx
                    .request(
                        reqwest::Method::POST,
                        &format!("/apps/{RACK_APP}/services/web/processes"),
                    )
                    .header("command", command)
                    .header("release", release);
                if let Some((k, v)) = extra {
                    req = req.header(k, v);
                }
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        refused(
            run("rm -rf /", None).await,
            403,
            "command not approved for app myapp",
        );
        refused(
            run("bin/migrate", Some(("image", "evil:latest"))).await,
            403,
            "the Image header is not allowed for API tokens",
        );
        let (status, body) = run("bin/migrate", None).await;
        assert_eq!(status, 200, "{body}");
        let pid: serde_json::Value = serde_json::from_str(&body).unwrap();
        let pid = pid["id"].as_str().unwrap();
        // Exec into the approved process: only listed commands.
        let err = cx
            .socket(
                &format!("/apps/{RACK_APP}/processes/{pid}/exec"),
                &[("command", "cat /etc/shadow")],
            )
            .await
            .expect_err("the exec socket is refused");
        match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 403),
            other => panic!("unexpected websocket error {other}"),
        }
        app.cleanup().await;
    }
}

#[tokio::test]
async fn build_import_cannot_start_a_chain_under_approvals() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(16)).await;
        let r = app
            .convox(&token)
            .post_bytes(
                &format!("/apps/{RACK_APP}/builds/import"),
                tarball(&[("convox.yml", &manifest_for(&sha(16)))]),
            )
            .await;
        assert_eq!(r.status(), 403);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("build import is not allowed under deploy approvals")
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_connection_header_cannot_strip_the_command_or_release_the_gate_checked() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(17)).await;
        let cx = app.convox(&token);
        let release = convox_build(&cx, &sha(17)).await;
        // `sleep N` is the attach placeholder the gate lets through: dropped on the way, the
        // rack would run the service's own command instead, on whatever release is current.
        for listed in ["command", "keep-alive, Release"] {
            let r = cx
                .request(
                    reqwest::Method::POST,
                    &format!("/apps/{RACK_APP}/services/web/processes"),
                )
                .header("command", "sleep 60")
                .header("release", &release)
                .header("connection", listed)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "Connection: {listed}");
            assert!(
                r.text()
                    .await
                    .unwrap()
                    .contains("Connection may only list keep-alive, close or upgrade")
            );
        }
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.line() != format!("POST /apps/{RACK_APP}/services/web/processes")),
            "a run reached the rack"
        );
        app.cleanup().await;
    }
}

#[tokio::test]
async fn a_build_form_field_the_rack_would_drop_cannot_aim_the_manifest_check_at_a_decoy() {
    for app in spawn().await {
        let (token, _) = app.approved_deploy(&sha(18)).await;
        let cx = app.convox(&token);
        let url = cx
            .upload(
                RACK_APP,
                tarball(&[
                    ("convox.yml", "services:\n  web:\n    build: .\n"),
                    ("decoy%zz", &manifest_for(&sha(18))),
                ]),
            )
            .await;
        // Go's form parser drops a pair with a bad escape or a `;`; the gateway must not have
        // checked it.
        for form in [
            format!("url={url}&git-sha={}&manifest=decoy%zz", sha(18)),
            format!("url={url}&git-sha={};manifest=decoy", sha(18)),
        ] {
            let r = cx
                .request(reqwest::Method::POST, &format!("/apps/{RACK_APP}/builds"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{form}");
        }
        assert!(
            app.rack
                .requests()
                .iter()
                .all(|r| r.line() != format!("POST /apps/{RACK_APP}/builds")),
            "a build reached the rack"
        );
        // A well-formed form still builds: the rack gets the checked fields re-encoded.
        let url = cx
            .upload(
                RACK_APP,
                tarball(&[("convox.yml", &manifest_for(&sha(18)))]),
            )
            .await;
        let b = cx
            .create_build(RACK_APP, &url, &[("git-sha", &sha(18))])
            .await;
        assert!(b["id"].as_str().is_some(), "{b}");
        app.cleanup().await;
    }
}
