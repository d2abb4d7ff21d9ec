//! Integration tests of `rgw-core`: the rack route × role table, and coverage of the
//! reference route list in `../shared/reference/convox-rack-api.md`.

use std::collections::BTreeSet;

use rgw_core::rbac::{
    Access, DeployAction, ForbiddenForApprovalTokens, Permission, ROUTES, Role, RouteMethod,
    RouteRule, match_route,
};
use rstest::rstest;

/// `(method, path, roles allowed)`; method `SOCKET` means a GET websocket upgrade; roles are
/// letters: v viewer, o ops, d deployer, a admin, c cicd. Plain RBAC, before approval gating.
const ROLE_TABLE: &[(&str, &str, &str)] = &[
    ("GET", "/auth", "vodac"),
    ("GET", "/machines", "vodac"),
    ("GET", "/racks", "vodac"),
    ("GET", "/apps", "vodac"),
    ("POST", "/apps", "a"),
    ("GET", "/apps/myapp", "vodac"),
    ("PUT", "/apps/myapp", "da"),
    ("DELETE", "/apps/myapp", "a"),
    ("POST", "/apps/myapp/cancel", "da"),
    ("SOCKET", "/apps/myapp/logs", "voda"),
    ("GET", "/apps/myapp/diagnose", "vodac"),
    ("GET", "/apps/myapp/manifest/services/web", "vodac"),
    ("GET", "/apps/myapp/metrics", "vodac"),
    ("GET", "/apps/myapp/metrics-by-service", "vodac"),
    ("GET", "/apps/myapp/budget", "vodac"),
    ("POST", "/apps/myapp/budget", "da"),
    ("DELETE", "/apps/myapp/budget", "da"),
    ("POST", "/apps/myapp/budget/reset", "da"),
    ("GET", "/apps/myapp/budget/shutdown-state", "vodac"),
    ("POST", "/apps/myapp/budget/simulate-shutdown", "da"),
    ("POST", "/apps/myapp/budget/dismiss-recovery", "da"),
    ("GET", "/apps/myapp/cost", "vodac"),
    ("GET", "/apps/myapp/balancers", "vodac"),
    ("GET", "/apps/myapp/configs", "oda"),
    ("GET", "/apps/myapp/configs/cli-env-mask", "oda"),
    ("PUT", "/apps/myapp/configs/cli-env-mask", "da"),
    ("POST", "/apps/myapp/builds", "da"),
    ("GET", "/apps/myapp/builds", "voda"),
    ("POST", "/apps/myapp/builds/import", "da"),
    ("GET", "/apps/myapp/builds/BABCDEFGHIJ", "voda"),
    ("PUT", "/apps/myapp/builds/BABCDEFGHIJ", "da"),
    ("SOCKET", "/apps/myapp/builds/BABCDEFGHIJ/logs", "voda"),
    ("GET", "/apps/myapp/builds/BABCDEFGHIJ.tgz", "da"),
    ("POST", "/apps/myapp/builds/BABCDEFGHIJ/image", "da"),
    ("POST", "/apps/myapp/releases", "da"),
    ("GET", "/apps/myapp/releases", "oda"),
    ("GET", "/apps/myapp/releases/RABCDEFGHIJ", "oda"),
    ("POST", "/apps/myapp/releases/RABCDEFGHIJ/promote", "da"),
    ("GET", "/apps/myapp/objects", "oda"),
    ("POST", "/apps/myapp/objects/tmp/0123456789abcdef.tgz", "da"),
    ("GET", "/apps/myapp/objects/build/BABCDEFGHIJ/logs", "oda"),
    ("HEAD", "/apps/myapp/objects/tmp/x.tgz", "oda"),
    ("DELETE", "/apps/myapp/objects/tmp/x.tgz", "a"),
    ("GET", "/apps/myapp/processes", "vodac"),
    ("GET", "/apps/myapp/processes/web-5d8f7-abcde", "vodac"),
    ("DELETE", "/apps/myapp/processes/web-5d8f7-abcde", "oda"),
    (
        "SOCKET",
        "/apps/myapp/processes/web-5d8f7-abcde/exec",
        "oda",
    ),
    (
        "SOCKET",
        "/apps/myapp/processes/web-5d8f7-abcde/logs",
        "voda",
    ),
    ("POST", "/apps/myapp/services/web/processes", "oda"),
    ("GET", "/apps/myapp/processes/web-1/files", "oda"),
    ("POST", "/apps/myapp/processes/web-1/files", "oda"),
    ("DELETE", "/apps/myapp/processes/web-1/files", "oda"),
    ("GET", "/apps/myapp/services", "voda"),
    ("PUT", "/apps/myapp/services/web", "da"),
    ("POST", "/apps/myapp/services/web/restart", "oda"),
    ("SOCKET", "/apps/myapp/services/web/logs", "voda"),
    ("GET", "/apps/myapp/services/web/metrics", "vodac"),
    ("POST", "/apps/myapp/services/web/scale-override", "da"),
    ("POST", "/apps/myapp/services/web/triggers/enable", "da"),
    ("POST", "/apps/myapp/services/web/triggers/disable", "da"),
    ("POST", "/apps/myapp/services/web/triggers/threshold", "da"),
    ("GET", "/apps/myapp/resources", "oda"),
    ("GET", "/apps/myapp/resources/database", "oda"),
    ("GET", "/apps/myapp/resources/database/data", "a"),
    ("PUT", "/apps/myapp/resources/database/data", "a"),
    ("SOCKET", "/apps/myapp/resources/database/console", "a"),
    ("GET", "/resources", "oda"),
    ("POST", "/resources", "a"),
    ("OPTIONS", "/resources", "oda"),
    ("GET", "/resources/shared-db", "oda"),
    ("PUT", "/resources/shared-db", "a"),
    ("DELETE", "/resources/shared-db", "a"),
    ("POST", "/resources/shared-db/links", "a"),
    ("DELETE", "/resources/shared-db/links/myapp", "a"),
    ("PUT", "/apps/myapp/ssl/web/443", "a"),
    ("GET", "/certificates", "voda"),
    ("POST", "/certificates", "a"),
    ("POST", "/certificates/generate", "a"),
    ("DELETE", "/certificates/cert-123", "a"),
    ("POST", "/certificates/cert-123/renew", "a"),
    ("GET", "/letsencrypt/config", "voda"),
    ("PUT", "/letsencrypt/config", "a"),
    ("POST", "/events", "a"),
    ("GET", "/registries", "oda"),
    ("POST", "/registries", "a"),
    ("DELETE", "/registries/registry.example.com:5000", "a"),
    ("GET", "/v2/", "a"),
    ("PUT", "/v2/myapp/blobs/uploads/3f1c", "a"),
    ("GET", "/instances", "vodac"),
    ("POST", "/instances/keyroll", "a"),
    ("DELETE", "/instances/i-0123456789", "a"),
    ("SOCKET", "/instances/i-0123456789/shell", "a"),
    ("SOCKET", "/proxy/db.internal/5432", "a"),
    ("POST", "/custom/http/proxy/metrics/v1", "a"),
    ("GET", "/system", "vodac"),
    ("PUT", "/system", "a"),
    ("GET", "/system/capacity", "vodac"),
    ("GET", "/system/metrics", "vodac"),
    ("GET", "/system/processes", "vodac"),
    ("GET", "/system/releases", "vodac"),
    ("SOCKET", "/system/logs", "voda"),
    ("POST", "/system/jwt/token", "a"),
    ("PUT", "/system/jwt/rotate", "a"),
    ("POST", "/system/karpenter/cleanup", "a"),
];

fn request(method: &str) -> (&str, bool) {
    if method == "SOCKET" {
        ("GET", true)
    } else {
        (method, false)
    }
}

fn letter(role: Role) -> char {
    match role {
        Role::Viewer => 'v',
        Role::Ops => 'o',
        Role::Deployer => 'd',
        Role::Admin => 'a',
        Role::Cicd => 'c',
    }
}

fn role_may_call(role: Role, rule: &RouteRule) -> bool {
    match rule.access {
        Access::Authenticated => true,
        Access::Requires(p) => role.allows(&p),
    }
}

#[test]
fn every_route_and_role_pair_matches_the_expected_table() {
    let mut failures = Vec::new();
    for (method, path, allowed) in ROLE_TABLE {
        let (m, upgrade) = request(method);
        let Some(found) = match_route(m, upgrade, path) else {
            failures.push(format!("{method} {path}: no route matched"));
            continue;
        };
        for role in Role::ALL {
            let want = allowed.contains(letter(role));
            let got = role_may_call(role, found.rule);
            if want != got {
                failures.push(format!(
                    "{method} {path}: {role} expected {want}, got {got}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "route × role mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_role_table_covers_every_rule_and_no_request_matches_two_rules() {
    let mut covered = BTreeSet::new();
    for (method, path, _) in ROLE_TABLE {
        let (m, upgrade) = request(method);
        let matching: Vec<&RouteRule> = ROUTES
            .iter()
            .filter(|r| r.try_match(m, upgrade, path).is_some())
            .collect();
        assert_eq!(matching.len(), 1, "{method} {path} matched {matching:?}");
        covered.insert((matching[0].method.as_str(), matching[0].pattern));
    }
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|r| !covered.contains(&(r.method.as_str(), r.pattern)))
        .map(|r| format!("{} {}", r.method.as_str(), r.pattern))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a row in ROLE_TABLE: {missing:?}"
    );
}

#[test]
fn approval_tokens_get_exactly_the_deploy_steps_of_the_spec() {
    let steps: BTreeSet<String> = ROUTES
        .iter()
        .filter(|r| r.deploy_action.is_approval_step())
        .map(|r| format!("{} {}", r.method.as_str(), r.display_pattern()))
        .collect();
    let want: BTreeSet<String> = [
        "POST /apps/{app}/objects/{key}",
        "POST /apps/{app}/builds",
        "POST /apps/{app}/builds/import",
        "GET /apps/{app}/builds/{id}",
        "SOCKET /apps/{app}/builds/{id}/logs",
        "POST /apps/{app}/releases/{id}/promote",
        "POST /apps/{app}/services/{service}/processes",
        "SOCKET /apps/{app}/processes/{pid}/exec",
        "DELETE /apps/{app}/processes/{pid}",
        // `convox deploy` follows the app log during the chain.
        "SOCKET /apps/{app}/logs",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(steps, want);
}

#[rstest]
#[case(
    "PUT",
    "/apps/myapp/builds/BABCDEFGHIJ",
    ForbiddenForApprovalTokens::BuildUpdate
)]
#[case(
    "POST",
    "/apps/myapp/builds/BABCDEFGHIJ/image",
    ForbiddenForApprovalTokens::BuildImageRelay
)]
#[case(
    "POST",
    "/apps/myapp/releases",
    ForbiddenForApprovalTokens::ReleaseCreate
)]
#[case(
    "PUT",
    "/apps/myapp/services/web",
    ForbiddenForApprovalTokens::ServiceScale
)]
#[case("PUT", "/apps/myapp", ForbiddenForApprovalTokens::AppUpdate)]
#[case(
    "POST",
    "/v2/myapp/blobs/uploads/",
    ForbiddenForApprovalTokens::RegistryProxy
)]
#[case("PUT", "/system", ForbiddenForApprovalTokens::RackUpdate)]
#[case(
    "POST",
    "/system/jwt/token",
    ForbiddenForApprovalTokens::RackCredentials
)]
#[case(
    "PUT",
    "/system/jwt/rotate",
    ForbiddenForApprovalTokens::RackCredentials
)]
fn bypass_routes_of_the_spec_are_forbidden_for_approval_tokens(
    #[case] method: &str,
    #[case] path: &str,
    #[case] kind: ForbiddenForApprovalTokens,
) {
    let m = match_route(method, false, path).unwrap();
    assert_eq!(m.rule.deploy_action, DeployAction::Forbidden(kind));
}

#[rstest]
#[case("GET", false, "/apps/myapp/unknown")]
#[case("GET", false, "/nope")]
#[case("PATCH", false, "/apps/myapp")]
#[case("get", false, "/apps")]
#[case("GET", false, "/apps/")]
#[case("GET", false, "//apps")]
#[case("GET", false, "apps")]
#[case("GET", false, "")]
#[case("GET", false, "/apps?x=1")]
#[case("GET", false, "/apps/myapp/logs")]
#[case("GET", true, "/apps/myapp")]
#[case("POST", true, "/apps/myapp/logs")]
#[case("GET", false, "/apps/MyApp")]
#[case("GET", false, "/apps/myapp/builds/bad-id")]
#[case("GET", false, "/apps/myapp/releases/BABCDEFGHIJ")]
#[case("GET", false, "/apps/myapp/builds/BABCDEFGHIJ.zip")]
#[case("GET", false, "/auth/")]
#[case("GET", false, "/v2")]
fn unknown_or_mismatched_requests_match_no_route(
    #[case] method: &str,
    #[case] upgrade: bool,
    #[case] path: &str,
) {
    assert!(
        match_route(method, upgrade, path).is_none(),
        "{method} {path} should not match"
    );
}

#[rstest]
#[case("GET", "/apps/../system")]
#[case("GET", "/apps/myapp/..")]
#[case("GET", "/apps/myapp/processes/..")]
#[case("DELETE", "/apps/myapp/processes/.")]
#[case("GET", "/apps/myapp/processes/%2e%2e")]
#[case("GET", "/apps/myapp/processes/web%2F1")]
#[case("POST", "/apps/myapp/objects/../../other/objects/x")]
#[case("POST", "/apps/myapp/objects/tmp/../../../system")]
#[case("POST", "/apps/myapp/objects/tmp/%2e%2e/x")]
#[case("POST", "/apps/myapp/objects//etc/passwd")]
#[case("GET", "/v2/../apps/myapp")]
#[case("GET", "/v2/%2e%2e/apps")]
#[case("GET", "/custom/http/proxy/a/../../system")]
#[case("GET", "/apps/myapp\0/builds")]
#[case("DELETE", "/registries/..")]
fn dot_segment_and_encoding_tricks_never_match(#[case] method: &str, #[case] path: &str) {
    assert!(
        match_route(method, false, path).is_none(),
        "{method} {path} should not match"
    );
}

#[test]
fn websocket_routes_match_only_upgrades() {
    for rule in ROUTES.iter().filter(|r| r.is_socket()) {
        assert_eq!(rule.method, RouteMethod::Socket);
    }
    assert!(
        match_route("GET", true, "/apps/myapp/logs")
            .unwrap()
            .rule
            .is_socket()
    );
    assert!(match_route("GET", false, "/apps/myapp/logs").is_none());
}

#[rstest]
#[case("convox:app:fly", "unknown permission")]
#[case("convox:app", "invalid permission")]
#[case("gateway:deploy_approval_request:create", "unknown permission")]
fn permission_parse_errors_say_where_to_find_valid_ones(#[case] input: &str, #[case] starts: &str) {
    let err = Permission::parse(input).unwrap_err().to_string();
    assert!(err.starts_with(starts), "{err}");
    assert!(err.contains("permission catalogue"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Coverage of the reference route table.

#[path = "core/reference.rs"]
mod reference;
