//! Checking every service's images against the approved commit.

use std::collections::BTreeMap;

use regex::Regex;

use super::parse::{MAX_IMAGE_LEN, parse_manifest, refuse_interpolation};
use super::patterns::{applicable, compile, matches_whole};
use super::{ManifestError, MismatchReason, printable};
use crate::ids::GitSha;

/// Which rule accepted a service's images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRule {
    /// No pattern applied: the tag contains the full approved commit.
    CommitInTag,
    /// A `service_image_patterns` entry matched the whole reference.
    Pattern {
        /// The settings key that applied (`*` or the service name).
        key: String,
        /// The pattern as configured, before substitution.
        pattern: String,
    },
}

/// A service whose images satisfied its rule, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedService {
    /// The service name.
    pub name: String,
    /// Its `image:`.
    pub image: String,
    /// Its `initContainer.image`, when it has its own.
    pub init_image: Option<String>,
    /// The rule that accepted them.
    pub rule: ImageRule,
}

/// Checks that every service of `manifest` runs a pre-built image bound to `commit`.
///
/// `patterns` is the app's `service_image_patterns` (service → pattern, `*` for the rest);
/// `commit` must be the approved commit from the database, never a client-supplied value.
/// Refuses `${` anywhere in the text, services that build from source, and any `image` or
/// `initContainer.image` that does not satisfy its service's rule; the first failure, in
/// manifest order, is returned. See the [module docs](super) for the rules.
pub fn check_images(
    manifest: &str,
    patterns: &BTreeMap<String, String>,
    commit: &GitSha,
) -> Result<Vec<CheckedService>, ManifestError> {
    refuse_interpolation(manifest)?;
    let parsed = parse_manifest(manifest)?;
    let mut compiled: BTreeMap<&str, Regex> = BTreeMap::new();
    let mut checked = Vec::with_capacity(parsed.services.len());
    for service in parsed.services {
        let rule = match applicable(patterns, &service.name) {
            Some((key, pattern)) => {
                if !compiled.contains_key(key) {
                    let regex = compile(key, pattern, commit.as_str(), commit.short())?;
                    compiled.insert(key, regex);
                }
                Some((key, pattern))
            }
            None => None,
        };
        let Some(image) = service.image else {
            return Err(ManifestError::BuildsFromSource {
                service: service.name,
                commit: commit.to_string(),
                has_build: service.has_build,
            });
        };
        let check = |image: &str, init: bool| {
            check_reference(&service.name, image)?;
            let verdict = match rule {
                Some((key, pattern)) => {
                    let ok = compiled
                        .get(key)
                        .is_some_and(|regex| matches_whole(regex, image));
                    (!ok).then(|| MismatchReason::Pattern {
                        key: key.to_owned(),
                        pattern: pattern.to_owned(),
                    })
                }
                None => commit_in_tag(image, commit),
            };
            match verdict {
                None => Ok(()),
                Some(reason) => Err(ManifestError::ImageMismatch {
                    service: service.name.clone(),
                    image: image.to_owned(),
                    commit: commit.to_string(),
                    init,
                    reason,
                }),
            }
        };
        check(&image, false)?;
        if let Some(init) = &service.init_image {
            check(init, true)?;
        }
        checked.push(CheckedService {
            rule: match rule {
                Some((key, pattern)) => ImageRule::Pattern {
                    key: key.to_owned(),
                    pattern: pattern.to_owned(),
                },
                None => ImageRule::CommitInTag,
            },
            name: service.name,
            image,
            init_image: service.init_image,
        });
    }
    Ok(checked)
}

/// The default rule; `None` when the tag contains the full commit.
fn commit_in_tag(image: &str, commit: &GitSha) -> Option<MismatchReason> {
    match image_tag(image) {
        None => Some(MismatchReason::NoTag),
        Some(tag) if tag.contains(commit.as_str()) => None,
        Some(tag) => Some(MismatchReason::TagLacksCommit {
            tag: tag.to_owned(),
        }),
    }
}

/// The tag of an image reference: after the last `:` that follows the last `/`, before any
/// `@digest`. `registry:5000/app` and `app@sha256:...` have none.
pub(super) fn image_tag(image: &str) -> Option<&str> {
    let name = image.split('@').next().unwrap_or(image);
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    last_segment
        .rsplit_once(':')
        .map(|(_, tag)| tag)
        .filter(|tag| !tag.is_empty())
}

/// Refuses references that no registry would accept and that could garble messages.
fn check_reference(service: &str, image: &str) -> Result<(), ManifestError> {
    let reason = if image.len() > MAX_IMAGE_LEN {
        Some("it is longer than 1024 bytes")
    } else if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it contains whitespace or control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ManifestError::InvalidImageReference {
            service: service.to_owned(),
            image: printable(image.as_bytes()),
            reason,
        }),
        None => Ok(()),
    }
}
