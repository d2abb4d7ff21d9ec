//! Manifest validation (WIP).

mod archive;
mod path;

pub use archive::{ArchiveError, ArchiveLimits, EntryKind, read_manifest};
pub use path::ManifestPath;
