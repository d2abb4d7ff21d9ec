//! Reading the manifest out of an uploaded gzip tarball, with bounds on everything.
//!
//! Blocking code: call it from `spawn_blocking`.

use std::io::{self, Read};

use flate2::read::GzDecoder;

use crate::Limits;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TarballError {
    #[error("invalid tarball: not gzip-compressed")]
    NotGzip,
    #[error("invalid tarball: {0}")]
    Corrupt(String),
    #[error("invalid tarball: unsafe path: {0}")]
    UnsafePath(String),
    #[error("invalid tarball: more than {0} entries")]
    TooManyEntries(u64),
    #[error("invalid tarball: more than {0} bytes decompressed")]
    TooLarge(u64),
    #[error("invalid path: {0}")]
    BadPath(String),
    #[error("file too large: {path} is over {limit} bytes")]
    FileTooLarge { path: String, limit: u64 },
    #[error("file is not valid utf-8: {0}")]
    NotUtf8(String),
    #[error("no such file: {0}")]
    NoSuchFile(String),
}

/// Reads every entry of the tarball (so bombs and unsafe paths anywhere are caught) and returns
/// the text of the regular file at `path` (at most `max_manifest_bytes`).
pub(crate) fn read_text(
    tarball: &[u8],
    path: &str,
    limits: &Limits,
) -> Result<String, TarballError> {
    let wanted = normalize(path).ok_or_else(|| TarballError::BadPath(path.to_owned()))?;
    if !tarball.starts_with(&[0x1f, 0x8b]) {
        return Err(TarballError::NotGzip);
    }
    let reader = Bounded {
        inner: GzDecoder::new(tarball),
        remaining: limits.max_tarball_bytes,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| corrupt(&e, limits))?;
    let mut manifest = None;
    let mut count = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(&e, limits))?;
        count += 1;
        if count > limits.max_tarball_entries {
            return Err(TarballError::TooManyEntries(limits.max_tarball_entries));
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalize(&raw).ok_or(TarballError::UnsafePath(raw))?;
        // Symlinks and hard links are ignored: a linked manifest counts as missing.
        if !entry.header().entry_type().is_file() || path != wanted {
            continue;
        }
        let mut text = Vec::new();
        (&mut entry)
            .take(limits.max_manifest_bytes + 1)
            .read_to_end(&mut text)
            .map_err(|e| corrupt(&e, limits))?;
        if text.len() as u64 > limits.max_manifest_bytes {
            return Err(TarballError::FileTooLarge {
                path: wanted,
                limit: limits.max_manifest_bytes,
            });
        }
        manifest = Some(text);
    }
    let text = manifest.ok_or_else(|| TarballError::NoSuchFile(wanted.clone()))?;
    String::from_utf8(text).map_err(|_| TarballError::NotUtf8(wanted))
}

/// Strips `./` and empty segments; `None` for absolute paths and `..` segments.
fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') || path.starts_with('\\') {
        return None;
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

fn corrupt(error: &io::Error, limits: &Limits) -> TarballError {
    if error.kind() == io::ErrorKind::FileTooLarge {
        TarballError::TooLarge(limits.max_tarball_bytes)
    } else {
        TarballError::Corrupt(error.to_string())
    }
}

/// Fails reads once more than `remaining` bytes came out of the decompressor.
struct Bounded<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.remaining = self
            .remaining
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::FileTooLarge, "decompressed too much"))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_escapes_refused() {
        assert_eq!(normalize("./convox.yml").as_deref(), Some("convox.yml"));
        assert_eq!(normalize("ci//prod.yml").as_deref(), Some("ci/prod.yml"));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../b"), None);
    }

    #[test]
    fn non_gzip_input_is_refused() {
        assert_eq!(
            read_text(b"plain text", "convox.yml", &Limits::default()),
            Err(TarballError::NotGzip)
        );
    }
}
