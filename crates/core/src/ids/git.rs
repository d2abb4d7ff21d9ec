//! Git commit hashes: full SHA-1 commits and abbreviations.

use super::{IdError, string_newtype};

/// A full 40-hex git commit SHA, normalised to lower case.
///
/// The server stores and binds approvals only to full SHAs (PRODUCT.md §3); abbreviations are
/// a separate type, [`GitShaPrefix`], that the CLI expands with the local repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GitSha(String);

impl GitSha {
    const KIND: &'static str = "git commit SHA";

    /// Parses exactly 40 hexadecimal characters (either case) and lower-cases them.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() != 40 {
            return Err(IdError::new(
                Self::KIND,
                s,
                "a full commit SHA is exactly 40 hex characters; expand an abbreviated SHA with `git rev-parse <sha>`",
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::new(
                Self::KIND,
                s,
                "a commit SHA contains only hex characters 0-9 and a-f",
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// The first 7 characters, as used by `{{GIT_COMMIT_SHORT}}` in image patterns.
    pub fn short(&self) -> &str {
        // The string is 40 ASCII bytes by construction, so slicing at 7 is on a char boundary.
        self.0.get(..7).unwrap_or(&self.0)
    }

    /// Whether this commit starts with the given abbreviation.
    pub fn starts_with(&self, prefix: &GitShaPrefix) -> bool {
        self.0.starts_with(prefix.as_str())
    }
}

string_newtype!(GitSha);

/// An abbreviated commit SHA of 7–39 hex characters, normalised to lower case.
///
/// Only the CLI uses this, to expand the seed's `--git-commit abc123f` into a [`GitSha`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GitShaPrefix(String);

impl GitShaPrefix {
    const KIND: &'static str = "abbreviated git commit SHA";

    /// Parses 7–39 hexadecimal characters (either case) and lower-cases them.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if !(7..=39).contains(&s.len()) {
            return Err(IdError::new(
                Self::KIND,
                s,
                "an abbreviated SHA has 7 to 39 hex characters (40 is a full SHA)",
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::new(
                Self::KIND,
                s,
                "a commit SHA contains only hex characters 0-9 and a-f",
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }
}

string_newtype!(GitShaPrefix);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn a_full_sha_is_lower_cased() {
        let sha = GitSha::parse(&SHA.to_ascii_uppercase()).unwrap();
        assert_eq!(sha.as_str(), SHA);
        assert_eq!(sha.short(), "0123456");
    }

    #[rstest]
    #[case("")]
    #[case("abc123f")]
    #[case(&SHA[..39])]
    #[case(&format!("{SHA}0"))]
    #[case("g123456789abcdef0123456789abcdef01234567")]
    #[case(" 123456789abcdef0123456789abcdef01234567")]
    fn malformed_full_shas_are_rejected(#[case] input: &str) {
        assert!(GitSha::parse(input).is_err());
    }

    #[rstest]
    #[case("abc123f", true)]
    #[case("ABC123F", true)]
    #[case("abc123", false)]
    #[case("abc123z", false)]
    #[case(SHA, false)]
    fn prefixes_are_seven_to_thirty_nine_hex(#[case] input: &str, #[case] ok: bool) {
        assert_eq!(GitShaPrefix::parse(input).is_ok(), ok);
    }

    #[test]
    fn a_sha_matches_its_own_prefix_only() {
        let sha = GitSha::parse(SHA).unwrap();
        assert!(sha.starts_with(&GitShaPrefix::parse("0123456").unwrap()));
        assert!(!sha.starts_with(&GitShaPrefix::parse("1123456").unwrap()));
    }
}
