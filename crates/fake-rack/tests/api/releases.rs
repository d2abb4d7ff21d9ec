//! `convox releases promote`, `convox env set` and the rack's promote validation (§3.2–3.4).

use reqwest::StatusCode;
use serde_json::Value;

use super::helpers::{APP, MANIFEST, TestRack, app_source};

async fn promote_status(t: &TestRack, release: &str, force: &str) -> (StatusCode, String) {
    let response = t
        .post_form(
            &format!("/apps/{APP}/releases/{release}/promote"),
            &[("force", force)],
        )
        .await;
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn promote_is_refused_while_the_app_is_updating() {
    let t = TestRack::start().await;
    let build = t.build(APP, app_source()).await;
    let release = build["release"].as_str().unwrap();
    assert_eq!(
        promote_status(&t, release, "false").await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        promote_status(&t, release, "false").await,
        (StatusCode::FORBIDDEN, "app is currently updating\n".into())
    );
    // `force=true` skips the check.
    assert_eq!(promote_status(&t, release, "true").await.0, StatusCode::OK);
    let app = t.wait_running(APP).await;
    assert_eq!(app["release"], release);
}

#[tokio::test]
async fn promote_refuses_a_release_with_an_empty_manifest() {
    let t = TestRack::start().await;
    // An env-only first release has no build and so no manifest.
    let response = t
        .post_form(&format!("/apps/{APP}/releases"), &[("env", "A=1")])
        .await;
    let release: Value = response.json().await.unwrap();
    assert_eq!(release["build"], "");
    assert_eq!(
        promote_status(&t, release["id"].as_str().unwrap(), "false").await,
        (
            StatusCode::BAD_REQUEST,
            "can not promote a release with an empty manifest\n".into()
        )
    );
}

#[tokio::test]
async fn promote_refuses_a_release_older_than_the_active_one() {
    let t = TestRack::start().await;
    let old = t.build(APP, app_source()).await["release"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = t.deploy(APP, app_source()).await;
    assert_ne!(old, new);
    assert_eq!(
        promote_status(&t, &old, "false").await,
        (
            StatusCode::BAD_REQUEST,
            "can not promote an older release, try rollback\n".into()
        )
    );
}

#[tokio::test]
async fn promoting_an_unknown_release_is_not_found() {
    let t = TestRack::start().await;
    let (status, body) = promote_status(&t, "RNOPENOPENO", "false").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "release not found: RNOPENOPENO\n");
}

#[tokio::test]
async fn releases_promote_without_an_id_takes_the_newest_release() {
    let t = TestRack::start().await;
    t.build(APP, app_source()).await;
    let newest = t.build(APP, app_source()).await["release"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = t.get_json(&format!("/apps/{APP}/releases?limit=1")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], newest.as_str());
    t.promote(APP, &newest).await;
}

#[tokio::test]
async fn env_set_creates_a_release_with_the_merged_env_and_promotes_it() {
    let t = TestRack::start().await;
    let first = t.deploy(APP, app_source()).await;

    // convox env set A=1 B=2 --promote
    let list = t.get_json(&format!("/apps/{APP}/releases?limit=1")).await;
    let latest = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(latest, first);
    let current = t.get_json(&format!("/apps/{APP}/releases/{latest}")).await;
    assert_eq!(current["env"], "");
    t.get_json("/system").await;
    let response = t
        .post_form(&format!("/apps/{APP}/releases"), &[("env", "A=1\nB=2")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let release: Value = response.json().await.unwrap();
    let id = release["id"].as_str().unwrap().to_owned();
    assert_ne!(id, first);
    assert_eq!(release["env"], "A=1\nB=2");
    assert_eq!(release["description"], "env add:A add:B");
    assert_eq!(
        release["manifest"], MANIFEST,
        "forked from the newest release"
    );
    assert_eq!(release["build"], current["build"]);
    t.promote(APP, &id).await;

    // convox env set B=3 C=4, then unset A: descriptions name the changes.
    let release: Value = t
        .post_form(&format!("/apps/{APP}/releases"), &[("env", "B=3\nC=4")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(release["description"], "env change:B add:C remove:A");
    assert_eq!(release["env"], "B=3\nC=4");

    // `exec env` in a process of the promoted release prints the env.
    let pid = t
        .get_json(&format!("/apps/{APP}/processes?service=web"))
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut socket = t
        .socket(
            &format!("/apps/{APP}/processes/{pid}/exec"),
            &[("Command", "env")],
        )
        .await;
    let (output, code) = super::helpers::read_to_eof(&mut socket)
        .await
        .output_and_code();
    assert_eq!((output.as_str(), code), ("A=1\nB=2\n", 0));
}

#[tokio::test]
async fn a_release_can_fork_from_a_parent_and_take_an_explicit_description() {
    let t = TestRack::start().await;
    let base: Value = t
        .post_form(&format!("/apps/{APP}/releases"), &[("env", "X=1")])
        .await
        .json()
        .await
        .unwrap();
    t.post_form(&format!("/apps/{APP}/releases"), &[("env", "X=2")])
        .await;
    let fork: Value = t
        .post_form(
            &format!("/apps/{APP}/releases"),
            &[
                ("parent-release", base["id"].as_str().unwrap()),
                ("description", "rollback"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fork["env"], "X=1");
    assert_eq!(fork["description"], "rollback");
    let missing = t
        .post_form(
            &format!("/apps/{APP}/releases"),
            &[("parent-release", "RMISSINGXXX")],
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
