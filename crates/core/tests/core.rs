//! Integration tests of `rgw-core`: the rack route × role table, and coverage of the
//! reference route list in `../shared/reference/convox-rack-api.md`.

use std::collections::BTreeSet;
use std::path::PathBuf;

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

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/convox-rack-api.md")
}

/// Replaces every `{...}` with `{}` so parameter names and kinds do not matter.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("{}");
                }
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

fn is_method_list(token: &str) -> bool {
    !token.is_empty()
        && token.split('/').all(|m| {
            matches!(
                m,
                "GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "SOCKET" | "ANY"
            )
        })
}

/// Expands `{a,b,c}` alternatives (not parameters) into several paths.
fn expand_alternatives(path: &str) -> Vec<String> {
    let mut from = 0;
    while let Some(open) = path[from..].find('{').map(|i| i + from) {
        let Some(close) = path[open..].find('}').map(|i| i + open) else {
            break;
        };
        let inner = &path[open + 1..close];
        if inner.contains(',') {
            let (head, tail) = (&path[..open], &path[close + 1..]);
            return inner
                .split(',')
                .flat_map(|alt| expand_alternatives(&format!("{head}{alt}{tail}")))
                .collect();
        }
        from = close + 1;
    }
    vec![path.to_owned()]
}

/// `…/rest` continues the row's first path: from its parent when `rest` starts with a
/// literal segment (`/apps/{app}/budget` + `…/budget/reset`), from the path itself when it
/// starts with a parameter (`/apps/{app}/resources` + `…/{name}`).
fn expand_ellipsis(base: &str, rest: &str) -> String {
    if rest.starts_with("/{") {
        format!("{base}{rest}")
    } else {
        let parent = base.rsplit_once('/').map_or("", |(p, _)| p);
        format!("{parent}{rest}")
    }
}

/// Every `(method, path)` of §1 of the reference.
fn reference_routes(markdown: &str) -> Vec<(String, String)> {
    let section = markdown
        .split("\n## 1. Route table")
        .nth(1)
        .and_then(|s| s.split("\n## 2.").next())
        .expect("section \"## 1. Route table\" not found in convox-rack-api.md");
    let mut routes = Vec::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(methods), Some(paths)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        // Header, separator, and the generator rows with an empty method.
        if *methods == "Method" || methods.starts_with("---") || methods.is_empty() {
            continue;
        }
        let mut base: Option<String> = None;
        for item in paths.replace('`', "").split(';') {
            let mut item = item.trim().to_owned();
            if let Some(i) = item.find(" (") {
                item.truncate(i);
            }
            let (item_methods, path) = match item.split_once(' ') {
                Some((first, rest)) if is_method_list(first) => {
                    (first.to_owned(), rest.trim().to_owned())
                }
                _ => (methods.to_string(), item.clone()),
            };
            let path = match path.strip_prefix('…') {
                Some(rest) => {
                    expand_ellipsis(base.as_deref().expect("… without a base path"), rest)
                }
                None => path,
            };
            if base.is_none() {
                base = Some(path.clone());
            }
            for p in expand_alternatives(&path) {
                for m in item_methods.split('/') {
                    routes.push((m.to_owned(), p.clone()));
                }
            }
        }
    }
    routes
}

#[test]
fn every_route_of_the_reference_table_is_in_the_route_table() {
    let path = reference_path();
    let markdown = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the rack API reference at {} ({e}); the shared docs must be checked out at ../shared beside the repository root",
            path.display()
        )
    });
    let reference = reference_routes(&markdown);
    assert!(
        reference.len() > 80,
        "parsed only {} routes; has the table format changed?",
        reference.len()
    );
    let ours: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_owned(), shape(r.pattern)))
        .collect();
    let theirs: BTreeSet<(String, String)> = reference
        .iter()
        .map(|(m, p)| (m.clone(), shape(p)))
        .collect();
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "reference routes missing from ROUTES: {missing:#?}"
    );
    // Nothing beyond the reference except the documented probes.
    let extra: Vec<_> = ours.difference(&theirs).collect();
    let probes: Vec<(String, String)> = ["/auth", "/machines", "/racks"]
        .iter()
        .map(|p| ("GET".to_owned(), (*p).to_owned()))
        .collect();
    assert!(
        extra.iter().all(|e| probes.contains(e)),
        "ROUTES has routes the reference does not list: {extra:#?}"
    );
}

#[test]
fn the_reference_parser_expands_shorthand_rows() {
    let md = "\n## 1. Route table\n| Method | Path | Purpose |\n|---|---|---|\n\
        | GET/POST/DELETE | /apps/{app}/budget ; POST …/budget/reset | x |\n\
        | GET | /apps/{app}/resources ; GET …/{name} | x |\n\
        | POST | /a/{s}/scale-override ; …/triggers/{enable,disable} | x |\n\
        | GET | /system/capacity ; /system/processes (query `all`) | x |\n\
        | | | generator |\n## 2. Next\n";
    let got = reference_routes(md);
    let want: Vec<(String, String)> = [
        ("GET", "/apps/{app}/budget"),
        ("POST", "/apps/{app}/budget"),
        ("DELETE", "/apps/{app}/budget"),
        ("POST", "/apps/{app}/budget/reset"),
        ("GET", "/apps/{app}/resources"),
        ("GET", "/apps/{app}/resources/{name}"),
        ("POST", "/a/{s}/scale-override"),
        ("POST", "/a/{s}/triggers/enable"),
        ("POST", "/a/{s}/triggers/disable"),
        ("GET", "/system/capacity"),
        ("GET", "/system/processes"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(got, want);
}
