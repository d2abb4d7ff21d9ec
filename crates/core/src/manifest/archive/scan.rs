//! Interpreting tar entries one by one: extension headers, the names they give an entry,
//! and the checks on entries that touch the manifest.

use std::collections::HashSet;
use std::io::Read;

use super::names::{Candidate, Names, Pax, Relation};
use super::{ArchiveError, ArchiveLimits, EntryKind, Fail};
use crate::manifest::{ManifestPath, printable};

/// GNU long names and PAX headers larger than this are refused; Go's `archive/tar` has the
/// same bound.
const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// Memory for remembering symbolic link names (name bytes plus [`SYMLINK_OVERHEAD`] each),
/// the only per-entry state kept; an archive needing more is refused.
const MAX_SYMLINK_BYTES: usize = 8 << 20;
const SYMLINK_OVERHEAD: usize = 64;

/// Extension headers seen since the last real entry.
#[derive(Default)]
pub(super) struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Pax>,
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
}

/// The state of one pass over an archive.
pub(super) struct Scanner<'a> {
    path: &'a ManifestPath,
    limits: &'a ArchiveLimits,
    headers: u64,
    pub(super) pending: Pending,
    pub(super) manifest: Option<String>,
    /// Names of the symbolic links seen so far (bounded by [`MAX_SYMLINK_BYTES`]).
    symlinks: HashSet<Vec<u8>>,
    symlink_bytes: usize,
}

fn unsupported(what: &str) -> Fail {
    ArchiveError::Unsupported { what: what.into() }.into()
}

impl<'a> Scanner<'a> {
    pub(super) fn new(path: &'a ManifestPath, limits: &'a ArchiveLimits) -> Self {
        Self {
            path,
            limits,
            headers: 0,
            pending: Pending::default(),
            manifest: None,
            symlinks: HashSet::new(),
            symlink_bytes: 0,
        }
    }

    /// Handles one raw tar header and its data.
    pub(super) fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), Fail> {
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

/// Reads exactly `size` bytes of entry data (already checked against its limit).
fn read_exact_entry<R: Read>(entry: &mut tar::Entry<'_, R>, size: u64) -> Result<Vec<u8>, Fail> {
    let capacity =
        usize::try_from(size).map_err(|_| unsupported("an entry too large for this platform"))?;
    // Grown as bytes arrive, not trusted to the header: a caller may set a large limit.
    let mut data = Vec::with_capacity(capacity.min(64 * 1024));
    Read::take(&mut *entry, size).read_to_end(&mut data)?;
    if data.len() != capacity {
        return Err(ArchiveError::Truncated.into());
    }
    Ok(data)
}
