//! The rack API route table: every route the proxy lets through, the permission it needs and
//! how it relates to deploying. Anything not in [`ROUTES`] is refused.
//!
//! Patterns are matched segment by segment against the raw request path relative to the rack
//! root (the proxy strips `/api/v1/rack-proxy`), without normalisation: `//`, `.` and `..`
//! never match a parameter, and `%` is refused in parameters so that the rack (which decodes
//! escapes before routing) sees exactly what was authorised. Parameter syntax:
//! `{name}` one segment; `{name:app}` an [`AppName`]; `{name:build}` a [`BuildId`];
//! `{name:release}` a [`ReleaseId`]; `{name:key}` the rest of the path as an [`ObjectKey`];
//! `{name:tail}` the rest of the path, unvalidated except for dot segments and encoded
//! separators (registry and HTTP proxies only). A literal suffix may follow a parameter
//! (`{id:build}.tgz`).
//!
//! Legacy v2-only routes (`/apps/{app}/environment`, `/parameters`, `/formation`, `/ssl`,
//! `/processes/{service}/run`) are deliberately absent: the gateway fronts v3 racks, whose
//! `/system` version never sends the `convox` CLI down those paths, and each of them can
//! change config outside the approval chain. The legacy multipart build upload shares
//! `POST /apps/{app}/builds` with the modern route.

use crate::ids::{AppName, BuildId, ObjectKey, ReleaseId};

use super::permission::Permission as P;

/// The HTTP method (or websocket upgrade) a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteMethod {
    /// `GET` without `Upgrade: websocket`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
    /// A websocket: `GET` with `Upgrade: websocket`. Plain GETs never match these rules.
    Socket,
    /// Any non-upgrade method (`GET HEAD POST PUT PATCH DELETE OPTIONS`); proxy routes only.
    Any,
}

impl RouteMethod {
    /// The name used in the reference table (`GET`, …, `SOCKET`, `ANY`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteMethod::Get => "GET",
            RouteMethod::Head => "HEAD",
            RouteMethod::Post => "POST",
            RouteMethod::Put => "PUT",
            RouteMethod::Delete => "DELETE",
            RouteMethod::Options => "OPTIONS",
            RouteMethod::Socket => "SOCKET",
            RouteMethod::Any => "ANY",
        }
    }

    fn matches(self, method: &str, is_upgrade: bool) -> bool {
        if is_upgrade {
            return self == RouteMethod::Socket && method == "GET";
        }
        match self {
            RouteMethod::Socket => false,
            RouteMethod::Any => matches!(
                method,
                "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
            ),
            m => m.as_str() == method,
        }
    }
}

/// Who may call a route, before any deploy-approval gating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Any authenticated caller (harmless probes: `/auth`, `/machines`, `/racks`).
    Authenticated,
    /// Callers holding this permission.
    Requires(P),
}

impl Access {
    /// The permission required, if any.
    pub const fn permission(self) -> Option<P> {
        match self {
            Access::Authenticated => None,
            Access::Requires(p) => Some(p),
        }
    }
}

/// Calls that change running code or config outside the approval chain (PRODUCT.md §4).
/// Callers holding `convox:deploy:deploy_with_approval` are refused these even when their
/// permission list would otherwise allow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForbiddenForApprovalTokens {
    /// `PUT builds/{id}`: can rewrite the manifest of a build.
    BuildUpdate,
    /// `POST builds/{id}/image`: relays an arbitrary image into a build.
    BuildImageRelay,
    /// `POST releases`: a release with new env or an old/external build.
    ReleaseCreate,
    /// Service scale, scale overrides and autoscale triggers.
    ServiceScale,
    /// App update (parameters, lock), cancel and budget changes.
    AppUpdate,
    /// App config blobs written to running services.
    AppConfigWrite,
    /// Files written into or deleted from a running process.
    ProcessFileWrite,
    /// The Docker registry proxy `/v2/`: pushes images that were never approved.
    RegistryProxy,
    /// `PUT /system` and rack maintenance: changes the rack itself.
    RackUpdate,
    /// `POST /system/jwt/token`, `PUT /system/jwt/rotate`: rack-level credentials that would
    /// bypass the gateway entirely.
    RackCredentials,
}

impl ForbiddenForApprovalTokens {
    /// A short phrase for denial messages, e.g. `build update`.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::BuildUpdate => "build update",
            Self::BuildImageRelay => "build image relay",
            Self::ReleaseCreate => "release create",
            Self::ServiceScale => "service scale",
            Self::AppUpdate => "app update",
            Self::AppConfigWrite => "app config write",
            Self::ProcessFileWrite => "process file write",
            Self::RegistryProxy => "registry proxy",
            Self::RackUpdate => "rack update",
            Self::RackCredentials => "minting rack credentials",
        }
    }
}

/// How a route relates to deploying (PRODUCT.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeployAction {
    /// Not part of deploying: plain RBAC.
    None,
    /// `POST objects/{key}`: upload of the source tarball.
    ObjectCreate,
    /// `POST builds`.
    BuildCreate,
    /// `POST builds/import`.
    BuildImport,
    /// `GET builds/{id}` of the approved build.
    BuildRead,
    /// Build log socket of the approved build.
    BuildLogs,
    /// `POST releases/{id}/promote` of the approved release.
    ReleasePromote,
    /// `POST services/{service}/processes`: a one-off process (allow-listed command).
    ProcessRun,
    /// Exec socket into a process started under the approval (allow-listed command).
    ProcessExec,
    /// Stop a process started under the approval (`convox run` cleans up its pod).
    ProcessStop,
    /// The app log socket: plain RBAC, except that an approval-gated token without `log:read`
    /// may follow the approved app's log while its approval is live (`convox deploy` does).
    AppLogs,
    /// Never allowed for approval-gated callers.
    Forbidden(ForbiddenForApprovalTokens),
}

impl DeployAction {
    /// A step of the deploy chain that `convox:deploy:deploy_with_approval` unlocks under a live
    /// approval (PRODUCT.md §4).
    pub const fn is_approval_step(self) -> bool {
        !matches!(self, DeployAction::None | DeployAction::Forbidden(_))
    }

    /// Puts new code on the rack: object upload, build create or import, promote. API tokens
    /// do these only through a deploy approval, whatever their role.
    pub const fn puts_code(self) -> bool {
        matches!(
            self,
            DeployAction::ObjectCreate
                | DeployAction::BuildCreate
                | DeployAction::BuildImport
                | DeployAction::ReleasePromote
        )
    }

    /// Runs or stops processes of the app (allow-listed commands for gated tokens).
    pub const fn is_process_step(self) -> bool {
        matches!(
            self,
            DeployAction::ProcessRun | DeployAction::ProcessExec | DeployAction::ProcessStop
        )
    }

    /// Refused to every API token: changes running code, config or the rack outside the
    /// approval chain.
    pub const fn is_forbidden_for_tokens(self) -> bool {
        matches!(self, DeployAction::Forbidden(_))
    }

    /// A human deploy action: refused when the app's `human_deploys_allowed` is false. These
    /// put new code or images on the rack (upload, build, import, promote, and the bypasses:
    /// build update, image relay, release create, registry push).
    pub const fn is_human_deploy(self) -> bool {
        use ForbiddenForApprovalTokens as F;
        self.puts_code()
            || matches!(
                self,
                DeployAction::Forbidden(
                    F::BuildUpdate | F::BuildImageRelay | F::ReleaseCreate | F::RegistryProxy
                )
            )
    }

    /// Needs MFA verified within `mfa_step_up_window_minutes` when a human does it: every
    /// deploy action and every call that changes running code, config or the rack.
    pub const fn needs_step_up(self) -> bool {
        self.puts_code() || matches!(self, DeployAction::Forbidden(_))
    }
}

/// One rack API route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    /// Method or websocket kind.
    pub method: RouteMethod,
    /// Path pattern relative to the rack root, e.g. `/apps/{app:app}/builds/{id:build}`.
    pub pattern: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Deploy classification.
    pub deploy_action: DeployAction,
}

impl RouteRule {
    /// Whether this is a websocket route.
    pub fn is_socket(&self) -> bool {
        self.method == RouteMethod::Socket
    }

    /// The pattern with parameter kinds removed (`/apps/{app}/builds/{id}`), for messages.
    pub fn display_pattern(&self) -> String {
        let mut out = String::with_capacity(self.pattern.len());
        let (mut in_brace, mut skipping) = (false, false);
        for c in self.pattern.chars() {
            match c {
                '{' => {
                    in_brace = true;
                    out.push(c);
                }
                '}' => {
                    in_brace = false;
                    skipping = false;
                    out.push(c);
                }
                ':' if in_brace => skipping = true,
                _ if skipping => {}
                _ => out.push(c),
            }
        }
        out
    }
}

pub use super::route_table::ROUTES;

/// A matched route with its extracted parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The matched rule.
    pub rule: &'static RouteRule,
    params: Vec<(&'static str, String)>,
    app: Option<AppName>,
    build: Option<BuildId>,
    release: Option<ReleaseId>,
    key: Option<ObjectKey>,
}

impl RouteMatch {
    /// A parameter by its pattern name (`app`, `id`, `key`, `pid`, `service`, `name`, …).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All parameters in path order.
    pub fn params(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.params.iter().map(|(n, v)| (*n, v.as_str()))
    }

    /// The app the route addresses, if any.
    pub fn app(&self) -> Option<&AppName> {
        self.app.as_ref()
    }

    /// The build id in the path, if any.
    pub fn build_id(&self) -> Option<&BuildId> {
        self.build.as_ref()
    }

    /// The release id in the path, if any.
    pub fn release_id(&self) -> Option<&ReleaseId> {
        self.release.as_ref()
    }

    /// The object key in the path, if any.
    pub fn object_key(&self) -> Option<&ObjectKey> {
        self.key.as_ref()
    }

    /// The process id (or service name, for exec) in the path, if any.
    pub fn pid(&self) -> Option<&str> {
        self.param("pid")
    }

    /// The service name in the path, if any.
    pub fn service(&self) -> Option<&str> {
        self.param("service")
    }
}

/// Finds the rule for a request. `method` is the upper-case HTTP method, `is_upgrade` whether
/// the request asks for a websocket upgrade, `path` the raw path (no query string) relative to
/// the rack root. `None` means the gateway does not proxy this call.
pub fn match_route(method: &str, is_upgrade: bool, path: &str) -> Option<RouteMatch> {
    let rest = path.strip_prefix('/')?;
    if path.chars().any(|c| c.is_control() || c == '?' || c == '#') {
        return None;
    }
    let segments: Vec<&str> = rest.split('/').collect();
    ROUTES
        .iter()
        .filter(|rule| rule.method.matches(method, is_upgrade))
        .find_map(|rule| match_pattern(rule, &segments))
}

impl RouteRule {
    /// Matches a request against this rule alone (same rules as [`match_route`]); used to
    /// check that no request matches two rules.
    pub fn try_match(
        &'static self,
        method: &str,
        is_upgrade: bool,
        path: &str,
    ) -> Option<RouteMatch> {
        let rest = path.strip_prefix('/')?;
        if path.chars().any(|c| c.is_control() || c == '?' || c == '#')
            || !self.method.matches(method, is_upgrade)
        {
            return None;
        }
        match_pattern(self, &rest.split('/').collect::<Vec<_>>())
    }
}

fn match_pattern(rule: &'static RouteRule, segments: &[&str]) -> Option<RouteMatch> {
    let pattern: Vec<&'static str> = rule.pattern[1..].split('/').collect();
    let mut m = RouteMatch {
        rule,
        params: Vec::new(),
        app: None,
        build: None,
        release: None,
        key: None,
    };
    for (i, pat) in pattern.iter().enumerate() {
        let Some(open) = pat.strip_prefix('{') else {
            if segments.get(i) != Some(pat) {
                return None;
            }
            continue;
        };
        let (inner, suffix) = open.split_once('}')?;
        let (name, kind) = inner.split_once(':').unwrap_or((inner, ""));
        match kind {
            "key" | "tail" => {
                // The tail starts after a `/`: `/v2/` matches, `/v2` does not.
                segments.get(i)?;
                let tail = segments.get(i..)?.join("/");
                if kind == "key" {
                    m.key = Some(ObjectKey::parse(&tail).ok()?);
                } else if !tail_ok(&tail) {
                    return None;
                }
                m.params.push((name, tail));
                return Some(m);
            }
            _ => {
                let value = segments.get(i)?.strip_suffix(suffix)?;
                if !segment_ok(value) {
                    return None;
                }
                match kind {
                    "app" => m.app = Some(AppName::parse(value).ok()?),
                    "build" => m.build = Some(BuildId::parse(value).ok()?),
                    "release" => m.release = Some(ReleaseId::parse(value).ok()?),
                    _ => {}
                }
                m.params.push((name, value.to_owned()));
            }
        }
    }
    (segments.len() == pattern.len()).then_some(m)
}

/// A single-segment parameter: non-empty, not a dot segment, and only characters that need
/// no escaping and cannot alias another path.
fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:@~+=,".contains(&b))
}

/// A catch-all tail: no dot segments, no backslash, no encoded `.`, `/` or `\`.
fn tail_ok(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    !s.contains('\\')
        && !["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        && !s.split('/').any(|seg| seg == "." || seg == "..")
}
#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
