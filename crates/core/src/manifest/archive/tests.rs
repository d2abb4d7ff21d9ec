//! Tarballs built in the test, hostile ones included, through [`read_manifest`].

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use rstest::rstest;
use tar::{EntryType, Header};

use super::*;

const MANIFEST: &str = "services:\n  web:\n    image: registry.example.com/app:0123456789abcdef0123456789abcdef01234567\n";

/// Builds an uncompressed tar stream, entry by entry, with names written verbatim (the `tar`
/// crate's own path setters refuse the hostile names these tests need).
#[derive(Default)]
struct Tar(Vec<u8>);

impl Tar {
    fn raw(mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> Self {
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
    fn with_size(mut self, name: &[u8], kind: EntryType, size: u64, data: &[u8]) -> Self {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_cksum();
        self.push_block(header.as_bytes(), data);
        self
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data)
    }

    fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"")
    }

    fn link(self, name: &str, kind: EntryType, target: &str) -> Self {
        self.raw(name.as_bytes(), kind, target.as_bytes(), b"")
    }

    /// A PAX extended header (`x`, or `g` for global) with the given records.
    fn pax(self, kind: EntryType, records: &[(&str, &str)]) -> Self {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        self.raw(b"PaxHeaders/entry", kind, b"", &data)
    }

    fn long_name(self, name: &str) -> Self {
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
    fn finish(mut self) -> Vec<u8> {
        self.0.extend([0; 1024]);
        self.0
    }

    /// The stream without an end-of-archive marker.
    fn unfinished(self) -> Vec<u8> {
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

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn read(tgz: &[u8]) -> Result<String, ArchiveError> {
    read_manifest(tgz, &ManifestPath::default(), &ArchiveLimits::default())
}

fn read_at(tgz: &[u8], path: &str) -> Result<String, ArchiveError> {
    let path = ManifestPath::parse(path).unwrap();
    read_manifest(tgz, &path, &ArchiveLimits::default())
}

#[rstest]
#[case::plain("convox.yml")]
#[case::dot_slash("./convox.yml")]
fn the_manifest_is_read_at_the_default_path(#[case] name: &str) {
    let tgz = gzip(
        &Tar::default()
            .file("app.txt", b"hi")
            .file(name, MANIFEST.as_bytes())
            .finish(),
    );
    assert_eq!(read(&tgz).unwrap(), MANIFEST);
}

#[test]
fn the_manifest_is_read_at_a_custom_path() {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", b"services: {}\n")
            .dir("ci/")
            .file("ci/convox.prod.yml", MANIFEST.as_bytes())
            .finish(),
    );
    assert_eq!(read_at(&tgz, "ci/convox.prod.yml").unwrap(), MANIFEST);
}

#[test]
fn an_archive_made_with_tar_of_dot_and_its_root_entry_is_accepted() {
    let tgz = gzip(
        &Tar::default()
            .dir("./")
            .dir("./src/")
            .file("./src/main.rs", b"fn main() {}")
            .file("./convox.yml", MANIFEST.as_bytes())
            .finish(),
    );
    assert_eq!(read(&tgz).unwrap(), MANIFEST);
}

#[test]
fn a_long_manifest_path_written_by_the_tar_crate_is_accepted() {
    let path = format!("deploy/{}/convox.yml", "d".repeat(150));
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut header = Header::new_gnu();
    header.set_size(MANIFEST.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, &path, MANIFEST.as_bytes())
        .unwrap();
    let tgz = builder.into_inner().unwrap().finish().unwrap();
    assert_eq!(read_at(&tgz, &path).unwrap(), MANIFEST);
}

#[test]
fn zero_padding_after_the_end_marker_is_accepted() {
    let mut tar = Tar::default()
        .file("convox.yml", MANIFEST.as_bytes())
        .finish();
    tar.extend([0; 9216]);
    assert_eq!(read(&gzip(&tar)).unwrap(), MANIFEST);
}

#[test]
fn a_missing_manifest_says_the_build_would_fail_too() {
    let tgz = gzip(&Tar::default().file("app.txt", b"hi").finish());
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::ManifestMissing { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("no convox.yml in the uploaded source; the build would fail too")
    );
    let err = read_at(&tgz, "ci/convox.prod.yml").unwrap_err();
    assert!(
        err.to_string().starts_with("no ci/convox.prod.yml"),
        "{err}"
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_uncompressed_limit() {
    // 50 MiB of zeros, streamed through the encoder, never held in memory.
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut header = Header::new_gnu();
    let size = 50 << 20;
    header.set_size(size);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "zeros.bin", io::repeat(0).take(size))
        .unwrap();
    let tgz = builder.into_inner().unwrap().finish().unwrap();
    assert!(
        tgz.len() < 1 << 20,
        "the bomb compresses well: {}",
        tgz.len()
    );
    let limits = ArchiveLimits {
        max_uncompressed_bytes: 10 << 20,
        ..ArchiveLimits::default()
    };
    let err = read_manifest(&tgz[..], &ManifestPath::default(), &limits).unwrap_err();
    assert!(
        matches!(err, ArchiveError::UncompressedTooLarge { limit } if limit == 10 << 20),
        "{err}"
    );
}

#[test]
fn an_upload_over_the_compressed_limit_is_refused() {
    // Incompressible bytes from a small linear congruential generator.
    let mut state = 1u32;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let tgz = gzip(
        &Tar::default()
            .file("noise.bin", &noise)
            .file("convox.yml", MANIFEST.as_bytes())
            .finish(),
    );
    let limits = ArchiveLimits {
        max_compressed_bytes: 16 * 1024,
        ..ArchiveLimits::default()
    };
    let err = read_manifest(&tgz[..], &ManifestPath::default(), &limits).unwrap_err();
    assert!(
        matches!(err, ArchiveError::CompressedTooLarge { .. }),
        "{err}"
    );
}

#[test]
fn an_oversize_manifest_is_refused_without_being_buffered() {
    let big = "#".repeat((1 << 20) + 1);
    let tgz = gzip(&Tar::default().file("convox.yml", big.as_bytes()).finish());
    let err = read(&tgz).unwrap_err();
    assert!(
        matches!(err, ArchiveError::ManifestTooLarge { size, limit, .. } if size == (1 << 20) + 1 && limit == 1 << 20),
        "{err}"
    );
}

#[test]
fn too_many_entries_are_refused() {
    let mut tar = Tar::default();
    for i in 0..11 {
        tar = tar.file(&format!("f{i}"), b"");
    }
    let tgz = gzip(&tar.file("convox.yml", MANIFEST.as_bytes()).finish());
    let limits = ArchiveLimits {
        max_entries: 10,
        ..ArchiveLimits::default()
    };
    let err = read_manifest(&tgz[..], &ManifestPath::default(), &limits).unwrap_err();
    assert!(
        matches!(err, ArchiveError::TooManyEntries { limit: 10 }),
        "{err}"
    );
}

#[rstest]
#[case::symlink(EntryType::Symlink, "other.yml", EntryKind::Symlink)]
#[case::hardlink(EntryType::Link, "other.yml", EntryKind::Hardlink)]
#[case::fifo(EntryType::Fifo, "", EntryKind::Other(b'6'))]
fn a_manifest_that_is_not_a_regular_file_is_refused(
    #[case] kind: EntryType,
    #[case] target: &str,
    #[case] expected: EntryKind,
) {
    let tgz = gzip(
        &Tar::default()
            .file("other.yml", MANIFEST.as_bytes())
            .link("convox.yml", kind, target)
            .finish(),
    );
    let err = read(&tgz).unwrap_err();
    assert!(
        matches!(err, ArchiveError::ManifestNotAFile { found, .. } if found == expected),
        "{err}"
    );
}

#[rstest]
#[case("convox.yml/")]
#[case("convox.yml")]
fn a_directory_at_the_manifest_path_is_refused(#[case] name: &str) {
    let tgz = gzip(&Tar::default().dir(name).finish());
    let err = read(&tgz).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::ManifestNotAFile {
                found: EntryKind::Directory,
                ..
            }
        ),
        "{err}"
    );
}

#[rstest]
#[case::parent("../convox.yml")]
#[case::absolute("/convox.yml")]
#[case::inner_parent("src/../convox.yml")]
#[case::dot_segment("././convox.yml")]
#[case::doubled_slash("ci//convox.yml")]
#[case::trailing_slash_on_a_file("convox.yml/")]
fn entries_that_resolve_to_the_manifest_through_path_tricks_are_refused(#[case] name: &str) {
    let path = if name.starts_with("ci") {
        "ci/convox.yml"
    } else {
        "convox.yml"
    };
    let tgz = gzip(
        &Tar::default()
            .file(path, MANIFEST.as_bytes())
            .file(name, b"services:\n  web:\n    build: .\n")
            .finish(),
    );
    let err = read_at(&tgz, path).unwrap_err();
    assert!(matches!(err, ArchiveError::PathTrick { .. }), "{err}");
}

#[test]
fn path_tricks_elsewhere_in_the_archive_are_not_matched_and_not_refused() {
    let tgz = gzip(
        &Tar::default()
            .file("../outside.txt", b"x")
            .file("/etc/motd", b"x")
            .file("convox.yml", MANIFEST.as_bytes())
            .finish(),
    );
    assert_eq!(read(&tgz).unwrap(), MANIFEST);
}

#[rstest]
#[case("convox.yml", "convox.yml")]
#[case("convox.yml", "./convox.yml")]
#[case("./convox.yml", "convox.yml")]
fn a_second_manifest_entry_is_refused(#[case] first: &str, #[case] second: &str) {
    let tgz = gzip(
        &Tar::default()
            .file(first, MANIFEST.as_bytes())
            .file("app.txt", b"hi")
            .file(second, b"services:\n  web:\n    image: evil\n")
            .finish(),
    );
    let err = read(&tgz).unwrap_err();
    assert!(
        matches!(err, ArchiveError::DuplicateManifest { .. }),
        "{err}"
    );
}

#[test]
fn a_manifest_in_a_second_gzip_member_is_seen() {
    let mut tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .unfinished(),
    );
    tgz.extend(gzip(&Tar::default().file("convox.yml", b"evil").finish()));
    let err = read(&tgz).unwrap_err();
    assert!(
        matches!(err, ArchiveError::DuplicateManifest { .. }),
        "{err}"
    );
}

#[test]
fn a_second_archive_after_the_end_marker_is_refused() {
    let mut tar = Tar::default()
        .file("convox.yml", MANIFEST.as_bytes())
        .finish();
    tar.extend(Tar::default().file("convox.yml", b"evil").finish());
    let err = read(&gzip(&tar)).unwrap_err();
    assert!(matches!(err, ArchiveError::TrailingData), "{err}");
}

#[rstest]
#[case::empty(b"".to_vec())]
#[case::text(b"services:\n  web: {}\n".to_vec())]
#[case::plain_tar(Tar::default().file("convox.yml", MANIFEST.as_bytes()).finish())]
#[case::zip(b"PK\x03\x04rest-of-a-zip".to_vec())]
fn input_that_is_not_gzip_is_refused(#[case] input: Vec<u8>) {
    let err = read(&input).unwrap_err();
    assert!(matches!(err, ArchiveError::NotGzip), "{err}");
}

#[rstest]
#[case::half_the_gzip(2)]
#[case::all_but_the_gzip_trailer(0)]
fn a_truncated_archive_is_refused(#[case] divisor: usize) {
    let tar = Tar::default()
        .file("app.txt", &[7; 4096])
        .file("convox.yml", MANIFEST.as_bytes())
        .finish();
    let tgz = gzip(&tar);
    let cut = if divisor == 0 {
        tgz.len() - 4
    } else {
        tgz.len() / divisor
    };
    let err = read(&tgz[..cut]).unwrap_err();
    assert!(matches!(err, ArchiveError::Truncated), "{err}");
}

#[test]
fn a_valid_gzip_of_a_truncated_tar_is_refused() {
    let tar = Tar::default()
        .file("convox.yml", MANIFEST.as_bytes())
        .finish();
    let err = read(&gzip(&tar[..600])).unwrap_err();
    assert!(matches!(err, ArchiveError::Truncated), "{err}");
}

#[test]
fn a_corrupt_gzip_stream_is_refused() {
    let mut tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .finish(),
    );
    let middle = tgz.len() / 2;
    for byte in &mut tgz[middle - 4..middle + 4] {
        *byte ^= 0x5a;
    }
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::CorruptGzip { .. }), "{err}");
}

#[test]
fn garbage_inside_a_valid_gzip_is_refused_as_corrupt_tar() {
    let err = read(&gzip(&[0x41; 2048])).unwrap_err();
    assert!(matches!(err, ArchiveError::CorruptTar { .. }), "{err}");
}

#[test]
fn a_manifest_that_is_not_utf8_is_refused() {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", b"services:\n  web: \xff\xfe\n")
            .finish(),
    );
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::ManifestNotUtf8 { .. }), "{err}");
}

#[test]
fn a_failing_upload_is_reported_as_a_read_error() {
    struct Breaks(Vec<u8>, usize);
    impl Read for Breaks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(rest) = self.0.get(self.1..).filter(|r| !r.is_empty()) else {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "client went away",
                ));
            };
            let n = rest.len().min(buf.len()).min(100);
            buf[..n].copy_from_slice(&rest[..n]);
            self.1 += n;
            Ok(n)
        }
    }
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .finish(),
    );
    let half = tgz[..tgz.len() / 2].to_vec();
    let err = read_manifest(
        Breaks(half, 0),
        &ManifestPath::default(),
        &ArchiveLimits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Read(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{err}"
    );
}

#[test]
fn a_symlinked_directory_above_a_custom_manifest_is_refused() {
    let tgz = gzip(
        &Tar::default()
            .dir("elsewhere/")
            .file("elsewhere/convox.prod.yml", b"evil")
            .link("ci", EntryType::Symlink, "elsewhere")
            .file("ci/convox.prod.yml", MANIFEST.as_bytes())
            .finish(),
    );
    let err = read_at(&tgz, "ci/convox.prod.yml").unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::AncestorNotDirectory {
                found: EntryKind::Symlink,
                ..
            }
        ),
        "{err}"
    );
}

#[rstest]
#[case::plain("convox.yml")]
#[case::dot_slash("./convox.yml")]
#[case::parent("../convox.yml")]
fn a_hard_link_to_the_manifest_is_refused(#[case] target: &str) {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .link("copy.yml", EntryType::Link, target)
            .finish(),
    );
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::LinkToManifest { .. }), "{err}");
}

#[rstest]
#[case::link_to_the_root("a", ".", "a/convox.yml")]
#[case::link_up_from_a_subdirectory("ci/up", "..", "ci/up/convox.yml")]
#[case::absolute_link("a", "/build/src", "a/convox.yml")]
#[case::escaping_link("a", "../../src", "a/b/convox.yml")]
#[case::file_over_a_link_to_the_manifest("x", "convox.yml", "x")]
fn writes_through_an_earlier_symlink_are_refused(
    #[case] link: &str,
    #[case] target: &str,
    #[case] written: &str,
) {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .link(link, EntryType::Symlink, target)
            .file(written, b"services:\n  web:\n    build: .\n")
            .finish(),
    );
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::ThroughSymlink { .. }), "{err}");
}

#[test]
fn links_pointing_elsewhere_are_accepted() {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .link("bin/tool", EntryType::Symlink, "/usr/bin/tool")
            .link("docs/manifest.yml", EntryType::Symlink, "../convox.yml")
            .link("README", EntryType::Link, "docs/README.md")
            .finish(),
    );
    assert_eq!(read(&tgz).unwrap(), MANIFEST);
}

#[test]
fn an_entry_below_the_manifest_path_is_refused() {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .file("convox.yml/x", b"")
            .finish(),
    );
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::InsideManifest { .. }), "{err}");
}

#[test]
fn a_pax_path_naming_the_manifest_is_matched() {
    let tgz = gzip(
        &Tar::default()
            .pax(
                EntryType::XHeader,
                &[("path", "convox.yml"), ("mtime", "1.25")],
            )
            .file("convox.yml", MANIFEST.as_bytes())
            .finish(),
    );
    assert_eq!(read(&tgz).unwrap(), MANIFEST);
}

#[rstest]
#[case::pax_path_over_another_name(Tar::default().pax(EntryType::XHeader, &[("path", "convox.yml")]))]
#[case::long_name_over_another_name(Tar::default().long_name("convox.yml"))]
#[case::long_name_and_pax_path_disagree(
    Tar::default().long_name("notes.txt").pax(EntryType::XHeader, &[("path", "convox.yml")])
)]
fn conflicting_names_touching_the_manifest_are_refused(#[case] prefix: Tar) {
    let tgz = gzip(&prefix.file("notes.txt", b"services: {}\n").finish());
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::AmbiguousName { .. }), "{err}");
}

#[rstest]
#[case::sparse_pax(Tar::default().pax(EntryType::XHeader, &[("GNU.sparse.name", "convox.yml")]).file("x", b""))]
#[case::gnu_sparse(Tar::default().raw(b"convox.yml", EntryType::GNUSparse, b"", b""))]
#[case::global_path(Tar::default().pax(EntryType::XGlobalHeader, &[("path", "convox.yml")]).file("x", b""))]
#[case::pax_size_mismatch(Tar::default().pax(EntryType::XHeader, &[("size", "0")]).file("x", b"abc"))]
#[case::two_pax_headers(
    Tar::default().pax(EntryType::XHeader, &[("mtime", "1")]).pax(EntryType::XHeader, &[("mtime", "2")]).file("x", b"")
)]
#[case::symlink_with_data(Tar::default().with_size(b"link", EntryType::Symlink, 512, &Tar::default().file("convox.yml", b"evil").unfinished()))]
#[case::directory_with_data(Tar::default().with_size(b"d/", EntryType::Directory, 512, &[0; 512]))]
fn tar_features_that_extractors_read_differently_are_refused(#[case] tar: Tar) {
    let tgz = gzip(&tar.file("convox.yml", MANIFEST.as_bytes()).finish());
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::Unsupported { .. }), "{err}");
}

#[test]
fn extension_headers_without_an_entry_are_refused() {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .long_name("x")
            .finish(),
    );
    let err = read(&tgz).unwrap_err();
    assert!(matches!(err, ArchiveError::CorruptTar { .. }), "{err}");
}

#[test]
fn error_messages_escape_hostile_entry_names() {
    let tgz = gzip(
        &Tar::default()
            .file("convox.yml", MANIFEST.as_bytes())
            .file("convox.yml/a\nb", b"")
            .finish(),
    );
    let err = read(&tgz).unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err}");
}
