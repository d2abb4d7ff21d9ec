//! The decision table: every kind of caller against every kind of deploy action.

use super::*;
use crate::rbac::{Role, match_route};
use rstest::rstest;
use time::macros::datetime;

fn rule(method: &str, upgrade: bool, path: &str) -> &'static RouteRule {
    match_route(method, upgrade, path).unwrap().rule
}

/// Who calls in a case.
#[derive(Debug, Clone, Copy)]
enum Who {
    CicdToken,
    AdminToken,
    /// An admin-minted token with deploy permissions but without `deploy_with_approval`.
    StrippedToken,
    ViewerToken,
    DeployerToken,
    Deployer {
        fresh: bool,
    },
    Admin {
        fresh: bool,
    },
    Ops,
}

type Holds = Box<dyn Fn(&Permission) -> bool>;

fn caller(who: Who) -> (CallerKind, Holds) {
    let role = |r: Role| Box::new(move |p: &Permission| r.allows(p)) as Holds;
    match who {
        Who::CicdToken => (CallerKind::Token, role(Role::Cicd)),
        Who::AdminToken => (CallerKind::Token, role(Role::Admin)),
        Who::StrippedToken => (
            CallerKind::Token,
            Box::new(|p: &Permission| {
                Role::Admin.allows(p) && *p != Permission::DEPLOY_WITH_APPROVAL
            }),
        ),
        Who::ViewerToken => (CallerKind::Token, role(Role::Viewer)),
        Who::DeployerToken => (CallerKind::Token, role(Role::Deployer)),
        Who::Deployer { fresh } => (CallerKind::Human { mfa_fresh: fresh }, role(Role::Deployer)),
        Who::Admin { fresh } => (CallerKind::Human { mfa_fresh: fresh }, role(Role::Admin)),
        Who::Ops => (CallerKind::Human { mfa_fresh: false }, role(Role::Ops)),
    }
}

/// Expected outcome, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allow,
    Approval,
    Deny(&'static str),
}

fn outcome(d: &Decision) -> Want {
    match d {
        Decision::Allow => Want::Allow,
        Decision::RequiresApproval(_) => Want::Approval,
        Decision::Deny(denial) => Want::Deny(denial.code()),
    }
}

const UPLOAD: (&str, bool, &str) = ("POST", false, "/apps/myapp/objects/tmp/a.tgz");
const BUILD: (&str, bool, &str) = ("POST", false, "/apps/myapp/builds");
const IMPORT: (&str, bool, &str) = ("POST", false, "/apps/myapp/builds/import");
const PROMOTE: (&str, bool, &str) = ("POST", false, "/apps/myapp/releases/RABCDEFGHIJ/promote");
const RELEASE: (&str, bool, &str) = ("POST", false, "/apps/myapp/releases");
const SCALE: (&str, bool, &str) = ("PUT", false, "/apps/myapp/services/web");
const BUILD_UPDATE: (&str, bool, &str) = ("PUT", false, "/apps/myapp/builds/BABCDEFGHIJ");
const BUILD_READ: (&str, bool, &str) = ("GET", false, "/apps/myapp/builds/BABCDEFGHIJ");
const APP_LOGS: (&str, bool, &str) = ("GET", true, "/apps/myapp/logs");
const RUN: (&str, bool, &str) = ("POST", false, "/apps/myapp/services/web/processes");
const EXEC: (&str, bool, &str) = ("GET", true, "/apps/myapp/processes/web-1/exec");
const JWT: (&str, bool, &str) = ("POST", false, "/system/jwt/token");
const RACK_UPDATE: (&str, bool, &str) = ("PUT", false, "/system");
const V2: (&str, bool, &str) = ("PUT", false, "/v2/myapp/blobs/x");
const APPS: (&str, bool, &str) = ("GET", false, "/apps");

#[rstest]
// A cicd token: deploy steps only under an approval; bypasses refused.
#[case::cicd_upload(Who::CicdToken, UPLOAD, Want::Approval)]
#[case::cicd_build(Who::CicdToken, BUILD, Want::Approval)]
#[case::cicd_import(Who::CicdToken, IMPORT, Want::Approval)]
#[case::cicd_promote(Who::CicdToken, PROMOTE, Want::Approval)]
#[case::cicd_build_read(Who::CicdToken, BUILD_READ, Want::Approval)]
#[case::cicd_app_logs(Who::CicdToken, APP_LOGS, Want::Approval)]
#[case::cicd_run(Who::CicdToken, RUN, Want::Approval)]
#[case::cicd_exec(Who::CicdToken, EXEC, Want::Approval)]
#[case::cicd_release_create(Who::CicdToken, RELEASE, Want::Deny("forbidden_for_tokens"))]
#[case::cicd_scale(Who::CicdToken, SCALE, Want::Deny("forbidden_for_tokens"))]
#[case::cicd_build_update(Who::CicdToken, BUILD_UPDATE, Want::Deny("forbidden_for_tokens"))]
#[case::cicd_v2(Who::CicdToken, V2, Want::Deny("forbidden_for_tokens"))]
#[case::cicd_jwt(Who::CicdToken, JWT, Want::Deny("forbidden_for_tokens"))]
#[case::cicd_rack_update(Who::CicdToken, RACK_UPDATE, Want::Deny("forbidden_for_tokens"))]
#[case::cicd_reads_apps(Who::CicdToken, APPS, Want::Allow)]
// An admin-role token is gated like cicd: its role does not let it deploy directly.
#[case::admin_token_upload(Who::AdminToken, UPLOAD, Want::Approval)]
#[case::admin_token_promote(Who::AdminToken, PROMOTE, Want::Approval)]
#[case::admin_token_release_create(Who::AdminToken, RELEASE, Want::Deny("forbidden_for_tokens"))]
#[case::admin_token_jwt(Who::AdminToken, JWT, Want::Deny("forbidden_for_tokens"))]
#[case::admin_token_reads_builds(Who::AdminToken, BUILD_READ, Want::Allow)]
// Dropping deploy_with_approval gains nothing.
#[case::stripped_upload(Who::StrippedToken, UPLOAD, Want::Deny("token_cannot_deploy"))]
#[case::stripped_build(Who::StrippedToken, BUILD, Want::Deny("token_cannot_deploy"))]
#[case::stripped_promote(Who::StrippedToken, PROMOTE, Want::Deny("token_cannot_deploy"))]
#[case::stripped_release_create(Who::StrippedToken, RELEASE, Want::Deny("forbidden_for_tokens"))]
#[case::stripped_scale(Who::StrippedToken, SCALE, Want::Deny("forbidden_for_tokens"))]
// A personal deployer token cannot deploy or scale (it can never prove MFA).
#[case::deployer_token_upload(Who::DeployerToken, UPLOAD, Want::Deny("token_cannot_deploy"))]
#[case::deployer_token_scale(Who::DeployerToken, SCALE, Want::Deny("forbidden_for_tokens"))]
#[case::deployer_token_run(Who::DeployerToken, RUN, Want::Allow)]
#[case::viewer_token_logs(Who::ViewerToken, APP_LOGS, Want::Allow)]
#[case::viewer_token_upload(Who::ViewerToken, UPLOAD, Want::Deny("token_cannot_deploy"))]
// Humans: role, then fresh MFA for deploy actions; never approval-gated.
#[case::deployer_fresh_upload(Who::Deployer { fresh: true }, UPLOAD, Want::Allow)]
#[case::deployer_fresh_promote(Who::Deployer { fresh: true }, PROMOTE, Want::Allow)]
#[case::deployer_fresh_scale(Who::Deployer { fresh: true }, SCALE, Want::Allow)]
#[case::deployer_stale_upload(Who::Deployer { fresh: false }, UPLOAD, Want::Deny("mfa_step_up_required"))]
#[case::deployer_stale_scale(Who::Deployer { fresh: false }, SCALE, Want::Deny("mfa_step_up_required"))]
#[case::deployer_stale_reads(Who::Deployer { fresh: false }, BUILD_READ, Want::Allow)]
#[case::deployer_jwt(Who::Deployer { fresh: true }, JWT, Want::Deny("permission_denied"))]
#[case::admin_session_upload(Who::Admin { fresh: true }, UPLOAD, Want::Allow)]
#[case::admin_session_jwt_fresh(Who::Admin { fresh: true }, JWT, Want::Allow)]
#[case::admin_session_jwt_stale(Who::Admin { fresh: false }, JWT, Want::Deny("mfa_step_up_required"))]
#[case::admin_session_rack_update_stale(Who::Admin { fresh: false }, RACK_UPDATE, Want::Deny("mfa_step_up_required"))]
#[case::ops_run(Who::Ops, RUN, Want::Allow)]
#[case::ops_upload(Who::Ops, UPLOAD, Want::Deny("permission_denied"))]
fn every_caller_kind_meets_the_documented_rule(
    #[case] who: Who,
    #[case] route: (&str, bool, &str),
    #[case] want: Want,
) {
    let (kind, holds) = caller(who);
    let r = rule(route.0, route.1, route.2);
    let got = decide(r, kind, holds, &GateSettings::default());
    assert_eq!(outcome(&got), want, "{who:?} {} {}", route.0, route.2);
}

#[rstest]
#[case::cicd_deploys_directly(Who::CicdToken, UPLOAD, Want::Allow)]
#[case::cicd_still_cannot_scale(Who::CicdToken, SCALE, Want::Deny("forbidden_for_tokens"))]
#[case::stripped_still_cannot_deploy(Who::StrippedToken, BUILD, Want::Deny("token_cannot_deploy"))]
#[case::humans_still_need_mfa(Who::Deployer { fresh: false }, PROMOTE, Want::Deny("mfa_step_up_required"))]
fn with_approvals_disabled_tokens_deploy_directly_and_nothing_else_changes(
    #[case] who: Who,
    #[case] route: (&str, bool, &str),
    #[case] want: Want,
) {
    let (kind, holds) = caller(who);
    let settings = GateSettings {
        approvals_enabled: false,
        ..GateSettings::default()
    };
    let got = decide(rule(route.0, route.1, route.2), kind, holds, &settings);
    assert_eq!(outcome(&got), want);
}

#[rstest]
#[case::upload(UPLOAD, Want::Deny("human_deploys_disabled"))]
#[case::promote(PROMOTE, Want::Deny("human_deploys_disabled"))]
#[case::release_create(RELEASE, Want::Deny("human_deploys_disabled"))]
#[case::scale_is_not_a_deploy(SCALE, Want::Allow)]
#[case::reads(BUILD_READ, Want::Allow)]
fn human_deploys_allowed_false_refuses_every_human_deploy(
    #[case] route: (&str, bool, &str),
    #[case] want: Want,
) {
    let (kind, holds) = caller(Who::Admin { fresh: true });
    let settings = GateSettings {
        human_deploys_allowed: false,
        ..GateSettings::default()
    };
    let got = decide(rule(route.0, route.1, route.2), kind, holds, &settings);
    assert_eq!(outcome(&got), want);
}

#[test]
fn denials_tell_the_caller_what_to_do() {
    let (kind, holds) = caller(Who::Deployer { fresh: false });
    let Decision::Deny(d) = decide(
        rule(UPLOAD.0, UPLOAD.1, UPLOAD.2),
        kind,
        holds,
        &GateSettings::default(),
    ) else {
        panic!("stale MFA must be refused");
    };
    assert_eq!(d.status(), 401);
    assert!(d.to_string().contains("within the last 10 minutes"), "{d}");
    let (kind, holds) = caller(Who::ViewerToken);
    let Decision::Deny(d) = decide(
        rule(PROMOTE.0, PROMOTE.1, PROMOTE.2),
        kind,
        holds,
        &GateSettings::default(),
    ) else {
        panic!("viewer token must not promote");
    };
    assert!(d.to_string().contains("deploy_with_approval"), "{d}");
}

#[test]
fn step_up_freshness_is_judged_against_the_window() {
    let now = datetime!(2026-05-01 12:00:00 UTC);
    assert!(step_up_is_fresh(Some(now - Duration::minutes(10)), now, 10));
    assert!(!step_up_is_fresh(
        Some(now - Duration::minutes(11)),
        now,
        10
    ));
    assert!(!step_up_is_fresh(None, now, 10));
    // A verification time in the future (clock skew, tampering) is not trusted.
    assert!(!step_up_is_fresh(Some(now + Duration::minutes(1)), now, 10));
}

#[test]
fn only_calls_the_decision_can_change_resolve_settings() {
    let token = CallerKind::Token;
    let human = CallerKind::Human { mfa_fresh: true };
    assert!(needs_settings(rule(BUILD.0, BUILD.1, BUILD.2), token));
    assert!(!needs_settings(rule(APPS.0, APPS.1, APPS.2), token));
    assert!(needs_settings(rule(PROMOTE.0, PROMOTE.1, PROMOTE.2), human));
    assert!(!needs_settings(rule(RUN.0, RUN.1, RUN.2), human));
}
