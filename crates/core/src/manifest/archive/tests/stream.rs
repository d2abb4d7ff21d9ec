//! Well-formed, damaged and oversize uploads.

use std::io::{self, Read};

use flate2::Compression;
use flate2::write::GzEncoder;
use rstest::rstest;
use tar::Header;

use super::{MANIFEST, Tar, gzip, read, read_at};
use crate::manifest::{ArchiveError, ArchiveLimits, ManifestPath, read_manifest};

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
#[case::empty(b"".to_vec())]
#[case::text(b"services:\n  web: {}\n".to_vec())]
#[case::plain_tar(Tar::default().file("convox.yml", MANIFEST.as_bytes()).finish())]
#[case::zip(b"PK\x03\x04rest-of-a-zip".to_vec())]
fn input_that_is_not_gzip_is_refused(#[case] input: Vec<u8>) {
    let err = read(&input).unwrap_err();
    assert!(matches!(err, ArchiveError::NotGzip), "{err}");
}

#[rstest]
#[case::half_the_gzip(|len| len / 2)]
#[case::all_but_the_gzip_trailer(|len| len - 4)]
#[case::just_the_gzip_header(|_| 10)]
fn a_truncated_archive_is_refused(#[case] cut: fn(usize) -> usize) {
    let tar = Tar::default()
        .file("app.txt", &[7; 4096])
        .file("convox.yml", MANIFEST.as_bytes())
        .finish();
    let tgz = gzip(&tar);
    let err = read(&tgz[..cut(tgz.len())]).unwrap_err();
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
