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
mod scan;
#[cfg(test)]
mod tests;

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

use self::meter::{Meter, Metered, read_up_to};
use self::scan::Scanner;
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
    let mut scanner = Scanner::new(path, limits);
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
