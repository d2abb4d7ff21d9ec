//! `POST /apps/{app}/releases`, the one rack call that writes a release env. `convox env set`
//! reads the (masked) env, changes one key and writes the whole env back, so the gateway puts
//! the stored value back wherever the write carries the mask placeholder, and refuses env
//! writes from callers who may not read the env (they would wipe values they never saw). The
//! rack reads `env` and `parent-release` from an urlencoded form, the query string (Go's
//! `FormValue`) or a multipart body; only the first is handled, so the others are refused.

use axum::body::Body;
use axum::http::{StatusCode, header};
use http_body_util::BodyExt;
use rgw_core::ReleaseId;
use rgw_core::envmask::{Env, UnmaskError};

use super::form::{Form, FormError};
use super::forward::Failure;
use crate::auth::Principal;
use crate::rack::RackClient;

/// Largest env-write form we buffer to restore masked values.
const MAX_FORM: usize = 1024 * 1024;

/// A release-create form, parsed once (strictly, see `form`) so every check sees the fields
/// the rack will.
#[derive(Debug)]
pub struct ReleaseForm {
    form: Form,
}

impl ReleaseForm {
    /// Parses an `application/x-www-form-urlencoded` body; `env` and `parent-release` may
    /// appear at most once.
    pub fn parse(body: &[u8]) -> Result<ReleaseForm, FormError> {
        Form::parse(body, &["env", "parent-release"]).map(|form| ReleaseForm { form })
    }

    /// A field's value, if present (possibly empty: `env=` is an env that removes every
    /// variable, not an absent one).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.get(name)
    }

    /// Whether the `env` field carries the mask placeholder anywhere.
    pub fn env_has_masked_values(&self) -> bool {
        self.field("env")
            .is_some_and(|e| Env::parse(e).has_masked_values())
    }

    /// The form as the rack is sent it when nothing needs restoring.
    pub fn encode(&self) -> Vec<u8> {
        self.form.encode()
    }

    /// Restores stored values where `env` carries masked placeholders; returns the new body.
    pub fn unmask(&self, stored_env: &str) -> Result<Vec<u8>, UnmaskError> {
        let restored = match self.field("env") {
            Some(env) => Some(Env::parse(env).unmask(&Env::parse(stored_env))?.render()),
            None => None,
        };
        Ok(self
            .form
            .encode_with(|k, _| (k == "env").then(|| restored.clone()).flatten()))
    }
}

/// Whether a query string names a release-create field that must only travel
/// in the form body (`env`, `parent-release`). Go's `FormValue` reads the query string too,
/// so the rack would honour them there.
pub fn query_names_release_field(query: &str) -> Option<&'static str> {
    let keys: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    ["env", "parent-release"]
        .into_iter()
        .find(|name| keys.iter().any(|k| k.eq_ignore_ascii_case(name)))
}

/// `POST /apps/{app}/releases`: a caller who read a masked env and writes it back must not
/// overwrite secrets with the placeholder, and callers who may not read the env may not
/// write one either (they would wipe values they never saw). The rack reads `env` and
/// `parent-release` from a urlencoded form *or* the query string (Go's `FormValue`) *or* a
/// multipart body: only the first is handled here, so the others are refused.
pub(super) async fn guard(
    rack: &RackClient,
    principal: &Principal,
    app: &str,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Result<Body, Failure> {
    let bad = |m: String| Failure::new(StatusCode::BAD_REQUEST, m);
    if let Some(name) = parts.uri.query().and_then(query_names_release_field) {
        return Err(bad(format!(
            "send {name} as a form field in the body of POST /apps/{app}/releases, not in the query string"
        )));
    }
    if let Some(name) = ["env", "parent-release"]
        .into_iter()
        .find(|n| parts.headers.contains_key(*n))
    {
        return Err(bad(format!(
            "send {name} as a form field in the body of POST /apps/{app}/releases, not as a header"
        )));
    }
    let unsupported = |m: &str| Failure::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, m.to_string());
    if parts
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return Err(unsupported(
            "release create bodies must not be compressed; send a plain application/x-www-form-urlencoded form",
        ));
    }
    let form = http_body_util::Limited::new(body, MAX_FORM)
        .collect()
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "release create bodies are limited to 1 MiB",
            )
        })?
        .to_bytes();
    let form_typed = match parts.headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            }),
    };
    // An empty body carries no fields whatever its type (the SDK labels empty bodies
    // application/octet-stream).
    if !form_typed && !form.is_empty() {
        return Err(unsupported(
            "release create takes an application/x-www-form-urlencoded form (multipart and other bodies are refused)",
        ));
    }
    let parsed = ReleaseForm::parse(&form).map_err(|e| bad(e.to_string()))?;
    let parent = parsed
        .field("parent-release")
        .filter(|p| !p.is_empty())
        .map(ReleaseId::parse)
        .transpose()
        .map_err(|e| bad(format!("parent-release: {e}")))?;
    // Never the caller's bytes: the rack gets exactly the fields that were checked.
    if parsed.field("env").is_none() {
        return Ok(Body::from(parsed.encode()));
    }
    if !super::forward::env_view(principal).can_read {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "writing a release env requires convox:env:read, so that values you cannot see are not wiped",
        ));
    }
    if !parsed.env_has_masked_values() {
        return Ok(Body::from(parsed.encode()));
    }
    let stored = stored_env(rack, app, parent.as_ref()).await?;
    parsed
        .unmask(&stored)
        .map(Body::from)
        .map_err(|e| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

/// The env of the parent release (or the newest release) straight from the rack.
async fn stored_env(
    rack: &RackClient,
    app: &str,
    parent: Option<&ReleaseId>,
) -> Result<String, Failure> {
    let path = match parent {
        Some(id) => format!("/apps/{app}/releases/{id}"),
        None => format!("/apps/{app}/releases?limit=1"),
    };
    let value = super::forward::rack_json(rack, &path, "the current env").await?;
    let release = match &value {
        serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
        other => other.clone(),
    };
    Ok(release
        .get("env")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_write_with_masked_values_keeps_the_stored_ones() {
        let form =
            ReleaseForm::parse(b"env=DB_PASSWORD%3D%2a%2A*%2A*%2A**%0APORT%3D2&parent-release=RA")
                .unwrap();
        assert!(form.env_has_masked_values());
        let out = ReleaseForm::parse(&form.unmask("DB_PASSWORD=hunter2\nPORT=1").unwrap()).unwrap();
        assert_eq!(out.field("env").unwrap(), "DB_PASSWORD=hunter2\nPORT=2");
        assert_eq!(out.field("parent-release").unwrap(), "RA");
        assert!(
            !ReleaseForm::parse(b"env=PORT%3D2")
                .unwrap()
                .env_has_masked_values()
        );
        assert_eq!(ReleaseForm::parse(b"env=").unwrap().field("env"), Some(""));
        assert_eq!(
            ReleaseForm::parse(b"env=A%3D1&env=B%3D2").unwrap_err(),
            FormError::Duplicate("env")
        );
        assert_eq!(query_names_release_field("limit=1&ENV=x"), Some("env"));
        assert_eq!(query_names_release_field("limit=1"), None);
    }
}
