//! The per-app setting `service_image_patterns`: validating it for the settings API and
//! compiling a pattern for one approved commit.
//!
//! A pattern is a regular expression for the `regex` crate (linear time in the image length,
//! whatever the pattern), matched against the whole image reference. `{{GIT_COMMIT}}` and
//! `{{GIT_COMMIT_SHORT}}` are replaced by the regex-escaped full and 7-character commit before
//! compiling.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};

use super::{ManifestError, is_service_name, printable};

/// Longest pattern accepted, in bytes, before substitution.
pub const MAX_PATTERN_LEN: usize = 512;

/// Most entries `service_image_patterns` may have.
pub const MAX_PATTERNS: usize = 256;

/// The key whose pattern applies to every service without its own key.
pub const ALL_SERVICES: &str = "*";

/// Compiled-program bounds, far above what a 512-byte pattern needs unless it nests counted
/// repetitions.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_NEST_LIMIT: u32 = 32;

/// Checks a `service_image_patterns` value before it is saved: at most [`MAX_PATTERNS`]
/// entries; keys are `*` or valid service names; every pattern is non-empty, at most
/// [`MAX_PATTERN_LEN`] bytes, free of control characters, uses only the two known
/// placeholders, and compiles (after substitution) within the size limits.
pub fn validate_patterns(patterns: &BTreeMap<String, String>) -> Result<(), ManifestError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(ManifestError::InvalidPattern {
            key: ALL_SERVICES.into(),
            reason: format!(
                "there are {} patterns; at most {MAX_PATTERNS} are accepted",
                patterns.len()
            ),
        });
    }
    const DUMMY_SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const DUMMY_SHORT: &str = "0123456";
    for (key, pattern) in patterns {
        if key != ALL_SERVICES && !is_service_name(key) {
            return Err(invalid(
                key,
                "the key must be * or a service name (a-z, 0-9 and -, starting with a letter)"
                    .into(),
            ));
        }
        compile(key, pattern, DUMMY_SHA, DUMMY_SHORT)?;
    }
    Ok(())
}

/// The pattern that applies to `service`: its own key, else `*`, else none.
pub(super) fn applicable<'p>(
    patterns: &'p BTreeMap<String, String>,
    service: &str,
) -> Option<(&'p str, &'p str)> {
    patterns
        .get_key_value(service)
        .or_else(|| patterns.get_key_value(ALL_SERVICES))
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Compiles `pattern` for one commit, anchored to the whole reference.
pub(super) fn compile(
    key: &str,
    pattern: &str,
    commit: &str,
    short: &str,
) -> Result<Regex, ManifestError> {
    if pattern.is_empty() {
        return Err(invalid(key, "the pattern is empty".into()));
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(invalid(
            key,
            format!(
                "the pattern is {} bytes; at most {MAX_PATTERN_LEN} are accepted",
                pattern.len()
            ),
        ));
    }
    if pattern.chars().any(char::is_control) {
        return Err(invalid(
            key,
            "the pattern contains control characters".into(),
        ));
    }
    let substituted = substitute(pattern, commit, short).map_err(|reason| invalid(key, reason))?;
    // Compiled alone first: only a self-contained expression may go inside `^(?:...)$`, so
    // `a)|(b` cannot close the group and unanchor the match.
    build(&substituted).map_err(|reason| invalid(key, reason))?;
    build(&format!("^(?:{substituted})$")).map_err(|reason| invalid(key, reason))
}

/// Whether the anchored `regex` matches all of `image`.
pub(super) fn matches_whole(regex: &Regex, image: &str) -> bool {
    regex
        .find(image)
        .is_some_and(|m| m.start() == 0 && m.end() == image.len())
}

fn build(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                "the pattern compiles too large; avoid large or nested counted repetitions".into()
            }
            other => format!("it is not a valid regular expression: {other}"),
        })
}

/// Replaces `{{GIT_COMMIT}}` and `{{GIT_COMMIT_SHORT}}` with the regex-escaped values and
/// refuses any other `{{...}}` placeholder.
fn substitute(pattern: &str, commit: &str, short: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 64);
    let mut rest = pattern;
    while let Some(start) = rest.find("{{") {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let Some(end) = from.find("}}") else {
            return Err(
                "it has an unclosed {{ (placeholders are {{GIT_COMMIT}} and {{GIT_COMMIT_SHORT}})"
                    .into(),
            );
        };
        let name = from.get(2..end).unwrap_or_default();
        match name {
            "GIT_COMMIT" => out.push_str(&regex::escape(commit)),
            "GIT_COMMIT_SHORT" => out.push_str(&regex::escape(short)),
            other => {
                return Err(format!(
                    "unknown placeholder {{{{{}}}}}; use {{{{GIT_COMMIT}}}} or {{{{GIT_COMMIT_SHORT}}}}",
                    printable(other.as_bytes())
                ));
            }
        }
        rest = from.get(end + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

fn invalid(key: &str, reason: String) -> ManifestError {
    ManifestError::InvalidPattern {
        key: printable(key.as_bytes()),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[rstest]
    #[case::all(&[("*", "registry.example.com/app:{{GIT_COMMIT}}")])]
    #[case::per_service(&[("web", "registry/web:{{GIT_COMMIT_SHORT}}-.*"), ("*", "registry/.*:{{GIT_COMMIT}}")])]
    #[case::no_placeholder(&[("redis", r"redis:7\.2@sha256:[0-9a-f]{64}")])]
    #[case::empty_map(&[])]
    fn good_patterns_are_accepted(#[case] entries: &[(&str, &str)]) {
        validate_patterns(&map(entries)).unwrap();
    }

    #[rstest]
    #[case::unbalanced_group("registry/(app:{{GIT_COMMIT}}", "not a valid regular expression")]
    #[case::group_escape("a)|(b", "not a valid regular expression")]
    #[case::trailing_backslash(r"registry/app\", "not a valid regular expression")]
    #[case::too_long(&"a".repeat(513), "at most 512")]
    #[case::empty("", "empty")]
    #[case::unknown_placeholder("registry/app:{{GIT_SHA}}", "unknown placeholder {{GIT_SHA}}")]
    #[case::unclosed_placeholder("registry/app:{{GIT_COMMIT", "unclosed")]
    #[case::huge_repetition("((a{100}){100}){100}", "too large")]
    #[case::newline("registry/app\n", "control characters")]
    fn bad_patterns_are_refused_with_the_reason(#[case] pattern: &str, #[case] reason: &str) {
        let err = validate_patterns(&map(&[("web", pattern)])).unwrap_err();
        let ManifestError::InvalidPattern { key, reason: got } = &err else {
            panic!("{err}");
        };
        assert_eq!(key, "web");
        assert!(got.contains(reason), "{got}");
    }

    #[rstest]
    #[case("Web")]
    #[case("web_1")]
    #[case("")]
    #[case("**")]
    #[case("yes")]
    fn bad_pattern_keys_are_refused(#[case] key: &str) {
        let err = validate_patterns(&map(&[(key, "x")])).unwrap_err();
        assert!(err.to_string().contains("the key must be *"), "{err}");
    }

    #[test]
    fn too_many_patterns_are_refused() {
        let many: BTreeMap<String, String> = (0..=MAX_PATTERNS)
            .map(|i| (format!("s{i}"), "x".to_owned()))
            .collect();
        assert!(validate_patterns(&many).is_err());
    }

    #[test]
    fn regex_metacharacters_in_placeholder_values_are_escaped() {
        let regex = compile(
            "web",
            "app:{{GIT_COMMIT}}-{{GIT_COMMIT_SHORT}}",
            "a.b+c",
            "a.b",
        )
        .unwrap();
        assert!(matches_whole(&regex, "app:a.b+c-a.b"));
        assert!(!matches_whole(&regex, "app:aXbbc-aXb"));
    }

    #[test]
    fn patterns_are_anchored_to_the_whole_reference() {
        let regex = compile("*", "registry/app:{{GIT_COMMIT}}", SHA, &SHA[..7]).unwrap();
        assert!(matches_whole(&regex, &format!("registry/app:{SHA}")));
        assert!(!matches_whole(
            &regex,
            &format!("evil.example/registry/app:{SHA}")
        ));
        assert!(!matches_whole(&regex, &format!("registry/app:{SHA}-evil")));
    }

    #[test]
    fn alternation_stays_inside_the_anchors() {
        let regex = compile("*", "a|b", SHA, &SHA[..7]).unwrap();
        assert!(matches_whole(&regex, "a"));
        assert!(!matches_whole(&regex, "ab"));
        assert!(!matches_whole(&regex, "xb"));
    }

    #[test]
    fn a_service_key_wins_over_the_wildcard() {
        let patterns = map(&[("*", "all"), ("web", "web-only")]);
        assert_eq!(applicable(&patterns, "web"), Some(("web", "web-only")));
        assert_eq!(applicable(&patterns, "worker"), Some(("*", "all")));
        assert_eq!(applicable(&map(&[("web", "x")]), "worker"), None);
    }
}
