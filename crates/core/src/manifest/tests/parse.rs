//! Parsing convox.yml: structure, names, YAML features and budgets.

use rstest::rstest;

use super::{SHA, check, one_service};
use crate::manifest::{MAX_MANIFEST_BYTES, ManifestError, parse_manifest};

#[test]
fn services_are_parsed_in_order_with_image_build_and_init_image() {
    let manifest = parse_manifest(
        "environment:\n  - FOO\nservices:\n  worker:\n    build: .\n  web:\n    image: r/web:1\n    build:\n      path: .\n    initContainer:\n      image: r/init:1\n      command: migrate\n  cron:\n",
    )
    .unwrap();
    let summary: Vec<_> = manifest
        .services
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.image.as_deref(),
                s.has_build,
                s.init_image.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("worker", None, true, None),
            ("web", Some("r/web:1"), true, Some("r/init:1")),
            ("cron", None, false, None),
        ]
    );
}

#[test]
fn an_empty_image_counts_as_no_image() {
    let manifest = parse_manifest("services:\n  web:\n    image: \"\"\n").unwrap();
    assert_eq!(manifest.services[0].image, None);
}

#[rstest]
#[case::sequence("- web\n", ManifestError::NotAMapping)]
#[case::scalar("just text\n", ManifestError::NotAMapping)]
#[case::empty("", ManifestError::NoServices)]
#[case::comment_only("# nothing\n", ManifestError::NoServices)]
#[case::no_services_key("environment:\n  - FOO\n", ManifestError::NoServices)]
#[case::null_services("services:\n", ManifestError::NoServices)]
#[case::empty_services("services: {}\n", ManifestError::NoServices)]
fn manifests_without_services_are_refused(#[case] text: &str, #[case] expected: ManifestError) {
    assert_eq!(parse_manifest(text).unwrap_err(), expected);
}

#[rstest]
#[case("Web")]
#[case("1web")]
#[case("web_1")]
#[case("web.1")]
#[case("-web")]
#[case("yes")]
#[case("on")]
#[case("a23456789012345678901234567890123456789012345678901234567890123x")]
fn invalid_service_names_are_refused(#[case] name: &str) {
    let err =
        parse_manifest(&format!("services:\n  \"{name}\":\n    image: r/a:{SHA}\n")).unwrap_err();
    assert!(
        matches!(err, ManifestError::InvalidServiceName { .. }),
        "{err}"
    );
}

#[rstest]
#[case::duplicate_service("services:\n  web:\n    image: a\n  web:\n    image: b\n")]
#[case::duplicate_image("services:\n  web:\n    image: a\n    image: b\n")]
#[case::two_documents("services:\n  web:\n    image: a\n---\nservices:\n  web:\n    image: b\n")]
#[case::custom_tag("services:\n  web:\n    image: !evil a\n")]
#[case::service_as_sequence("services:\n  web:\n    - image\n    - a\n")]
#[case::image_as_mapping("services:\n  web:\n    image: {name: a}\n")]
#[case::broken_yaml("services:\n  web: [\n")]
fn malformed_or_ambiguous_yaml_is_refused(#[case] text: &str) {
    let err = parse_manifest(text).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Yaml { .. } | ManifestError::YamlLimits { .. }
        ),
        "{err:?}"
    );
}

#[rstest]
#[case::in_a_service(
    "base: &base\n  image: evil\nservices:\n  web:\n    image: good\n    <<: *base\n"
)]
#[case::in_services(
    "more: &more\n  api:\n    image: evil\nservices:\n  <<: *more\n  web:\n    image: good\n"
)]
#[case::at_the_top(
    "x: &x\n  services:\n    web:\n      image: evil\n<<: *x\nservices:\n  web:\n    image: good\n"
)]
#[case::in_an_init_container(
    "i: &i\n  image: evil\nservices:\n  web:\n    image: good\n    initContainer:\n      <<: *i\n"
)]
fn merge_keys_that_could_change_an_image_are_refused(#[case] text: &str) {
    let err = parse_manifest(text).unwrap_err();
    assert!(matches!(err, ManifestError::MergeKey { .. }), "{err}");
}

#[test]
fn anchors_and_merge_keys_elsewhere_are_accepted() {
    let text = format!(
        "env: &env\n  - FOO\nscale: &scale\n  count: 2\nservices:\n  web:\n    image: &img r/web:{SHA}\n    environment: *env\n    scale:\n      <<: *scale\n      memory: 512\n  worker:\n    image: *img\n"
    );
    let checked = check(&text, &[]).unwrap();
    assert_eq!(checked.len(), 2);
    assert_eq!(checked[1].image, format!("r/web:{SHA}"));
}

#[test]
fn a_yaml_alias_bomb_is_refused_quickly() {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    text.push_str(&format!("services:\n  web:\n    image: r/web:{SHA}\n"));
    let started = std::time::Instant::now();
    let err = check(&text, &[]).unwrap_err();
    assert!(matches!(err, ManifestError::YamlLimits { .. }), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn an_alias_of_a_huge_scalar_into_images_is_refused_before_copying() {
    let big = "x".repeat(600 * 1024);
    let text = format!(
        "big: &big \"{big}\"\nservices:\n  web:\n    image: *big\n  api:\n    image: *big\n"
    );
    assert!(check(&text, &[]).is_err());
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!(
        "{}x{}\nservices:\n  web:\n    image: a\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let err = parse_manifest(&text).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::YamlLimits { .. } | ManifestError::Yaml { .. }
        ),
        "{err}"
    );
}

#[test]
fn a_manifest_over_one_mebibyte_is_refused() {
    let text = format!(
        "{}\n{}",
        one_service(&format!("r/a:{SHA}")),
        "#".repeat(MAX_MANIFEST_BYTES)
    );
    assert!(matches!(
        check(&text, &[]),
        Err(ManifestError::TooLarge { .. })
    ));
}
