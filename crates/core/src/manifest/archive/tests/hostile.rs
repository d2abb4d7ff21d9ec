//! Entries crafted to hide, duplicate or redirect the manifest.

use rstest::rstest;
use tar::EntryType;

use super::{MANIFEST, Tar, gzip, read, read_at};
use crate::manifest::{ArchiveError, EntryKind};

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
