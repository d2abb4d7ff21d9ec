//! Route matching tests.
use super::*;
use rstest::rstest;

#[test]
fn display_patterns_drop_parameter_kinds() {
    let rule = match_route("GET", false, "/apps/myapp/builds/BABCDEFGHIJ.tgz")
        .unwrap()
        .rule;
    assert_eq!(rule.display_pattern(), "/apps/{app}/builds/{id}.tgz");
}

#[rstest]
#[case("/apps/myapp/objects/tmp/a.tgz", Some("tmp/a.tgz"))]
#[case("/apps/myapp/objects/tmp/../../other/x", None)]
#[case("/apps/myapp/objects/tmp/%2e%2e/x", None)]
#[case("/apps/myapp/objects/", None)]
fn object_keys_are_validated(#[case] path: &str, #[case] key: Option<&str>) {
    let m = match_route("POST", false, path);
    assert_eq!(
        m.as_ref()
            .and_then(|m| m.object_key())
            .map(ObjectKey::as_str),
        key
    );
}

#[test]
fn params_are_extracted_by_name() {
    let m = match_route("GET", true, "/apps/my-app/processes/web-123-abc/exec").unwrap();
    assert_eq!(m.app().unwrap().as_str(), "my-app");
    assert_eq!(m.pid(), Some("web-123-abc"));
    assert_eq!(m.rule.deploy_action, DeployAction::ProcessExec);
    let m = match_route("POST", false, "/apps/a/releases/RABCDEFGHIJ/promote").unwrap();
    assert_eq!(m.release_id().unwrap().as_str(), "RABCDEFGHIJ");
    let m = match_route("POST", false, "/apps/a/services/web/processes").unwrap();
    assert_eq!(m.service(), Some("web"));
}
