//! [`ROUTES`]: every rack API route the proxy lets through, with the permission it needs and
//! how it relates to deploying (PRODUCT.md §4, §7). Anything not listed is refused.

use super::permission::Permission as P;
use super::routes::{Access, DeployAction, ForbiddenForApprovalTokens, RouteMethod, RouteRule};

const fn r(method: RouteMethod, pattern: &'static str, p: P, action: DeployAction) -> RouteRule {
    RouteRule {
        method,
        pattern,
        access: Access::Requires(p),
        deploy_action: action,
    }
}

const fn open(method: RouteMethod, pattern: &'static str) -> RouteRule {
    RouteRule {
        method,
        pattern,
        access: Access::Authenticated,
        deploy_action: DeployAction::None,
    }
}

use DeployAction as D;
use ForbiddenForApprovalTokens as F;
use RouteMethod::{Any, Delete, Get, Head, Options, Post, Put, Socket};

const NONE: DeployAction = DeployAction::None;

/// Every rack route the gateway proxies. Order matters only for readability: patterns are
/// disjoint (literal segments and typed ids keep them apart), which a test checks.
#[rustfmt::skip]
pub static ROUTES: &[RouteRule] = &[
    // Probes the CLI sends (not rack routes; harmless).
    open(Get, "/auth"),
    open(Get, "/machines"),
    open(Get, "/racks"),
    // Apps
    r(Get, "/apps", P::APP_LIST, NONE),
    r(Post, "/apps", P::APP_CREATE, NONE),
    r(Get, "/apps/{app:app}", P::APP_READ, NONE),
    r(Put, "/apps/{app:app}", P::APP_UPDATE, D::Forbidden(F::AppUpdate)),
    r(Delete, "/apps/{app:app}", P::APP_DELETE, NONE),
    // Cancelling an update rolls the app back to its previous release.
    r(Post, "/apps/{app:app}/cancel", P::APP_UPDATE, D::Forbidden(F::AppUpdate)),
    // `convox deploy` follows the app log while it waits for the promote (approval-gated tokens).
    r(Socket, "/apps/{app:app}/logs", P::LOG_READ, D::AppLogs),
    r(Get, "/apps/{app:app}/diagnose", P::APP_READ, NONE),
    r(Get, "/apps/{app:app}/manifest/services/{service}", P::APP_READ, NONE),
    r(Get, "/apps/{app:app}/metrics", P::APP_READ, NONE),
    r(Get, "/apps/{app:app}/metrics-by-service", P::APP_READ, NONE),
    r(Get, "/apps/{app:app}/budget", P::APP_READ, NONE),
    r(Post, "/apps/{app:app}/budget", P::APP_UPDATE, D::Forbidden(F::AppUpdate)),
    r(Delete, "/apps/{app:app}/budget", P::APP_UPDATE, D::Forbidden(F::AppUpdate)),
    r(Post, "/apps/{app:app}/budget/reset", P::APP_UPDATE, D::Forbidden(F::AppUpdate)),
    r(Get, "/apps/{app:app}/budget/shutdown-state", P::APP_READ, NONE),
    r(Post, "/apps/{app:app}/budget/simulate-shutdown", P::APP_UPDATE, D::Forbidden(F::AppUpdate)),
    r(Post, "/apps/{app:app}/budget/dismiss-recovery", P::APP_UPDATE, D::Forbidden(F::AppUpdate)),
    r(Get, "/apps/{app:app}/cost", P::APP_READ, NONE),
    r(Get, "/apps/{app:app}/balancers", P::APP_READ, NONE),
    // Config blobs are mounted into services and may hold secrets: treated like env.
    r(Get, "/apps/{app:app}/configs", P::ENV_READ, NONE),
    r(Get, "/apps/{app:app}/configs/{name}", P::ENV_READ, NONE),
    r(Put, "/apps/{app:app}/configs/{name}", P::ENV_SET, D::Forbidden(F::AppConfigWrite)),
    // Builds
    r(Post, "/apps/{app:app}/builds", P::BUILD_CREATE, D::BuildCreate),
    r(Get, "/apps/{app:app}/builds", P::BUILD_LIST, NONE),
    r(Post, "/apps/{app:app}/builds/import", P::BUILD_IMPORT, D::BuildImport),
    r(Get, "/apps/{app:app}/builds/{id:build}", P::BUILD_READ, D::BuildRead),
    r(Put, "/apps/{app:app}/builds/{id:build}", P::BUILD_UPDATE, D::Forbidden(F::BuildUpdate)),
    r(Socket, "/apps/{app:app}/builds/{id:build}/logs", P::LOG_READ, D::BuildLogs),
    r(Get, "/apps/{app:app}/builds/{id:build}.tgz", P::BUILD_EXPORT, NONE),
    r(Post, "/apps/{app:app}/builds/{id:build}/image", P::BUILD_UPDATE, D::Forbidden(F::BuildImageRelay)),
    // Releases
    r(Post, "/apps/{app:app}/releases", P::RELEASE_CREATE, D::Forbidden(F::ReleaseCreate)),
    r(Get, "/apps/{app:app}/releases", P::RELEASE_LIST, NONE),
    r(Get, "/apps/{app:app}/releases/{id:release}", P::RELEASE_READ, NONE),
    r(Post, "/apps/{app:app}/releases/{id:release}/promote", P::RELEASE_PROMOTE, D::ReleasePromote),
    // Objects
    r(Get, "/apps/{app:app}/objects", P::OBJECT_READ, NONE),
    r(Post, "/apps/{app:app}/objects/{key:key}", P::OBJECT_CREATE, D::ObjectCreate),
    r(Get, "/apps/{app:app}/objects/{key:key}", P::OBJECT_READ, NONE),
    r(Head, "/apps/{app:app}/objects/{key:key}", P::OBJECT_READ, NONE),
    r(Delete, "/apps/{app:app}/objects/{key:key}", P::OBJECT_DELETE, NONE),
    // Processes
    r(Get, "/apps/{app:app}/processes", P::PROCESS_LIST, NONE),
    r(Get, "/apps/{app:app}/processes/{pid}", P::PROCESS_READ, NONE),
    r(Delete, "/apps/{app:app}/processes/{pid}", P::PROCESS_STOP, D::ProcessStop),
    r(Socket, "/apps/{app:app}/processes/{pid}/exec", P::PROCESS_EXEC, D::ProcessExec),
    r(Socket, "/apps/{app:app}/processes/{pid}/logs", P::LOG_READ, NONE),
    r(Post, "/apps/{app:app}/services/{service}/processes", P::PROCESS_START, D::ProcessRun),
    // Reading or writing files inside a container is as powerful as exec.
    r(Get, "/apps/{app:app}/processes/{pid}/files", P::PROCESS_EXEC, NONE),
    r(Post, "/apps/{app:app}/processes/{pid}/files", P::PROCESS_EXEC, D::Forbidden(F::ProcessFileWrite)),
    r(Delete, "/apps/{app:app}/processes/{pid}/files", P::PROCESS_EXEC, D::Forbidden(F::ProcessFileWrite)),
    // Services
    r(Get, "/apps/{app:app}/services", P::SERVICE_LIST, NONE),
    r(Put, "/apps/{app:app}/services/{service}", P::SERVICE_SCALE, D::Forbidden(F::ServiceScale)),
    r(Post, "/apps/{app:app}/services/{service}/restart", P::SERVICE_RESTART, NONE),
    r(Socket, "/apps/{app:app}/services/{service}/logs", P::LOG_READ, NONE),
    r(Get, "/apps/{app:app}/services/{service}/metrics", P::APP_READ, NONE),
    r(Post, "/apps/{app:app}/services/{service}/scale-override", P::SERVICE_SCALE, D::Forbidden(F::ServiceScale)),
    r(Post, "/apps/{app:app}/services/{service}/triggers/enable", P::SERVICE_SCALE, D::Forbidden(F::ServiceScale)),
    r(Post, "/apps/{app:app}/services/{service}/triggers/disable", P::SERVICE_SCALE, D::Forbidden(F::ServiceScale)),
    r(Post, "/apps/{app:app}/services/{service}/triggers/threshold", P::SERVICE_SCALE, D::Forbidden(F::ServiceScale)),
    // App resources (details include credentials; data export is a database dump)
    r(Get, "/apps/{app:app}/resources", P::RESOURCE_READ, NONE),
    r(Get, "/apps/{app:app}/resources/{name}", P::RESOURCE_READ, NONE),
    r(Get, "/apps/{app:app}/resources/{name}/data", P::RESOURCE_MANAGE, NONE),
    r(Put, "/apps/{app:app}/resources/{name}/data", P::RESOURCE_MANAGE, NONE),
    r(Socket, "/apps/{app:app}/resources/{name}/console", P::RESOURCE_CONSOLE, NONE),
    // Rack resources
    r(Get, "/resources", P::RESOURCE_READ, NONE),
    r(Post, "/resources", P::RESOURCE_MANAGE, NONE),
    r(Options, "/resources", P::RESOURCE_READ, NONE),
    r(Get, "/resources/{name}", P::RESOURCE_READ, NONE),
    r(Put, "/resources/{name}", P::RESOURCE_MANAGE, NONE),
    r(Delete, "/resources/{name}", P::RESOURCE_MANAGE, NONE),
    r(Post, "/resources/{name}/links", P::RESOURCE_MANAGE, NONE),
    r(Delete, "/resources/{name}/links/{app:app}", P::RESOURCE_MANAGE, NONE),
    // Certificates
    r(Put, "/apps/{app:app}/ssl/{service}/{port}", P::CERTIFICATE_MANAGE, NONE),
    r(Get, "/certificates", P::CERTIFICATE_READ, NONE),
    r(Post, "/certificates", P::CERTIFICATE_MANAGE, NONE),
    r(Post, "/certificates/generate", P::CERTIFICATE_MANAGE, NONE),
    r(Delete, "/certificates/{id}", P::CERTIFICATE_MANAGE, NONE),
    r(Post, "/certificates/{id}/renew", P::CERTIFICATE_MANAGE, NONE),
    r(Get, "/letsencrypt/config", P::CERTIFICATE_READ, NONE),
    r(Put, "/letsencrypt/config", P::CERTIFICATE_MANAGE, NONE),
    // Misc
    r(Post, "/events", P::RACK_UPDATE, NONE),
    r(Get, "/registries", P::REGISTRY_READ, NONE),
    r(Post, "/registries", P::REGISTRY_MANAGE, NONE),
    r(Delete, "/registries/{server}", P::REGISTRY_MANAGE, NONE),
    r(Any, "/v2/{path:tail}", P::REGISTRY_MANAGE, D::Forbidden(F::RegistryProxy)),
    r(Get, "/instances", P::INSTANCE_LIST, NONE),
    r(Post, "/instances/keyroll", P::INSTANCE_MANAGE, NONE),
    r(Delete, "/instances/{id}", P::INSTANCE_MANAGE, NONE),
    r(Socket, "/instances/{id}/shell", P::INSTANCE_SHELL, NONE),
    // Tunnels into the cluster reach resources directly, like a resource console.
    r(Socket, "/proxy/{host}/{port}", P::RESOURCE_CONSOLE, NONE),
    r(Any, "/custom/http/proxy/{path:tail}", P::RESOURCE_CONSOLE, NONE),
    // System
    r(Get, "/system", P::RACK_READ, NONE),
    r(Put, "/system", P::RACK_UPDATE, D::Forbidden(F::RackUpdate)),
    r(Get, "/system/capacity", P::RACK_READ, NONE),
    r(Get, "/system/metrics", P::RACK_READ, NONE),
    r(Get, "/system/processes", P::RACK_READ, NONE),
    r(Get, "/system/releases", P::RACK_READ, NONE),
    r(Socket, "/system/logs", P::LOG_READ, NONE),
    // Rack-level credentials: admin sessions with fresh MFA only, never API tokens.
    r(Post, "/system/jwt/token", P::RACK_ADMIN, D::Forbidden(F::RackCredentials)),
    r(Put, "/system/jwt/rotate", P::RACK_ADMIN, D::Forbidden(F::RackCredentials)),
    r(Post, "/system/karpenter/cleanup", P::RACK_ADMIN, D::Forbidden(F::RackUpdate)),
];
