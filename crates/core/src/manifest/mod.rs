//! Manifest validation at build create (PRODUCT.md §5): read convox.yml out of the uploaded
//! tarball and check that every service runs a pre-built image bound to the approved commit.
//!
//! Pure: the only I/O is reading the `std::io::Read` the caller passes to [`read_manifest`].
//!
//! # Reading the tarball ([`read_manifest`])
//! - The upload must be gzip (several members allowed) over tar. It is streamed: nothing is
//!   extracted and only the manifest is buffered. [`ArchiveLimits`] bound compressed bytes
//!   (1 GiB), decompressed bytes (2 GiB, the gzip-bomb and time bound), tar headers
//!   (100 000) and the manifest (1 MiB).
//! - The manifest is the entry whose name, after one leading `./`, equals the
//!   [`ManifestPath`] (build field `manifest`, default `convox.yml`). It must be a regular
//!   file, present exactly once (extraction keeps the last copy), UTF-8.
//! - The whole archive is read. Refused: entries that reach the manifest, a directory above
//!   it or a path below it through `..`, `.`, `/`, doubled or trailing slashes or NUL; names
//!   whose tar fields (ustar, GNU long name, PAX path) disagree there; a symlink or file at
//!   a directory above the manifest; entries written through an earlier symlink; hard links
//!   to the manifest; sparse files, PAX size overrides, link or directory entries carrying
//!   data, global PAX names; and non-zero data after the end-of-archive marker.
//!
//! # Checking images ([`check_images`])
//! - Any `${` in the text is refused: the rack interpolates the app environment before
//!   parsing, so the gateway could not know the image. Use literal references.
//! - The YAML must be one document whose top level is a mapping with a non-empty `services`
//!   mapping. Names match `^[a-z][a-z0-9-]*$` (≤ 63 bytes, not a YAML 1.1 boolean word).
//!   Duplicate keys, unknown tags and merge keys (`<<`) on the path to an image are refused;
//!   aliases, nesting and size are tightly budgeted.
//! - A service without `image:` builds from source (with or without `build:`) and is refused.
//!   With both, `image:` wins and is checked. `initContainer.image` is checked by the same
//!   rule as its service.
//! - The rule is the app's `service_image_patterns` entry for the service, else its `*`
//!   entry: a regex matched against the whole reference, with `{{GIT_COMMIT}}` and
//!   `{{GIT_COMMIT_SHORT}}` (first 7) substituted regex-escaped. With no entry, the default
//!   rule: the tag (after the last `:` following the last `/`, before any `@digest`) must
//!   contain the full approved commit; a reference without a tag fails.
//!
//! [`validate_patterns`] checks the setting itself before it is saved.

mod archive;
mod error;
mod images;
mod parse;
mod path;
mod patterns;

#[cfg(test)]
mod tests;

pub use archive::{ArchiveError, ArchiveLimits, EntryKind, read_manifest};
pub use error::{ManifestError, MismatchReason};
pub use images::{CheckedService, ImageRule, check_images};
pub use parse::{MAX_MANIFEST_BYTES, Manifest, ManifestService, parse_manifest};
pub use path::ManifestPath;
pub use patterns::{ALL_SERVICES, MAX_PATTERN_LEN, MAX_PATTERNS, validate_patterns};

use parse::is_service_name;

/// Escapes control characters and invalid UTF-8 and truncates to 200 characters, so hostile
/// names and values cannot forge lines in the CLI's output.
pub(crate) fn printable(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out: String = text
        .chars()
        .take(200)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(200).is_some() {
        out.push('…');
    }
    out
}
