//! Permission strings `<scope>:<resource>:<action>` and the catalogue of every known one.
//!
//! Wildcard policy: there are no wildcards in stored or checked permissions. A role's
//! permissions are an explicit list (admin's is the whole catalogue). User-supplied lists
//! (API token scopes) may use `*` as a whole segment as a *shorthand* that
//! [`Permission::expand`] turns into the matching catalogue entries at parse time; a pattern
//! that matches nothing is an error. So a token's stored scope is always a concrete, validated
//! set, and a permission added to the catalogue later is never granted to an old token by
//! accident.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One known permission, e.g. `convox:build:create`. Only catalogue entries can exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(&'static str);

/// Why a permission string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// Not three `:`-separated segments of `a-z`, digits, `-` and `_`.
    #[error(
        "invalid permission {0:?}: a permission is <scope>:<resource>:<action>, e.g. convox:build:create; valid ones are listed in the permission catalogue (rgw_core::rbac::KNOWN_PERMISSIONS), or give the token a role instead"
    )]
    Malformed(String),
    /// Well formed but not in the catalogue.
    #[error(
        "unknown permission {0:?}; valid ones are listed in the permission catalogue (rgw_core::rbac::KNOWN_PERMISSIONS), or give the token a role instead"
    )]
    Unknown(String),
    /// A `*` pattern that matches no known permission.
    #[error("permission pattern {0:?} matches no known permission")]
    NoMatch(String),
}

macro_rules! permissions {
    ($( $name:ident = $s:literal; )*) => {
        impl Permission {
            $(
                #[doc = concat!("`", $s, "`")]
                pub const $name: Permission = Permission($s);
            )*
        }

        /// Every permission the gateway knows, in catalogue order.
        pub const KNOWN_PERMISSIONS: &[Permission] = &[ $( Permission::$name ),* ];
    };
}

permissions! {
    // Gateway: deploy approvals (the seed's three are `create`, `approve` and
    // `convox:deploy:deploy_with_approval`, spelled exactly).
    DEPLOY_APPROVAL_REQUEST_CREATE = "gateway:deploy-approval-request:create";
    DEPLOY_APPROVAL_REQUEST_READ = "gateway:deploy-approval-request:read";
    DEPLOY_APPROVAL_REQUEST_APPROVE = "gateway:deploy-approval-request:approve";
    DEPLOY_APPROVAL_REQUEST_REJECT = "gateway:deploy-approval-request:reject";
    // Gateway administration.
    USER_READ = "gateway:user:read";
    USER_MANAGE = "gateway:user:manage";
    API_TOKEN_READ = "gateway:api-token:read";
    API_TOKEN_MANAGE = "gateway:api-token:manage";
    SETTING_READ = "gateway:setting:read";
    SETTING_MANAGE = "gateway:setting:manage";
    AUDIT_READ = "gateway:audit:read";
    AUDIT_EXPORT = "gateway:audit:export";
    SESSION_READ = "gateway:session:read";
    SESSION_REVOKE = "gateway:session:revoke";
    JOB_READ = "gateway:job:read";
    JOB_MANAGE = "gateway:job:manage";
    // Convox: deploy through approvals only.
    DEPLOY_WITH_APPROVAL = "convox:deploy:deploy_with_approval";
    // Convox rack API.
    APP_LIST = "convox:app:list";
    APP_READ = "convox:app:read";
    APP_CREATE = "convox:app:create";
    APP_UPDATE = "convox:app:update";
    APP_DELETE = "convox:app:delete";
    APP_RESTART = "convox:app:restart";
    BUILD_LIST = "convox:build:list";
    BUILD_READ = "convox:build:read";
    BUILD_CREATE = "convox:build:create";
    BUILD_UPDATE = "convox:build:update";
    BUILD_IMPORT = "convox:build:import";
    BUILD_EXPORT = "convox:build:export";
    RELEASE_LIST = "convox:release:list";
    RELEASE_READ = "convox:release:read";
    RELEASE_CREATE = "convox:release:create";
    RELEASE_PROMOTE = "convox:release:promote";
    ENV_READ = "convox:env:read";
    ENV_SET = "convox:env:set";
    OBJECT_READ = "convox:object:read";
    OBJECT_CREATE = "convox:object:create";
    OBJECT_DELETE = "convox:object:delete";
    PROCESS_LIST = "convox:process:list";
    PROCESS_READ = "convox:process:read";
    PROCESS_START = "convox:process:start";
    PROCESS_EXEC = "convox:process:exec";
    PROCESS_STOP = "convox:process:stop";
    LOG_READ = "convox:log:read";
    SERVICE_LIST = "convox:service:list";
    SERVICE_SCALE = "convox:service:scale";
    SERVICE_RESTART = "convox:service:restart";
    INSTANCE_LIST = "convox:instance:list";
    INSTANCE_READ = "convox:instance:read";
    INSTANCE_MANAGE = "convox:instance:manage";
    INSTANCE_SHELL = "convox:instance:shell";
    RACK_READ = "convox:rack:read";
    RACK_UPDATE = "convox:rack:update";
    RACK_ADMIN = "convox:rack:admin";
    RESOURCE_READ = "convox:resource:read";
    RESOURCE_MANAGE = "convox:resource:manage";
    RESOURCE_CONSOLE = "convox:resource:console";
    CERTIFICATE_READ = "convox:certificate:read";
    CERTIFICATE_MANAGE = "convox:certificate:manage";
    REGISTRY_READ = "convox:registry:read";
    REGISTRY_MANAGE = "convox:registry:manage";
}

fn well_formed(s: &str) -> bool {
    let segs: Vec<&str> = s.split(':').collect();
    segs.len() == 3
        && segs.iter().all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

impl Permission {
    /// Parses one exact permission; it must be in [`KNOWN_PERMISSIONS`]. `*` is not accepted
    /// here (see [`Permission::expand`]).
    pub fn parse(s: &str) -> Result<Self, PermissionError> {
        if let Some(p) = KNOWN_PERMISSIONS.iter().find(|p| p.0 == s) {
            return Ok(*p);
        }
        if well_formed(s) {
            Err(PermissionError::Unknown(s.to_owned()))
        } else {
            Err(PermissionError::Malformed(s.chars().take(80).collect()))
        }
    }

    /// Expands a pattern in which any whole segment may be `*` (e.g. `convox:app:*`) into the
    /// catalogue entries it matches. A pattern without `*` behaves like [`Permission::parse`].
    pub fn expand(pattern: &str) -> Result<Vec<Self>, PermissionError> {
        if !pattern.contains('*') {
            return Self::parse(pattern).map(|p| vec![p]);
        }
        let pat: Vec<&str> = pattern.split(':').collect();
        let shape_ok = pat.len() == 3
            && pat
                .iter()
                .all(|seg| *seg == "*" || (!seg.is_empty() && well_formed(&format!("{seg}:x:x"))));
        if !shape_ok {
            return Err(PermissionError::Malformed(
                pattern.chars().take(80).collect(),
            ));
        }
        let matched: Vec<Self> = KNOWN_PERMISSIONS
            .iter()
            .copied()
            .filter(|p| {
                p.0.split(':')
                    .zip(&pat)
                    .all(|(seg, want)| *want == "*" || seg == *want)
            })
            .collect();
        if matched.is_empty() {
            Err(PermissionError::NoMatch(pattern.to_owned()))
        } else {
            Ok(matched)
        }
    }

    /// Parses a user-supplied list of permissions or `*` patterns into a concrete set.
    pub fn parse_set<I, S>(items: I) -> Result<BTreeSet<Self>, PermissionError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for item in items {
            set.extend(Self::expand(item.as_ref().trim())?);
        }
        Ok(set)
    }

    /// The permission string.
    pub const fn as_str(&self) -> &'static str {
        self.0
    }

    fn segment(&self, i: usize) -> &'static str {
        self.0.split(':').nth(i).unwrap_or("")
    }

    /// `gateway` or `convox`.
    pub fn scope(&self) -> &'static str {
        self.segment(0)
    }

    /// The resource, e.g. `build`.
    pub fn resource(&self) -> &'static str {
        self.segment(1)
    }

    /// The action, e.g. `create`.
    pub fn action(&self) -> &'static str {
        self.segment(2)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for Permission {
    type Err = PermissionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Permission {
    type Error = PermissionError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn the_seed_permissions_are_spelled_exactly() {
        for s in [
            "gateway:deploy-approval-request:create",
            "gateway:deploy-approval-request:approve",
            "convox:deploy:deploy_with_approval",
        ] {
            assert_eq!(Permission::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn every_catalogue_entry_is_well_formed_and_unique() {
        let mut seen = BTreeSet::new();
        for p in KNOWN_PERMISSIONS {
            assert!(well_formed(p.as_str()), "{p} is malformed");
            assert!(
                matches!(p.scope(), "gateway" | "convox"),
                "{p} has an unknown scope"
            );
            assert!(seen.insert(p.as_str()), "{p} is listed twice");
        }
    }

    #[rstest]
    #[case("convox:build:destroy", "unknown permission")]
    #[case("convox:build", "invalid permission")]
    #[case("Convox:build:create", "invalid permission")]
    #[case("convox:build:create:extra", "invalid permission")]
    #[case("", "invalid permission")]
    #[case("*", "invalid permission")]
    #[case("convox:*:create", "invalid permission")]
    fn bad_permissions_are_refused_with_a_hint(#[case] input: &str, #[case] prefix: &str) {
        let err = Permission::parse(input).unwrap_err().to_string();
        assert!(err.starts_with(prefix), "{err}");
        assert!(err.contains("KNOWN_PERMISSIONS"), "{err}");
    }

    #[test]
    fn wildcard_patterns_expand_to_catalogue_entries() {
        let app = Permission::expand("convox:app:*").unwrap();
        assert!(app.contains(&Permission::APP_UPDATE));
        assert!(app.iter().all(|p| p.resource() == "app"));
        assert_eq!(
            Permission::expand("*:*:*").unwrap().len(),
            KNOWN_PERMISSIONS.len()
        );
        assert_eq!(
            Permission::expand("convox:nothing:*"),
            Err(PermissionError::NoMatch("convox:nothing:*".into()))
        );
        assert!(matches!(
            Permission::expand("convox:app*:read"),
            Err(PermissionError::Malformed(_))
        ));
    }

    #[test]
    fn a_token_scope_list_parses_into_a_concrete_set() {
        let set = Permission::parse_set(["convox:app:read", " convox:process:* "]).unwrap();
        assert!(set.contains(&Permission::APP_READ));
        assert!(set.contains(&Permission::PROCESS_EXEC));
        assert!(Permission::parse_set(["convox:app:read", "nope:nope:nope"]).is_err());
    }

    #[test]
    fn deserialising_validates_against_the_catalogue() {
        assert!(serde_json::from_str::<Permission>("\"convox:app:fly\"").is_err());
        assert_eq!(
            serde_json::from_str::<Permission>("\"convox:app:read\"").unwrap(),
            Permission::APP_READ
        );
    }
}
