//! Hostile build sources: every one fails the build with an `ERROR:` log line, none panics.

use std::io::Write;

use serde_json::Value;

use super::helpers::{APP, MANIFEST, PASSWORD, TestRack, read_to_eof, tarball};

/// Builds `source` and returns the finished build plus its log text.
async fn build_of(t: &TestRack, source: Vec<u8>) -> (Value, String) {
    let url = t.upload(APP, source).await;
    let build = t.create_build(APP, &url, &[]).await;
    let id = build["id"].as_str().unwrap().to_owned();
    let build = t.wait_build(APP, &id).await;
    let mut socket = t
        .socket(&format!("/apps/{APP}/builds/{id}/logs"), &[])
        .await;
    let logs = read_to_eof(&mut socket).await;
    assert!(logs.eof);
    (build, logs.text())
}

async fn assert_fails(t: &TestRack, source: Vec<u8>, message: &str) {
    let (build, logs) = build_of(t, source).await;
    assert_eq!(build["status"], "failed", "{logs}");
    assert_eq!(build["release"], "");
    assert_ne!(build["ended"], "0001-01-01T00:00:00Z");
    let error = logs
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_default();
    assert!(error.contains(message), "expected {message:?} in {logs:?}");
}

/// A raw tar header whose name bypasses the tar crate's path checks.
fn raw_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn raw_tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, data) in entries {
        tar.extend(raw_entry(name, data));
    }
    tar.extend([0u8; 1024]);
    gzip(&tar)
}

#[tokio::test]
async fn a_source_that_is_not_gzip_fails_the_build() {
    let t = TestRack::start().await;
    assert_fails(&t, b"just some text".to_vec(), "not gzip-compressed").await;
    assert_fails(
        &t,
        gzip(b"not a tar archive at all, but gzip"),
        "invalid tarball",
    )
    .await;
}

#[tokio::test]
async fn a_missing_manifest_fails_the_build() {
    let t = TestRack::start().await;
    assert_fails(
        &t,
        tarball(&[("Dockerfile", b"FROM x\n")]),
        "no such file: convox.yml",
    )
    .await;
}

#[tokio::test]
async fn an_invalid_manifest_fails_the_build() {
    let t = TestRack::start().await;
    assert_fails(
        &t,
        tarball(&[("convox.yml", b"services: [\n")]),
        "invalid manifest",
    )
    .await;
    assert_fails(
        &t,
        tarball(&[("convox.yml", b"- just\n- a list\n")]),
        "invalid manifest",
    )
    .await;
    assert_fails(
        &t,
        tarball(&[("convox.yml", b"environment: []\n")]),
        "no services",
    )
    .await;
    assert_fails(
        &t,
        tarball(&[("convox.yml", &[0xff, 0xfe, 0x00])]),
        "not valid utf-8",
    )
    .await;
}

#[tokio::test]
async fn dot_dot_and_absolute_entries_fail_the_build() {
    let t = TestRack::start().await;
    let escape = raw_tarball(&[("convox.yml", MANIFEST.as_bytes()), ("../evil", b"x")]);
    assert_fails(&t, escape, "unsafe path: ../evil").await;
    let absolute = raw_tarball(&[("/etc/cron.d/x", b"x"), ("convox.yml", MANIFEST.as_bytes())]);
    assert_fails(&t, absolute, "unsafe path: /etc/cron.d/x").await;
}

#[tokio::test]
async fn a_manifest_path_that_climbs_out_fails_the_build() {
    let t = TestRack::start().await;
    let url = t.upload(APP, super::helpers::app_source()).await;
    let build = t
        .create_build(APP, &url, &[("manifest", "../convox.yml")])
        .await;
    let build = t.wait_build(APP, build["id"].as_str().unwrap()).await;
    assert_eq!(build["status"], "failed");
}

#[tokio::test]
async fn a_symlinked_manifest_is_ignored() {
    let t = TestRack::start().await;
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder
        .append_link(&mut header, "convox.yml", "/etc/passwd")
        .unwrap();
    let source = builder.into_inner().unwrap().finish().unwrap();
    assert_fails(&t, source, "no such file: convox.yml").await;
}

#[tokio::test]
async fn an_oversized_manifest_fails_the_build() {
    let t = TestRack::start().await;
    let mut big = MANIFEST.as_bytes().to_vec();
    big.extend(std::iter::repeat_n(b'#', 1 << 20));
    assert_fails(
        &t,
        tarball(&[("convox.yml", &big)]),
        "file too large: convox.yml",
    )
    .await;
}

#[tokio::test]
async fn a_gzip_bomb_fails_the_build() {
    let t = TestRack::start_with(fake_rack::Options {
        password: PASSWORD.to_owned(),
        timing: fake_rack::Timing::fast(),
        limits: fake_rack::Limits {
            max_tarball_bytes: 4 << 20,
            ..fake_rack::Limits::default()
        },
        ..fake_rack::Options::default()
    })
    .await;
    let zeros = vec![0u8; 16 << 20];
    let bomb = tarball(&[("convox.yml", MANIFEST.as_bytes()), ("zeros", &zeros)]);
    assert!(bomb.len() < 100_000, "compresses well: {}", bomb.len());
    assert_fails(&t, bomb, "more than 4194304 bytes decompressed").await;
}

#[tokio::test]
async fn a_build_from_a_missing_object_fails() {
    let t = TestRack::start().await;
    let build = t
        .create_build(APP, &format!("object://{APP}/tmp/none.tgz"), &[])
        .await;
    let build = t.wait_build(APP, build["id"].as_str().unwrap()).await;
    assert_eq!(build["status"], "failed");
}
