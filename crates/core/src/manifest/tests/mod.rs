//! The manifest rules, table-driven: `parse` for reading convox.yml, `images` for checking
//! images against the approved commit.

mod images;
mod parse;

use std::collections::BTreeMap;

use super::{CheckedService, ManifestError, check_images};
use crate::ids::GitSha;

pub(super) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
pub(super) const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba98";

pub(super) fn sha() -> GitSha {
    GitSha::parse(SHA).unwrap()
}

pub(super) fn patterns(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn one_service(image: &str) -> String {
    format!("services:\n  web:\n    image: {image}\n    port: 3000\n")
}

pub(super) fn check(
    manifest: &str,
    entries: &[(&str, &str)],
) -> Result<Vec<CheckedService>, ManifestError> {
    check_images(manifest, &patterns(entries), &sha())
}
