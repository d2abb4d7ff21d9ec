//! Response and request rewriting for routes that carry secrets: release environments (masked
//! for non-admins, hidden without `convox:env:read`), external build repositories (which embed
//! the rack password), and env writes that send a masked value back.

use rgw_core::envmask::{Env, UnmaskError};
use serde_json::Value;

/// Largest rack response we buffer to filter (release and build JSON is small).
pub const MAX_FILTERED_BODY: usize = 16 * 1024 * 1024;

/// Which rewriting a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    None,
    /// Release objects (list, get, create): env filtering.
    Releases,
    /// Build objects: credential redaction in `repository`.
    Builds,
}

/// Picks the filter for a rack path (relative to the rack root).
pub fn for_path(path: &str) -> Filter {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["apps", _, "releases"] | ["apps", _, "releases", _] => Filter::Releases,
        ["apps", _, "builds"] | ["apps", _, "builds", _] => Filter::Builds,
        _ => Filter::None,
    }
}

/// What the caller may see of release environments.
#[derive(Debug, Clone)]
pub struct EnvView {
    pub can_read: bool,
    pub is_admin: bool,
    pub extra_secret_names: Vec<String>,
}

/// Rewrites a JSON body (object or array of objects). Returns `None` when the body is not
/// JSON, in which case it is passed on unchanged after a password scrub.
pub fn rewrite_json(
    body: &[u8],
    filter: Filter,
    view: &EnvView,
    rack_password: &str,
) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let items: Vec<&mut Value> = match &mut value {
        Value::Array(items) => items.iter_mut().collect(),
        v @ Value::Object(_) => vec![v],
        _ => return None,
    };
    for item in items {
        let Value::Object(map) = item else { continue };
        match filter {
            Filter::Releases => {
                if let Some(Value::String(env)) = map.get_mut("env") {
                    if !view.can_read {
                        *env = String::new();
                    } else if !view.is_admin {
                        *env = Env::parse(env).masked(&view.extra_secret_names).render();
                    }
                }
            }
            Filter::Builds => {
                if let Some(Value::String(repo)) = map.get_mut("repository") {
                    *repo = redact_userinfo(repo);
                }
            }
            Filter::None => {}
        }
    }
    let mut out = serde_json::to_vec_pretty(&value).ok()?;
    out.push(b'\n');
    Some(scrub(&out, rack_password))
}

/// Removes any occurrence of the rack password from a body (defence in depth: the rack has
/// more than one way to echo a URL with credentials).
pub fn scrub(body: &[u8], rack_password: &str) -> Vec<u8> {
    let needle = rack_password.as_bytes();
    if needle.len() < 4 {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(needle) {
            out.extend_from_slice(b"********");
            i += needle.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

fn redact_userinfo(repo: &str) -> String {
    match url::Url::parse(repo) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        Ok(_) => repo.to_string(),
        Err(_) if repo.contains('@') => "[redacted]".to_string(),
        Err(_) => repo.to_string(),
    }
}

/// Restores stored values where an env write (form field `env`) carries masked placeholders.
/// Returns the new form body, or `None` when nothing needed restoring.
pub fn unmask_form(form: &[u8], stored_env: &str) -> Result<Option<Vec<u8>>, UnmaskError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form).into_owned().collect();
    let Some((_, env_text)) = pairs.iter().find(|(k, _)| k == "env") else {
        return Ok(None);
    };
    let env = Env::parse(env_text);
    if !env.has_masked_values() {
        return Ok(None);
    }
    let restored = env.unmask(&Env::parse(stored_env))?.render();
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        if k == "env" {
            ser.append_pair(k, &restored);
        } else {
            ser.append_pair(k, v);
        }
    }
    Ok(Some(ser.finish().into_bytes()))
}

/// The form's `parent-release` field, if any.
pub fn form_field(form: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(form)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(can_read: bool, is_admin: bool) -> EnvView {
        EnvView {
            can_read,
            is_admin,
            extra_secret_names: vec!["LICENSE".into()],
        }
    }

    #[test]
    fn release_env_is_masked_for_non_admins_hidden_without_env_read_and_whole_for_admins() {
        let body = br#"[{"id":"RABCDEFGHIJ","env":"DB_PASSWORD=x\nPORT=1\nLICENSE=abc"}]"#;
        let masked = rewrite_json(body, Filter::Releases, &view(true, false), "rackpw").unwrap();
        let v: Value = serde_json::from_slice(&masked).unwrap();
        assert_eq!(
            v[0]["env"],
            "DB_PASSWORD=********\nPORT=1\nLICENSE=********"
        );
        let hidden = rewrite_json(body, Filter::Releases, &view(false, false), "rackpw").unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&hidden).unwrap()[0]["env"],
            ""
        );
        let admin = rewrite_json(body, Filter::Releases, &view(true, true), "rackpw").unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&admin).unwrap()[0]["env"],
            "DB_PASSWORD=x\nPORT=1\nLICENSE=abc"
        );
    }

    #[test]
    fn external_build_repositories_lose_the_rack_password() {
        let body = br#"{"id":"B1","repository":"https://convox:s3cretpw@api.rack.example/app"}"#;
        let out = rewrite_json(body, Filter::Builds, &view(true, true), "s3cretpw").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("s3cretpw"), "{text}");
        assert!(text.contains("https://convox:********@api.rack.example/app"));
    }

    #[test]
    fn an_env_write_with_masked_values_keeps_the_stored_ones() {
        let form = b"env=DB_PASSWORD%3D********%0APORT%3D2&parent-release=RA";
        let out = unmask_form(form, "DB_PASSWORD=hunter2\nPORT=1")
            .unwrap()
            .unwrap();
        let env = form_field(&out, "env").unwrap();
        assert_eq!(env, "DB_PASSWORD=hunter2\nPORT=2");
        assert_eq!(form_field(&out, "parent-release").unwrap(), "RA");
        assert!(unmask_form(b"env=PORT%3D2", "PORT=1").unwrap().is_none());
    }

    #[test]
    fn paths_pick_their_filters() {
        assert_eq!(for_path("/apps/a/releases"), Filter::Releases);
        assert_eq!(for_path("/apps/a/releases/RX"), Filter::Releases);
        assert_eq!(for_path("/apps/a/releases/RX/promote"), Filter::None);
        assert_eq!(for_path("/apps/a/builds/BX"), Filter::Builds);
        assert_eq!(for_path("/apps/a/builds/BX/logs"), Filter::None);
        assert_eq!(for_path("/apps/a/processes"), Filter::None);
    }
}
