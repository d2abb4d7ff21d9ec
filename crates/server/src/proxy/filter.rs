//! Response rewriting for secrets: release environments (masked for non-admins, hidden without
//! `convox:env:read`) and external build repositories (which embed the rack password). Env
//! writes are guarded in `release_create`.
//!
//! Filtering goes by what a response *contains*, not by its path: every JSON object with an
//! `env` member is treated as a release (whatever route returned it: `/apps/{app}/releases`,
//! `/system/releases`, or one we have not thought of), and every `repository` member loses its
//! credentials. Routes are only sorted into how strictly their bodies are handled ([`Filter`]);
//! a body the gateway cannot read on a route that must be read is refused (fail closed).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use rgw_core::envmask::{Env, MASKED_VALUE, is_secret_name};
use serde_json::{Map, Value};

/// Largest rack response we buffer to filter (release and build JSON is small).
pub const MAX_FILTERED_BODY: usize = 16 * 1024 * 1024;

/// How a route's successful responses are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Raw byte streams (object data, build exports, resource dumps, container files, the
    /// registry and HTTP proxies): streamed untouched, never buffered. None of them carries a
    /// release object.
    Raw,
    /// Routes whose answers are release or build objects: the body must be JSON (identity or
    /// gzip), or it is refused.
    Strict,
    /// Every other route: JSON bodies that could hold an env or a repository
    /// ([`may_need_rewrite`]) are inspected like [`Filter::Strict`] ones (and refused when they
    /// do not parse); other bodies, such as `ok\n` or a list of apps, pass as they are.
    Inspect,
}

/// Picks the filter for a matched route (method and table pattern, see `rgw_core::rbac`).
/// Unknown patterns get [`Filter::Inspect`], so a route added to the table later is filtered.
pub fn for_route(method: &str, pattern: &str) -> Filter {
    match (method, pattern) {
        (
            "GET" | "POST",
            "/apps/{app:app}/releases" | "/apps/{app:app}/builds" | "/apps/{app:app}/builds/import",
        )
        | ("GET", "/apps/{app:app}/releases/{id:release}" | "/system/releases")
        | ("GET" | "PUT", "/apps/{app:app}/builds/{id:build}") => Filter::Strict,
        (_, "/apps/{app:app}/objects/{key:key}")
        | (_, "/apps/{app:app}/builds/{id:build}.tgz")
        | (_, "/apps/{app:app}/resources/{name}/data")
        | (_, "/apps/{app:app}/processes/{pid}/files")
        | (_, "/v2/{path:tail}")
        | (_, "/custom/http/proxy/{path:tail}") => Filter::Raw,
        _ => Filter::Inspect,
    }
}

/// What the caller may see of release environments.
#[derive(Debug, Clone, Copy)]
pub struct EnvView {
    /// Holds `convox:env:read`; without it envs are emptied.
    pub can_read: bool,
    /// Admins see envs whole.
    pub is_admin: bool,
}

impl EnvView {
    /// Whether masking needs the apps' `secret_env_vars`.
    pub fn needs_secret_names(&self) -> bool {
        self.can_read && !self.is_admin
    }
}

/// Why a body could not be filtered. Each is answered 502: the gateway refuses to pass on
/// what it could not inspect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "the rack's answer is not valid JSON ({0}); the gateway refuses to pass on a body it cannot filter for secrets"
    )]
    NotJson(String),
    #[error(
        "the rack answered this route with a {0} body instead of JSON; the gateway refuses to pass on a body it cannot filter for secrets"
    )]
    UnexpectedText(String),
    #[error(
        "the rack's answer uses Content-Encoding {0}, which the gateway cannot inspect for secrets"
    )]
    UnsupportedEncoding(String),
    #[error("the rack's gzip answer is corrupt or larger than {} MiB once decoded", MAX_FILTERED_BODY >> 20)]
    BadGzip,
    #[error(
        "a release env in the rack's answer is neither text nor a map; the gateway refuses to pass it on"
    )]
    UnknownEnvShape,
}

/// Decodes a buffered body according to its `Content-Encoding` (identity or gzip, bounded).
pub fn decode(body: &[u8], content_encoding: Option<&str>) -> Result<Vec<u8>, FilterError> {
    let encoding = content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "" | "identity" => Ok(body.to_vec()),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            let mut decoder =
                flate2::read::MultiGzDecoder::new(body).take(MAX_FILTERED_BODY as u64 + 1);
            decoder
                .read_to_end(&mut out)
                .map_err(|_| FilterError::BadGzip)?;
            if out.len() > MAX_FILTERED_BODY {
                return Err(FilterError::BadGzip);
            }
            Ok(out)
        }
        other => Err(FilterError::UnsupportedEncoding(
            other.chars().take(40).collect(),
        )),
    }
}

/// A buffered, decoded body sorted out for filtering.
#[derive(Debug)]
pub enum Inspected {
    /// JSON: filter it with [`apply`].
    Json(Value),
    /// Not JSON and allowed to pass (after a password scrub).
    Text,
}

/// Parses a decoded body. JSON-looking or JSON-labelled bodies must parse; text passes only
/// on [`Filter::Inspect`] routes.
pub fn inspect(
    body: &[u8],
    content_type: Option<&str>,
    filter: Filter,
) -> Result<Inspected, FilterError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let labelled_json = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    if labelled_json || matches!(first, Some(b'{' | b'[')) {
        return serde_json::from_slice(body)
            .map(Inspected::Json)
            .map_err(|e| FilterError::NotJson(e.to_string()));
    }
    match filter {
        Filter::Strict if first.is_some() => Err(FilterError::UnexpectedText(
            content_type.unwrap_or("untyped").chars().take(60).collect(),
        )),
        _ => Ok(Inspected::Text),
    }
}

/// Whether a decoded JSON body could hold anything [`apply`] rewrites: an `env` or
/// `repository` member (in any letter case, as Go decodes keys) or a `\u` escape that could
/// spell one. A body without any of them is passed on an [`Filter::Inspect`] route without
/// being parsed (most answers, e.g. `GET /apps`, a third of the proxy's own work otherwise);
/// the rack-password scrub still runs on it.
pub fn may_need_rewrite(body: &[u8]) -> bool {
    if memchr::memmem::find(body, b"\\u").is_some() {
        return true;
    }
    memchr::memchr_iter(b'"', body).any(|at| {
        let rest = &body[at + 1..];
        [&b"env\""[..], &b"repository\""[..]]
            .iter()
            .any(|key| rest.len() >= key.len() && rest[..key.len()].eq_ignore_ascii_case(key))
    })
}

/// The apps whose `secret_env_vars` are needed to mask `value`: each env-bearing object's
/// `app` member, and `path_app` (the app in the request path) for every one of them.
/// `None` in the set stands for "no app known" (global names only).
pub fn apps_to_mask(value: &Value, path_app: Option<&str>) -> BTreeSet<Option<String>> {
    let mut out = BTreeSet::new();
    walk(value, &mut |map| {
        if env_key(map).is_some() {
            let own = map.get("app").and_then(Value::as_str).map(str::to_string);
            if own.is_none() && path_app.is_none() {
                out.insert(None);
            }
            out.extend(own.map(Some));
            out.extend(path_app.map(|a| Some(a.to_string())));
        }
    });
    out
}

/// Extra secret names per app (the key `None` holds the names for objects without an app).
pub type SecretNames = BTreeMap<Option<String>, Vec<String>>;

/// Rewrites `value` in place for `view`: envs emptied, masked or kept; repository
/// credentials removed. Returns whether anything changed.
pub fn apply(
    value: &mut Value,
    view: EnvView,
    path_app: Option<&str>,
    names: &SecretNames,
) -> Result<bool, FilterError> {
    let mut changed = false;
    let mut error = None;
    walk_mut(value, &mut |map| {
        if let Some(Value::String(repo)) = map.get_mut("repository") {
            let redacted = redact_userinfo(repo);
            if redacted != *repo {
                *repo = redacted;
                changed = true;
            }
        }
        let Some(key) = env_key(map) else { return };
        let mut extra: Vec<String> = Vec::new();
        for app in [
            map.get("app").and_then(Value::as_str).map(str::to_string),
            path_app.map(str::to_string),
        ] {
            if let Some(list) = names.get(&app) {
                extra.extend(list.iter().cloned());
            }
        }
        if map.get("app").is_none() && path_app.is_none() {
            extra.extend(names.get(&None).into_iter().flatten().cloned());
        }
        let Some(env) = map.get_mut(&key) else { return };
        match mask_env(env, view, &extra) {
            Ok(c) => changed |= c,
            Err(e) => error = Some(e),
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(changed),
    }
}

fn mask_env(env: &mut Value, view: EnvView, extra: &[String]) -> Result<bool, FilterError> {
    if view.is_admin && view.can_read {
        return Ok(false);
    }
    let before = env.clone();
    match env {
        Value::Null => {}
        Value::String(text) if !view.can_read => text.clear(),
        Value::String(text) => *text = Env::parse(text).masked(extra).render(),
        Value::Object(vars) if !view.can_read => vars.clear(),
        Value::Object(vars) => {
            for (k, v) in vars.iter_mut() {
                let empty = v.is_null() || v.as_str() == Some("");
                if !empty && is_secret_name(k, extra) {
                    *v = Value::String(MASKED_VALUE.to_string());
                }
            }
        }
        _ => return Err(FilterError::UnknownEnvShape),
    }
    Ok(*env != before)
}

/// The object's env member (`env`, in any letter case: Go decodes JSON keys that way).
fn env_key(map: &Map<String, Value>) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case("env")).cloned()
}

fn walk(value: &Value, f: &mut dyn FnMut(&Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            f(map);
            map.values().for_each(|v| walk(v, f));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, f)),
        _ => {}
    }
}

fn walk_mut(value: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match value {
        Value::Object(map) => {
            f(map);
            map.values_mut().for_each(|v| walk_mut(v, f));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk_mut(v, f)),
        _ => {}
    }
}

/// Serialises a rewritten body the way the rack does (2-space indent, trailing newline).
pub fn render(value: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Removes any occurrence of the rack password from a body (defence in depth: the rack has
/// more than one way to echo a URL with credentials). A body without one, the usual case, is
/// returned as it is, without a copy.
pub fn scrub(body: Vec<u8>, rack_password: &str) -> Vec<u8> {
    let needle = rack_password.as_bytes();
    if needle.len() < 4 {
        return body;
    }
    let finder = memchr::memmem::Finder::new(needle);
    let mut hits = finder.find_iter(&body).peekable();
    if hits.peek().is_none() {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut from = 0;
    for at in hits {
        // `find_iter` reports non-overlapping matches, left to right.
        out.extend_from_slice(&body[from..at]);
        out.extend_from_slice(b"********");
        from = at + needle.len();
    }
    out.extend_from_slice(&body[from..]);
    out
}

/// Whether a repository URL carries credentials (a password in its userinfo).
pub fn has_credentials(repo: &str) -> bool {
    redact_userinfo(repo) != repo
}

fn redact_userinfo(repo: &str) -> String {
    match url::Url::parse(repo) {
        Ok(mut u) if u.password().is_some_and(|p| p != "********") => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        Ok(_) => repo.to_string(),
        Err(_) if repo.contains('@') => "[redacted]".to_string(),
        Err(_) => repo.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_every_occurrence_of_the_rack_password_and_nothing_else() {
        for (body, expected) in [
            ("no secret here", "no secret here"),
            ("hunter2pw", "********"),
            (
                "a hunter2pw b hunter2pwhunter2pw c",
                "a ******** b **************** c",
            ),
            (
                "https://convox:hunter2pw@rack",
                "https://convox:********@rack",
            ),
            ("hunter2p", "hunter2p"),
        ] {
            let out = scrub(body.as_bytes().to_vec(), "hunter2pw");
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{body}");
        }
        // Too short a password to scrub safely: the body passes as it is.
        assert_eq!(scrub(b"abc abc".to_vec(), "abc"), b"abc abc");
    }

    const USER: EnvView = EnvView {
        can_read: true,
        is_admin: false,
    };
    const BLIND: EnvView = EnvView {
        can_read: false,
        is_admin: false,
    };
    const ADMIN: EnvView = EnvView {
        can_read: true,
        is_admin: true,
    };

    fn names(app: &str, list: &[&str]) -> SecretNames {
        let mut m = SecretNames::new();
        m.insert(
            Some(app.to_string()),
            list.iter().map(|s| s.to_string()).collect(),
        );
        m
    }

    fn filtered(body: &str, view: EnvView, path_app: Option<&str>, n: &SecretNames) -> Value {
        let mut v: Value = serde_json::from_str(body).unwrap();
        apply(&mut v, view, path_app, n).unwrap();
        v
    }

    #[test]
    fn release_env_is_masked_for_non_admins_hidden_without_env_read_and_whole_for_admins() {
        let body = r#"[{"id":"RABCDEFGHIJ","app":"a","env":"DB_PASSWORD=x\nPORT=1\nLICENSE=abc"}]"#;
        let n = names("a", &["LICENSE"]);
        assert_eq!(
            filtered(body, USER, Some("a"), &n)[0]["env"],
            "DB_PASSWORD=********\nPORT=1\nLICENSE=********"
        );
        assert_eq!(filtered(body, BLIND, Some("a"), &n)[0]["env"], "");
        assert_eq!(
            filtered(body, ADMIN, Some("a"), &n)[0]["env"],
            "DB_PASSWORD=x\nPORT=1\nLICENSE=abc"
        );
    }

    #[test]
    fn envs_are_found_by_content_wherever_they_sit_and_use_their_own_apps_names() {
        // `/system/releases`: releases of several apps, no app in the path; a nested one and
        // one whose key is capitalised.
        let body = r#"[
            {"id":"RAAAAAAAAAA","app":"a","env":"LICENSE=1\nPORT=2"},
            {"id":"RBBBBBBBBBB","app":"b","Env":"LICENSE=1\nSTRIPE_SECRET=s"},
            {"wrapper":{"release":{"env":"API_TOKEN=t"}}}
        ]"#;
        let v: Value = serde_json::from_str(body).unwrap();
        let apps = apps_to_mask(&v, None);
        assert!(apps.contains(&Some("a".into())) && apps.contains(&Some("b".into())));
        assert!(apps.contains(&None));
        let n = names("a", &["LICENSE"]);
        let out = filtered(body, USER, None, &n);
        assert_eq!(out[0]["env"], "LICENSE=********\nPORT=2");
        assert_eq!(out[1]["Env"], "LICENSE=1\nSTRIPE_SECRET=********");
        assert_eq!(out[2]["wrapper"]["release"]["env"], "API_TOKEN=********");
    }

    #[test]
    fn env_maps_are_masked_and_other_env_shapes_are_refused() {
        let out = filtered(
            r#"{"env":{"DB_PASSWORD":"x","PORT":"1"}}"#,
            USER,
            None,
            &SecretNames::new(),
        );
        assert_eq!(out["env"]["DB_PASSWORD"], "********");
        assert_eq!(out["env"]["PORT"], "1");
        let mut v: Value = serde_json::from_str(r#"{"env":["DB_PASSWORD=x"]}"#).unwrap();
        assert_eq!(
            apply(&mut v, USER, None, &SecretNames::new()),
            Err(FilterError::UnknownEnvShape)
        );
    }

    #[test]
    fn external_build_repositories_lose_the_rack_password() {
        let body =
            r#"{"id":"BAAAAAAAAAA","repository":"https://convox:s3cretpw@api.rack.example/app"}"#;
        let out = filtered(body, ADMIN, None, &SecretNames::new());
        assert_eq!(
            out["repository"],
            "https://convox:********@api.rack.example/app"
        );
        assert!(has_credentials("https://convox:pw@h/x"));
        assert!(!has_credentials("https://h/x"));
    }

    #[test]
    fn only_bodies_that_could_name_an_env_or_repository_need_parsing() {
        for body in [
            &br#"[{"name":"myapp","status":"running"}]"#[..],
            br#"{"environment":"x","envs":1,"repositoryx":2}"#,
            b"ok\n",
        ] {
            assert!(!may_need_rewrite(body), "{}", String::from_utf8_lossy(body));
        }
        for body in [
            &br#"{"env":{"A":"1"}}"#[..],
            br#"[{"ENV":"A=1"}]"#,
            br#"{"Env" :"A=1"}"#,
            br#"{"Repository":"https://convox:pw@h/x"}"#,
            br#"{"\u0065nv":"A=1"}"#,
            br#"{"x":"\u0041"}"#,
        ] {
            assert!(may_need_rewrite(body), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn bodies_that_cannot_be_read_are_refused_and_text_passes_only_where_allowed() {
        assert!(matches!(
            inspect(b"{not json", Some("application/json"), Filter::Inspect),
            Err(FilterError::NotJson(_))
        ));
        assert!(matches!(
            inspect(b"[1,", None, Filter::Inspect),
            Err(FilterError::NotJson(_))
        ));
        assert!(matches!(
            inspect(b"ok\n", Some("text/plain"), Filter::Strict),
            Err(FilterError::UnexpectedText(_))
        ));
        assert!(matches!(
            inspect(b"ok\n", Some("text/plain"), Filter::Inspect),
            Ok(Inspected::Text)
        ));
    }

    #[test]
    fn gzip_bodies_are_decoded_and_unknown_encodings_refused() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"env":"A=1"}"#).unwrap();
        let compressed = gz.finish().unwrap();
        assert_eq!(
            decode(&compressed, Some("gzip")).unwrap(),
            br#"{"env":"A=1"}"#
        );
        assert_eq!(decode(b"x", None).unwrap(), b"x");
        assert_eq!(decode(b"garbage", Some("gzip")), Err(FilterError::BadGzip));
        assert!(matches!(
            decode(b"x", Some("br")),
            Err(FilterError::UnsupportedEncoding(_))
        ));
    }

    #[test]
    fn routes_pick_their_filters() {
        assert_eq!(for_route("GET", "/system/releases"), Filter::Strict);
        assert_eq!(for_route("GET", "/apps/{app:app}/releases"), Filter::Strict);
        assert_eq!(
            for_route("GET", "/apps/{app:app}/builds/{id:build}.tgz"),
            Filter::Raw
        );
        assert_eq!(
            for_route("POST", "/apps/{app:app}/releases/{id:release}/promote"),
            Filter::Inspect
        );
        assert_eq!(for_route("GET", "/apps"), Filter::Inspect);
    }
}
