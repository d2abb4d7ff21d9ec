//! Tarballs built in the test, hostile ones included, through [`read_manifest`]: this file
//! has the builders, `stream` covers well-formed, damaged and oversize uploads, `hostile`
//! covers entries crafted to hide or redirect the manifest.

mod hostile;
mod stream;

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};

use super::{ArchiveError, ArchiveLimits, read_manifest};
use crate::manifest::ManifestPath;

pub(super) const MANIFEST: &str = "services:\n  web:\n    image: registry.example.com/app:0123456789abcdef0123456789abcdef01234567\n";

/// Builds an uncompressed tar stream, entry by entry, with names written verbatim (the `tar`
/// crate's own path setters refuse the hostile names these tests need).
#[derive(Default)]
pub(super) struct Tar(Vec<u8>);

impl Tar {
    pub(super) fn raw(mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> Self {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.push_block(header.as_bytes(), data);
        self
    }

    /// A header that claims `size` bytes but is followed by `data` (for header-only types).
    pub(super) fn with_size(
        mut self,
        name: &[u8],
        kind: EntryType,
        size: u64,
        data: &[u8],
    ) -> Self {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_cksum();
        self.push_block(header.as_bytes(), data);
        self
    }

    pub(super) fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data)
    }

    pub(super) fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"")
    }

    pub(super) fn link(self, name: &str, kind: EntryType, target: &str) -> Self {
        self.raw(name.as_bytes(), kind, target.as_bytes(), b"")
    }

    /// A PAX extended header (`x`, or `g` for global) with the given records.
    pub(super) fn pax(self, kind: EntryType, records: &[(&str, &str)]) -> Self {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        self.raw(b"PaxHeaders/entry", kind, b"", &data)
    }

    pub(super) fn long_name(self, name: &str) -> Self {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        self.raw(b"././@LongLink", EntryType::GNULongName, b"", &data)
    }

    fn push_block(&mut self, header: &[u8; 512], data: &[u8]) {
        self.0.extend_from_slice(header);
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat_n(0, pad));
    }

    /// The stream with its end-of-archive marker.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.0.extend([0; 1024]);
        self.0
    }

    /// The stream without an end-of-archive marker.
    pub(super) fn unfinished(self) -> Vec<u8> {
        self.0
    }
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub(super) fn read(tgz: &[u8]) -> Result<String, ArchiveError> {
    read_manifest(tgz, &ManifestPath::default(), &ArchiveLimits::default())
}

pub(super) fn read_at(tgz: &[u8], path: &str) -> Result<String, ArchiveError> {
    let path = ManifestPath::parse(path).unwrap();
    read_manifest(tgz, &path, &ArchiveLimits::default())
}
