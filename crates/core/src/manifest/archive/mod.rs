//! Reading the manifest out of an uploaded source tarball, as a stream: gzip → tar, nothing
//! extracted, nothing buffered except the manifest itself, every byte and header counted.
//!
//! The tar reader runs in raw mode and this module interprets the extension headers itself
//! (GNU long names, PAX records), because the `tar` crate and Go's `archive/tar` (which the
//! rack's build uses) resolve them differently and the crate reads them into memory without a
//! bound. Anything whose meaning differs between extractors and could touch the manifest is
//! refused instead of guessed.

mod error;
mod meter;
mod names;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

use self::meter::{Meter, Metered, read_up_to};
use self::names::{Candidate, Names, Pax, Relation};
use super::{ManifestPath, printable};
pub use error::{ArchiveError, EntryKind};

/// Bounds on the work [`read_manifest`] does for one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most bytes read from the upload itself (default 1 GiB).
    pub max_compressed_bytes: u64,
    /// Most bytes after gzip decompression (default 2 GiB): the gzip-bomb bound, and with it
    /// the bound on time.
    pub max_uncompressed_bytes: u64,
    /// Most tar headers, extension headers included (default 100 000).
    pub max_entries: u64,
    /// Largest manifest accepted (default 1 MiB); a larger one is refused, never buffered.
    pub max_manifest_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_compressed_bytes: 1 << 30,
            max_uncompressed_bytes: 2 << 30,
            max_entries: 100_000,
            max_manifest_bytes: 1 << 20,
        }
    }
}

/// GNU long names and PAX headers larger than this are refused; Go's `archive/tar` has the
/// same bound.
const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// Memory for remembering symbolic link names (name bytes plus [`SYMLINK_OVERHEAD`] each),
/// the only per-entry state kept; an archive needing more is refused.
const MAX_SYMLINK_BYTES: usize = 8 << 20;
const SYMLINK_OVERHEAD: usize = 64;

/// Reads the manifest at `path` out of a gzip-compressed tar stream and returns its text.
///
/// The whole stream is read, so a second entry for the manifest (which extraction would let
/// win) is found wherever it is, and so is data after the end-of-archive marker. Refused:
/// non-gzip input, corrupt or truncated gzip/tar, anything over `limits`, a manifest that is
/// missing, not a regular file, duplicated, too large or not UTF-8, entries that reach the
/// manifest (or a directory above it) through path tricks or links, and tar features whose
/// meaning differs between extractors. Blocking: call it from a blocking context.
pub fn read_manifest<R: Read>(
    tarball: R,
    path: &ManifestPath,
    limits: &ArchiveLimits,
) -> Result<String, ArchiveError> {
    let compressed = Meter::new(limits.max_compressed_bytes);
    let uncompressed = Meter::new(limits.max_uncompressed_bytes);
    scan(tarball, path, limits, &compressed, &uncompressed)
        .map_err(|fail| classify(fail, &compressed, &uncompressed))
}

/// A failure before classification: either already a verdict or an opaque I/O error.
enum Fail {
    Refused(ArchiveError),
    Io(io::Error),
}

impl From<ArchiveError> for Fail {
    fn from(e: ArchiveError) -> Self {
        Self::Refused(e)
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Turns a failure into the error the user sees, trusting the outermost layer that noticed
/// something: the upload itself, then the limits, then gzip, then tar.
fn classify(fail: Fail, compressed: &Meter, uncompressed: &Meter) -> ArchiveError {
    if let Some(e) = compressed.take_error() {
        return ArchiveError::Read(e);
    }
    if compressed.exceeded() {
        return ArchiveError::CompressedTooLarge {
            limit: compressed.limit(),
        };
    }
    if uncompressed.exceeded() {
        return ArchiveError::UncompressedTooLarge {
            limit: uncompressed.limit(),
        };
    }
    if let Some(e) = uncompressed.take_error() {
        return if e.kind() == io::ErrorKind::UnexpectedEof || compressed.ended() {
            ArchiveError::Truncated
        } else {
            ArchiveError::CorruptGzip {
                detail: printable(e.to_string().as_bytes()),
            }
        };
    }
    match fail {
        Fail::Refused(e) => e,
        Fail::Io(e) => tar_failure(&e, uncompressed),
    }
}

/// An I/O error the tar reader reported while the layers below were healthy.
fn tar_failure(e: &io::Error, uncompressed: &Meter) -> ArchiveError {
    if uncompressed.ended() {
        ArchiveError::Truncated
    } else {
        ArchiveError::CorruptTar {
            detail: printable(e.to_string().as_bytes()),
        }
    }
}

fn scan<R: Read>(
    tarball: R,
    path: &ManifestPath,
    limits: &ArchiveLimits,
    compressed: &Meter,
    uncompressed: &Meter,
) -> Result<String, Fail> {
    let mut source = Metered::new(tarball, compressed);
    let mut magic = [0u8; 2];
    if read_up_to(&mut source, &mut magic)? < 2 || magic != [0x1f, 0x8b] {
        return Err(ArchiveError::NotGzip.into());
    }
    // Multi-member, as Go's gzip reader is: a second member must not hide from us.
    let gzip = MultiGzDecoder::new(io::Cursor::new(magic).chain(source));
    let mut archive = tar::Archive::new(Metered::new(gzip, uncompressed));
    let mut scanner = Scanner {
        path,
        limits,
        headers: 0,
        pending: Pending::default(),
        manifest: None,
        symlinks: HashSet::new(),
        symlink_bytes: 0,
    };
    let scanned = (|| {
        for entry in archive.entries()?.raw(true) {
            scanner.entry(entry?)?;
        }
        Ok::<(), Fail>(())
    })();
    if let Err(Fail::Io(e)) = scanned {
        let verdict = tar_failure(&e, uncompressed);
        // Tar garbage is often gzip damage that the CRC at the end of the member would show:
        // read on (within the limits) so that `classify` can report the real cause.
        let _ = io::copy(&mut archive.into_inner(), &mut io::sink());
        return Err(verdict.into());
    }
    scanned?;
    if !scanner.pending.is_empty() {
        return Err(ArchiveError::CorruptTar {
            detail: "extension headers at the end of the archive describe no entry".into(),
        }
        .into());
    }
    drain_trailer(&mut archive.into_inner())?;
    scanner.manifest.ok_or_else(|| {
        ArchiveError::ManifestMissing {
            path: path.to_string(),
        }
        .into()
    })
}

/// Reads what follows the end-of-archive marker, which must be zero padding only.
fn drain_trailer(reader: &mut impl Read) -> Result<(), Fail> {
    let mut buf = [0u8; 8192];
    loop {
        let n = read_up_to(reader, &mut buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        if chunk.iter().any(|b| *b != 0) {
            return Err(ArchiveError::TrailingData.into());
        }
        if n < buf.len() {
            return Ok(());
        }
    }
}

/// Extension headers seen since the last real entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Pax>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

struct Scanner<'a> {
    path: &'a ManifestPath,
    limits: &'a ArchiveLimits,
    headers: u64,
    pending: Pending,
    manifest: Option<String>,
    /// Names of the symbolic links seen so far (bounded by [`MAX_SYMLINK_BYTES`]).
    symlinks: HashSet<Vec<u8>>,
    symlink_bytes: usize,
}

fn unsupported(what: &str) -> Fail {
    ArchiveError::Unsupported { what: what.into() }.into()
}

impl Scanner<'_> {
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), Fail> {
        self.headers += 1;
        if self.headers > self.limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: self.limits.max_entries,
            }
            .into());
        }
        let block = *entry.header().as_bytes();
        let size = entry.header().entry_size()?;
        let type_byte = block[156];
        match type_byte {
            b'L' | b'K' => {
                let data = read_extension(&mut entry, size)?;
                let slot = if type_byte == b'L' {
                    &mut self.pending.long_name
                } else {
                    &mut self.pending.long_link
                };
                if slot.replace(data).is_some() {
                    return Err(unsupported("two GNU long-name headers for one entry"));
                }
            }
            b'x' => {
                let data = read_extension(&mut entry, size)?;
                let pax = Pax::parse(&data).ok_or_else(|| {
                    unsupported(
                        "a malformed PAX header, or one that repeats path, linkpath or size",
                    )
                })?;
                if pax.sparse {
                    return Err(unsupported("sparse files (GNU.sparse PAX records)"));
                }
                if self.pending.pax.replace(pax).is_some() {
                    return Err(unsupported("two PAX headers for one entry"));
                }
            }
            b'g' => {
                let data = read_extension(&mut entry, size)?;
                let affects = Pax::parse(&data).is_none_or(|pax| pax.affects_entries());
                if affects || !self.pending.is_empty() {
                    return Err(unsupported(
                        "a global PAX header that sets names, sizes or sparse data, or interrupts another entry's headers",
                    ));
                }
            }
            b'S' => return Err(unsupported("GNU sparse files")),
            b'X' | b'M' | b'N' => {
                return Err(unsupported(
                    "Solaris extended headers or GNU multi-volume/rename entries",
                ));
            }
            _ => {
                let pending = std::mem::take(&mut self.pending);
                self.member(&mut entry, &block, type_byte, size, pending)?;
            }
        }
        Ok(())
    }

    /// A real entry (file, directory, link, device...), with its extension headers.
    fn member<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        block: &[u8; 512],
        type_byte: u8,
        size: u64,
        pending: Pending,
    ) -> Result<(), Fail> {
        let kind = entry_kind(type_byte);
        if let Some(pax_size) = pending.pax.as_ref().and_then(|p| p.size)
            && pax_size != size
        {
            return Err(unsupported(
                "a PAX size record that differs from the header's size",
            ));
        }
        // Go's reader skips no data after these types whatever their size field says, the
        // tar crate skips `size` bytes: the two would read different entries from then on.
        if size != 0 && matches!(type_byte, b'1'..=b'6') {
            return Err(unsupported(
                "a link, directory or device entry that carries data",
            ));
        }
        let is_dir = kind == Some(EntryKind::Directory);
        let pax_path = pending.pax.as_ref().and_then(|p| p.path.as_deref());
        let long_name = pending.long_name.as_deref();
        let mut names = Names::from_header(block, is_dir, pax_path.or(long_name));
        for name in [long_name, pax_path].into_iter().flatten() {
            names.push(Candidate::new(name, is_dir));
        }
        let path = || self.path.to_string();
        let relation = names.relation(self.path);
        let touches = match relation {
            Relation::Unrelated => false,
            Relation::Root => !is_dir,
            Relation::Manifest | Relation::Ancestor | Relation::Inside => true,
        };
        self.check_symlinks(&names, kind)?;
        if !touches {
            if kind == Some(EntryKind::Hardlink) {
                self.check_hardlink(&names, block, &pending)?;
            }
            return Ok(());
        }
        let Some(agreed) = names.agreed() else {
            return Err(ArchiveError::AmbiguousName { path: path() }.into());
        };
        let entry_name = printable(&agreed.resolved);
        if !names.all_clean() || relation == Relation::Root {
            return Err(ArchiveError::PathTrick {
                entry: entry_name,
                path: path(),
            }
            .into());
        }
        match (relation, kind) {
            (Relation::Manifest, None) => self.take_manifest(entry, size),
            (Relation::Manifest, Some(found)) => Err(ArchiveError::ManifestNotAFile {
                path: path(),
                found,
            }
            .into()),
            (Relation::Ancestor, Some(EntryKind::Directory)) => Ok(()),
            (Relation::Ancestor, found) => Err(ArchiveError::AncestorNotDirectory {
                entry: entry_name,
                found: found.unwrap_or(EntryKind::Other(type_byte)),
                path: path(),
            }
            .into()),
            _ => Err(ArchiveError::InsideManifest {
                entry: entry_name,
                path: path(),
            }
            .into()),
        }
    }

    /// Refuses a hard link elsewhere whose target is the manifest: the two share an inode, so
    /// an extractor that later writes to the link's name in place rewrites the checked manifest.
    fn check_hardlink(
        &self,
        names: &Names,
        block: &[u8; 512],
        pending: &Pending,
    ) -> Result<(), Fail> {
        let targets = [
            block.get(157..257),
            pending.long_link.as_deref(),
            pending.pax.as_ref().and_then(|p| p.linkpath.as_deref()),
        ];
        let hits = targets
            .into_iter()
            .flatten()
            .any(|target| Candidate::new(target, false).relation(self.path) == Relation::Manifest);
        if hits {
            return Err(ArchiveError::LinkToManifest {
                entry: names.display(),
                path: self.path.to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// Refuses an entry written through (or over) a symbolic link seen earlier: extractors
    /// follow the link, so `a -> .` then `a/convox.yml` lands on the manifest, and an absolute
    /// or escaping target can point anywhere. Remembers this entry if it is a symlink.
    fn check_symlinks(&mut self, names: &Names, kind: Option<EntryKind>) -> Result<(), Fail> {
        for candidate in &names.0 {
            let name = candidate.resolved.as_slice();
            let through = name
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'/')
                .filter_map(|(i, _)| name.get(..i))
                .chain(std::iter::once(name))
                .find(|prefix| self.symlinks.contains(*prefix));
            if let Some(link) = through {
                return Err(ArchiveError::ThroughSymlink {
                    entry: printable(name),
                    link: printable(link),
                }
                .into());
            }
        }
        if kind == Some(EntryKind::Symlink) {
            for candidate in &names.0 {
                self.symlink_bytes += candidate.resolved.len() + SYMLINK_OVERHEAD;
                if self.symlink_bytes > MAX_SYMLINK_BYTES {
                    return Err(unsupported(
                        "more symbolic links than the gateway keeps track of",
                    ));
                }
                self.symlinks.insert(candidate.resolved.clone());
            }
        }
        Ok(())
    }

    fn take_manifest<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        size: u64,
    ) -> Result<(), Fail> {
        let path = || self.path.to_string();
        if self.manifest.is_some() {
            return Err(ArchiveError::DuplicateManifest { path: path() }.into());
        }
        if size > self.limits.max_manifest_bytes {
            return Err(ArchiveError::ManifestTooLarge {
                path: path(),
                size,
                limit: self.limits.max_manifest_bytes,
            }
            .into());
        }
        let data = read_exact_entry(entry, size)?;
        let text =
            String::from_utf8(data).map_err(|_| ArchiveError::ManifestNotUtf8 { path: path() })?;
        self.manifest = Some(text);
        Ok(())
    }
}

/// Regular files are `None`; everything else says what it is.
fn entry_kind(type_byte: u8) -> Option<EntryKind> {
    match type_byte {
        b'0' | 0 => None,
        b'1' => Some(EntryKind::Hardlink),
        b'2' => Some(EntryKind::Symlink),
        b'5' => Some(EntryKind::Directory),
        other => Some(EntryKind::Other(other)),
    }
}

fn read_extension<R: Read>(entry: &mut tar::Entry<'_, R>, size: u64) -> Result<Vec<u8>, Fail> {
    if size > MAX_EXTENSION_BYTES {
        return Err(unsupported(
            "a GNU long-name or PAX header larger than 1 MiB",
        ));
    }
    read_exact_entry(entry, size)
}

/// Reads exactly `size` bytes of entry data (already checked to be small).
fn read_exact_entry<R: Read>(entry: &mut tar::Entry<'_, R>, size: u64) -> Result<Vec<u8>, Fail> {
    let capacity =
        usize::try_from(size).map_err(|_| unsupported("an entry too large for this platform"))?;
    let mut data = Vec::with_capacity(capacity);
    Read::take(&mut *entry, size).read_to_end(&mut data)?;
    if data.len() != capacity {
        return Err(ArchiveError::Truncated.into());
    }
    Ok(data)
}
