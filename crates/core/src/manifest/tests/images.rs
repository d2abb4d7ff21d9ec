//! Checking images: interpolation, the default rule, patterns, builds and init containers.

use rstest::rstest;

use super::{OTHER, SHA, check, one_service};
use crate::manifest::{ImageRule, ManifestError, MismatchReason, printable};

#[rstest]
#[case::image_tag("services:\n  web:\n    image: r/web:${TAG}\n", 3)]
#[case::elsewhere(
    "environment:\n  - X=${Y}\nservices:\n  web:\n    image: r/web:tag\n",
    2
)]
fn interpolation_is_refused_with_the_line(#[case] text: &str, #[case] line: usize) {
    let err = check(text, &[]).unwrap_err();
    assert_eq!(err, ManifestError::Interpolation { line });
    assert!(
        err.to_string().contains("literal image references"),
        "{err}"
    );
}

#[rstest]
#[case::plain(&format!("registry.example.com/app:{SHA}"))]
#[case::prefixed_tag(&format!("registry.example.com/app:build-{SHA}-amd64"))]
#[case::registry_port(&format!("registry.example.com:5000/team/app:{SHA}"))]
#[case::tag_and_digest(&format!("r/app:{SHA}@sha256:{}", "a".repeat(64)))]
#[case::docker_hub(&format!("app:{SHA}"))]
fn the_default_rule_accepts_a_tag_containing_the_commit(#[case] image: &str) {
    let checked = check(&one_service(image), &[]).unwrap();
    assert_eq!(checked[0].rule, ImageRule::CommitInTag);
    assert_eq!(checked[0].image, image);
}

#[rstest]
#[case::commit_only_in_the_repository(&format!("r/app-{SHA}:latest"), "latest")]
#[case::commit_as_a_path_segment(&format!("r/{SHA}/app:latest"), "latest")]
#[case::short_commit_only("r/app:0123456", "0123456")]
#[case::other_commit(&format!("r/app:{OTHER}"), OTHER)]
#[case::upper_case_commit(&format!("r/app:{}", SHA.to_uppercase()), &SHA.to_uppercase())]
fn the_default_rule_refuses_a_tag_without_the_commit(#[case] image: &str, #[case] tag: &str) {
    let err = check(&one_service(image), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "image {image} of service web does not match the approved commit {SHA}: its tag {tag:?} does not contain the full commit SHA; tag the image with the commit it was built from"
        )
    );
}

#[rstest]
#[case::no_tag("r/app")]
#[case::registry_port_no_tag("registry.example.com:5000/app")]
#[case::digest_only(&format!("r/app@sha256:{SHA}{SHA}"))]
#[case::commit_in_the_digest_only(&format!("r/app@sha256:{SHA}"))]
#[case::empty_tag("\"r/app:\"")]
fn the_default_rule_refuses_an_image_without_a_tag(#[case] image: &str) {
    let err = check(&one_service(image), &[]).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::ImageMismatch {
                reason: MismatchReason::NoTag,
                ..
            }
        ),
        "{err}"
    );
}

#[rstest]
#[case::explicit_build("services:\n  web:\n    build: .\n", "builds from source (build:)")]
#[case::build_mapping(
    "services:\n  web:\n    build:\n      path: api\n",
    "builds from source (build:)"
)]
#[case::neither(
    "services:\n  web:\n    port: 3000\n",
    "has no image: and so builds from source"
)]
#[case::null_service("services:\n  web:\n", "has no image: and so builds from source")]
fn services_that_build_from_source_are_refused(#[case] text: &str, #[case] why: &str) {
    for entries in [&[][..], &[("*", ".*")][..]] {
        let err = check(text, entries).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "service web {why}; approved deploys must use a pre-built image tagged with commit {SHA}"
            )
        );
    }
}

#[test]
fn a_service_with_both_build_and_image_is_checked_by_its_image() {
    let good = format!("services:\n  web:\n    build: .\n    image: r/web:{SHA}\n");
    assert_eq!(check(&good, &[]).unwrap()[0].image, format!("r/web:{SHA}"));
    let bad = "services:\n  web:\n    build: .\n    image: r/web:latest\n";
    assert!(matches!(
        check(bad, &[]),
        Err(ManifestError::ImageMismatch { .. })
    ));
}

#[test]
fn the_wildcard_pattern_applies_to_every_service() {
    let text = format!(
        "services:\n  web:\n    image: r/web:{SHA}\n  worker:\n    image: r/worker:{SHA}\n"
    );
    let checked = check(&text, &[("*", "r/[a-z]+:{{GIT_COMMIT}}")]).unwrap();
    assert!(checked.iter().all(|c| c.rule
        == ImageRule::Pattern {
            key: "*".into(),
            pattern: "r/[a-z]+:{{GIT_COMMIT}}".into()
        }));
    let err = check(&text, &[("*", "r/web:{{GIT_COMMIT}}")]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("image r/worker:{SHA} of service worker")),
        "{err}"
    );
}

#[test]
fn a_per_service_pattern_overrides_the_wildcard() {
    let text =
        format!("services:\n  web:\n    image: r/web:{SHA}\n  redis:\n    image: redis:7.2\n");
    let entries = [("*", "r/.*:{{GIT_COMMIT}}"), ("redis", r"redis:7\.2")];
    let checked = check(&text, &entries).unwrap();
    assert_eq!(
        checked[1].rule,
        ImageRule::Pattern {
            key: "redis".into(),
            pattern: r"redis:7\.2".into()
        }
    );
    assert!(check(&text, &entries[..1]).is_err());
}

#[test]
fn a_pattern_for_one_service_leaves_the_others_on_the_default_rule() {
    let text =
        format!("services:\n  web:\n    image: r/web:{SHA}\n  redis:\n    image: redis:7.2\n");
    let checked = check(&text, &[("redis", r"redis:7\.2")]).unwrap();
    assert_eq!(checked[0].rule, ImageRule::CommitInTag);
}

#[rstest]
#[case::short_commit("r/web:0123456", true)]
#[case::other_short_commit("r/web:fedcba9", false)]
#[case::full_commit_is_not_short(&format!("r/web:{SHA}"), false)]
fn the_short_commit_placeholder_is_the_first_seven_characters(
    #[case] image: &str,
    #[case] ok: bool,
) {
    assert_eq!(
        check(
            &one_service(image),
            &[("web", "r/web:{{GIT_COMMIT_SHORT}}")]
        )
        .is_ok(),
        ok
    );
}

#[rstest]
#[case::prefix(&format!("evil.example/r/web:{SHA}"))]
#[case::suffix(&format!("r/web:{SHA}-but-not-really"))]
#[case::digest_suffix(&format!("r/web:{SHA}@sha256:{}", "b".repeat(64)))]
fn a_pattern_that_would_match_unanchored_must_match_the_whole_reference(#[case] image: &str) {
    let err = check(&one_service(image), &[("*", "r/web:{{GIT_COMMIT}}")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not match the pattern \"r/web:{{GIT_COMMIT}}\""),
        "{err}"
    );
}

#[test]
fn regex_metacharacters_in_a_pattern_stay_metacharacters_but_the_commit_is_literal() {
    // `.` in the pattern is the admin's regex; the commit is inserted escaped.
    let text = one_service(&format!("r/webX{SHA}"));
    assert!(check(&text, &[("*", "r/web.{{GIT_COMMIT}}")]).is_ok());
}

#[rstest]
#[case::matching(&format!("r/init:{SHA}"), true)]
#[case::not_matching("r/init:latest", false)]
fn the_init_container_image_is_checked_by_the_services_rule(#[case] init: &str, #[case] ok: bool) {
    let text = format!(
        "services:\n  web:\n    image: r/web:{SHA}\n    initContainer:\n      image: {init}\n"
    );
    let result = check(&text, &[]);
    assert_eq!(result.is_ok(), ok, "{result:?}");
    if let Err(err) = result {
        assert!(
            err.to_string()
                .starts_with(&format!("initContainer image {init} of service web")),
            "{err}"
        );
    } else {
        assert_eq!(result.unwrap()[0].init_image.as_deref(), Some(init));
    }
}

#[test]
fn an_invalid_pattern_in_the_settings_is_reported_as_a_pattern_error() {
    let err = check(&one_service(&format!("r/web:{SHA}")), &[("*", "(")]).unwrap_err();
    assert!(matches!(err, ManifestError::InvalidPattern { .. }), "{err}");
}

#[rstest]
#[case::space("\"r/web:tag with space\"")]
#[case::tab("\"r/web:\\t{SHA}\"")]
fn image_references_with_whitespace_or_control_characters_are_refused(#[case] image: &str) {
    let err = check(&one_service(image), &[("*", ".*")]).unwrap_err();
    assert!(
        matches!(err, ManifestError::InvalidImageReference { .. }),
        "{err}"
    );
}

#[test]
fn the_mismatch_message_reads_like_the_product_spec() {
    let err = check(&one_service("r/web:latest"), &[]).unwrap_err();
    assert!(err.to_string().starts_with(&format!(
        "image r/web:latest of service web does not match the approved commit {SHA}"
    )));
}

#[test]
fn printable_escapes_control_characters_and_truncates() {
    assert_eq!(printable(b"a\nb"), "a\\nb");
    assert!(printable("x".repeat(300).as_bytes()).ends_with('…'));
    assert_eq!(printable(&[0xff]), "\u{fffd}");
}
