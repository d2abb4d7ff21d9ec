//! Manifest checks of the gate (PRODUCT.md §5): at build create the uploaded tarball is read
//! back from the rack as a stream (never to disk, never whole in memory) and the manifest in it
//! checked; at promote the release's manifest — the exact text that will run — is checked
//! again. Both use the approved commit from the database, never a client-supplied value.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use futures_util::TryStreamExt;
use rgw_core::GitSha;
use rgw_core::approval::DeployDenial;
use rgw_core::manifest::{ArchiveLimits, ManifestPath, check_images, read_manifest};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::bind::Bound;
use super::{Ctx, GateError};

/// The image rules of the app: `None` when `manifest_validation_enabled` is off.
pub(crate) async fn patterns(ctx: &Ctx<'_>) -> Result<Option<BTreeMap<String, String>>, GateError> {
    let app = Some(ctx.app.as_str());
    if !crate::settings::bool_setting(ctx.state, "manifest_validation_enabled", app).await? {
        return Ok(None);
    }
    Ok(Some(
        crate::settings::resolve(ctx.state, "service_image_patterns", app)
            .await?
            .as_map(),
    ))
}

fn rejected(bound: &Bound, reason: impl std::fmt::Display) -> GateError {
    DeployDenial::ManifestRejected {
        id: bound.id,
        reason: reason.to_string(),
    }
    .into()
}

/// Reads `manifest_path` out of the object at `object_url` on the rack and checks its images.
pub(crate) async fn check_upload(
    ctx: &Ctx<'_>,
    bound: &Bound,
    object_url: &str,
    manifest_path: Option<&str>,
    patterns: &BTreeMap<String, String>,
) -> Result<(), GateError> {
    let path = match manifest_path {
        None | Some("") => ManifestPath::default(),
        Some(p) => ManifestPath::parse(p)
            .map_err(|e| rejected(bound, format!("manifest path {p:?}: {e}")))?,
    };
    let prefix = format!("object://{}/", ctx.app);
    let key = object_url.strip_prefix(&prefix).ok_or_else(|| {
        rejected(
            bound,
            format!("object {object_url} is not an object of app {}", ctx.app),
        )
    })?;
    let rack = ctx.state.rack.as_ref().ok_or_else(|| {
        GateError::failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway has no rack configured",
        )
    })?;
    let idle = Duration::from_secs(ctx.state.config.rack_idle_timeout_secs);
    let body = rack
        .get_stream(&format!("/apps/{}/objects/{key}", ctx.app), idle)
        .await
        .map_err(|e| {
            GateError::failed(
                StatusCode::BAD_GATEWAY,
                format!("reading the uploaded source back from the rack to check its manifest failed: {e}"),
            )
        })?;
    let reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let bridge = SyncIoBridge::new(reader);
    let text = tokio::task::spawn_blocking(move || {
        read_manifest(bridge, &path, &ArchiveLimits::default())
    })
    .await
    .map_err(|e| {
        GateError::failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("manifest reader: {e}"),
        )
    })?
    .map_err(|e| rejected(bound, e))?;
    check_text(bound, &text, patterns, &bound.commit)
}

/// Checks manifest `text` against the app's rules and the approved commit.
pub(crate) fn check_text(
    bound: &Bound,
    text: &str,
    patterns: &BTreeMap<String, String>,
    commit: &GitSha,
) -> Result<(), GateError> {
    check_images(text, patterns, commit)
        .map(|_| ())
        .map_err(|e| rejected(bound, e))
}
