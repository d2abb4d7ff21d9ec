//! Why an uploaded tarball was refused. Messages are shown verbatim by the `convox` CLI, so
//! each says what is wrong and what to do.

use std::fmt;

/// What kind of non-file entry sat where a file was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A symbolic link (tar type `2`).
    Symlink,
    /// A hard link (tar type `1`).
    Hardlink,
    /// A directory (tar type `5`).
    Directory,
    /// Any other non-regular type (device, FIFO, contiguous file, ...), by its tar type byte.
    Other(u8),
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Symlink => f.write_str("a symbolic link"),
            Self::Hardlink => f.write_str("a hard link"),
            Self::Directory => f.write_str("a directory"),
            Self::Other(byte) => write!(f, "a special file (tar type {:?})", char::from(*byte)),
        }
    }
}

/// Why [`read_manifest`](super::read_manifest) refused an upload.
///
/// Entry names in messages are escaped and truncated, so a hostile name cannot forge output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The upload could not be read (the client went away, the store failed, ...).
    #[error("reading the uploaded source failed: {0}")]
    Read(#[source] std::io::Error),

    /// The upload does not start with the gzip magic bytes.
    #[error(
        "the uploaded source is not a gzip-compressed tar archive; upload the .tgz that `convox build` creates"
    )]
    NotGzip,

    /// The gzip stream is corrupt (bad deflate data, checksum, or data after the last member).
    #[error("the uploaded source is not valid gzip ({detail}); upload the .tgz again")]
    CorruptGzip {
        /// What the decoder reported.
        detail: String,
    },

    /// The gzip or tar stream ended in the middle of something.
    #[error(
        "the uploaded source is truncated (it ends in the middle of the archive); upload it again"
    )]
    Truncated,

    /// The decompressed stream is not a valid tar archive.
    #[error(
        "the uploaded source is not a valid tar archive ({detail}); upload the .tgz that `convox build` creates"
    )]
    CorruptTar {
        /// What was wrong.
        detail: String,
    },

    /// The archive uses a tar feature the gateway will not interpret (sparse files, extension
    /// headers whose meaning differs between extractors, ...).
    #[error(
        "the uploaded source uses an unsupported tar feature: {what}; create the archive with `convox build` or plain `tar czf`"
    )]
    Unsupported {
        /// The feature.
        what: String,
    },

    /// Non-zero data follows the end-of-archive marker, where another extractor might find more
    /// entries.
    #[error(
        "the uploaded source has data after the end of the tar archive; upload a single, unmodified .tgz"
    )]
    TrailingData,

    /// More compressed bytes than [`ArchiveLimits::max_compressed_bytes`](super::ArchiveLimits).
    #[error(
        "the uploaded source is larger than {limit} bytes compressed; shrink it (for example with .dockerignore)"
    )]
    CompressedTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },

    /// More decompressed bytes than [`ArchiveLimits::max_uncompressed_bytes`](super::ArchiveLimits)
    /// (this is also the gzip-bomb bound).
    #[error(
        "the uploaded source unpacks to more than {limit} bytes; shrink it (for example with .dockerignore)"
    )]
    UncompressedTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },

    /// More tar headers than [`ArchiveLimits::max_entries`](super::ArchiveLimits).
    #[error(
        "the uploaded source has more than {limit} tar entries; shrink it (for example with .dockerignore)"
    )]
    TooManyEntries {
        /// The limit, in entries.
        limit: u64,
    },

    /// No entry at the manifest path.
    #[error(
        "no {path} in the uploaded source; the build would fail too. Check the --manifest path and that .dockerignore does not exclude it"
    )]
    ManifestMissing {
        /// The manifest path.
        path: String,
    },

    /// The manifest entry is larger than [`ArchiveLimits::max_manifest_bytes`](super::ArchiveLimits).
    #[error("{path} is {size} bytes; the gateway accepts manifests of at most {limit} bytes")]
    ManifestTooLarge {
        /// The manifest path.
        path: String,
        /// The entry's size.
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The manifest is not UTF-8 text.
    #[error("{path} in the uploaded source is not UTF-8 text; save it as UTF-8")]
    ManifestNotUtf8 {
        /// The manifest path.
        path: String,
    },

    /// The entry at the manifest path is not a regular file.
    #[error(
        "{path} in the uploaded source is {found}, not a regular file; the gateway only validates a manifest stored as a plain file, so replace it with the file itself"
    )]
    ManifestNotAFile {
        /// The manifest path.
        path: String,
        /// What was found instead.
        found: EntryKind,
    },

    /// Two entries for the manifest path: extraction keeps the last, so one could hide another.
    #[error(
        "the uploaded source contains {path} more than once; upload an archive with a single {path}"
    )]
    DuplicateManifest {
        /// The manifest path.
        path: String,
    },

    /// An entry that resolves to the manifest path (or a directory above it, or a path below
    /// it) through `..`, `.`, an absolute name, a doubled or trailing `/` or a NUL.
    #[error(
        "the uploaded source has an entry named {entry:?} that an extractor would place at or around {path}; tar entries must use plain relative names, as `convox build` writes them"
    )]
    PathTrick {
        /// The resolved entry name.
        entry: String,
        /// The manifest path.
        path: String,
    },

    /// Tar name fields of one entry disagree, and one of them touches the manifest path.
    #[error(
        "an entry in the uploaded source has conflicting names in its tar headers (ustar name, GNU long name, PAX path), one of them at or around {path}; extractors disagree on such entries, so re-create the archive with `convox build`"
    )]
    AmbiguousName {
        /// The manifest path.
        path: String,
    },

    /// A directory the manifest lies under is a link or a file in the archive, so the manifest
    /// that the build reads could come from elsewhere.
    #[error(
        "{entry} in the uploaded source is {found}, but the manifest {path} lies under it; it must be a plain directory"
    )]
    AncestorNotDirectory {
        /// The entry name.
        entry: String,
        /// What was found.
        found: EntryKind,
        /// The manifest path.
        path: String,
    },

    /// An entry lies below the manifest path, as if the manifest were a directory.
    #[error(
        "the uploaded source has an entry {entry:?} below {path}, as if the manifest were a directory; remove it"
    )]
    InsideManifest {
        /// The entry name.
        entry: String,
        /// The manifest path.
        path: String,
    },

    /// A hard link elsewhere in the archive shares the manifest's inode; an extractor that
    /// writes to the link's name in place could rewrite the manifest after it was checked.
    #[error(
        "{entry} in the uploaded source is a hard link to {path}; remove the link from the upload"
    )]
    LinkToManifest {
        /// The link's name.
        entry: String,
        /// The manifest path.
        path: String,
    },

    /// An entry lies under (or replaces) a symbolic link from earlier in the archive, so an
    /// extractor would write it wherever the link points, possibly onto the manifest.
    #[error(
        "the uploaded source writes {entry:?} through the symbolic link {link:?} from earlier in the archive; the gateway cannot tell where that lands, so remove the link or the entries under it"
    )]
    ThroughSymlink {
        /// The entry written through the link.
        entry: String,
        /// The symbolic link.
        link: String,
    },
}
