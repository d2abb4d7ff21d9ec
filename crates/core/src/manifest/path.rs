//! The manifest's path inside the uploaded tarball: the build form field `manifest`.

use crate::ids::{IdError, string_newtype};

/// Where the manifest lives inside the uploaded source, e.g. `convox.yml` or
/// `ci/convox.prod.yml` (the build form field `manifest`, from `convox deploy -m`).
///
/// Accepted: 1–256 bytes, relative (no leading `/`), `/`-separated segments that are neither
/// empty, `.` nor `..`, and no NUL, backslash or other control characters. Because the path is
/// already in its only canonical form, a tar entry is the manifest exactly when its normalised
/// name is byte-equal to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestPath(String);

impl ManifestPath {
    const KIND: &'static str = "manifest path";

    /// The longest accepted path, in bytes.
    pub const MAX_LEN: usize = 256;

    /// Parses a manifest path; see the type docs for the accepted form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| Err(IdError::new(Self::KIND, s, reason));
        if s.is_empty() {
            return err("the manifest path cannot be empty; leave the field out to use convox.yml");
        }
        if s.len() > Self::MAX_LEN {
            return err("the manifest path is at most 256 bytes");
        }
        if s.starts_with('/') {
            return err(
                "the manifest path is relative to the source directory, e.g. ci/convox.prod.yml, not absolute",
            );
        }
        if s.chars().any(|c| c == '\\' || c.is_control()) {
            return err(
                "the manifest path cannot contain a backslash, NUL or control characters; separate directories with /",
            );
        }
        for segment in s.split('/') {
            match segment {
                "" => {
                    return err(
                        "the manifest path cannot contain empty segments (a doubled or trailing /)",
                    );
                }
                "." | ".." => {
                    return err(
                        "the manifest path cannot contain . or .. segments; write it relative to the source directory, e.g. ci/convox.prod.yml",
                    );
                }
                _ => {}
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// The directories the manifest lies under, outermost first: `a/b/c.yml` → `a`, `a/b`.
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = &str> {
        self.0
            .match_indices('/')
            .map(|(i, _)| self.0.get(..i).unwrap_or_default())
    }
}

impl Default for ManifestPath {
    /// `convox.yml`, the path the rack uses when the build names none.
    fn default() -> Self {
        Self("convox.yml".to_owned())
    }
}

string_newtype!(ManifestPath);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("convox.yml")]
    #[case("ci/convox.prod.yml")]
    #[case("a/b/c/convox.yml")]
    #[case(".convox.yml")]
    #[case("..convox.yml")]
    fn well_formed_manifest_paths_are_accepted(#[case] input: &str) {
        assert_eq!(ManifestPath::parse(input).unwrap().as_str(), input);
    }

    #[rstest]
    #[case::empty("")]
    #[case::absolute("/convox.yml")]
    #[case::parent("../convox.yml")]
    #[case::inner_parent("ci/../convox.yml")]
    #[case::dot("./convox.yml")]
    #[case::inner_dot("ci/./convox.yml")]
    #[case::doubled_slash("ci//convox.yml")]
    #[case::trailing_slash("ci/")]
    #[case::nul("convox.yml\0")]
    #[case::backslash("ci\\convox.yml")]
    #[case::newline("convox.yml\n")]
    #[case::too_long(&"a".repeat(257))]
    fn malformed_manifest_paths_are_refused_with_a_reason(#[case] input: &str) {
        let err = ManifestPath::parse(input).unwrap_err();
        assert_eq!(err.kind, "manifest path");
        assert!(
            err.to_string().starts_with("invalid manifest path"),
            "{err}"
        );
    }

    #[test]
    fn the_default_manifest_path_is_convox_yml() {
        assert_eq!(ManifestPath::default().as_str(), "convox.yml");
        assert_eq!(ManifestPath::default().ancestors().count(), 0);
    }

    #[test]
    fn ancestors_are_listed_outermost_first() {
        let path = ManifestPath::parse("a/b/c.yml").unwrap();
        assert_eq!(path.ancestors().collect::<Vec<_>>(), ["a", "a/b"]);
    }

    #[test]
    fn a_path_of_exactly_256_bytes_is_accepted() {
        assert!(ManifestPath::parse(&"a".repeat(256)).is_ok());
    }
}
