//! Human-readable names of API tokens.

use super::{IdError, string_newtype};

/// The display name of an API token, e.g. `circleci-production`.
///
/// 1–100 characters: ASCII letters, digits, space, `-`, `_`, `.`, `:`, `/`, `@`; starting with a
/// letter or digit and not ending with a space. Names appear in the UI, the audit log and CLI
/// tables, so control characters and markup are excluded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenName(String);

impl TokenName {
    const KIND: &'static str = "token name";

    /// Parses a token name; see the type docs for the accepted form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| Err(IdError::new(Self::KIND, s, reason));
        if s.is_empty() || s.len() > 100 {
            return err("a token name is 1 to 100 characters");
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return err("a token name starts with a letter or digit");
        }
        if s.ends_with(' ') {
            return err("a token name cannot end with a space");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" -_.:/@".contains(&b))
        {
            return err("a token name uses only letters, digits, space and - _ . : / @");
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(TokenName);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("ci", true)]
    #[case("CircleCI production", true)]
    #[case("gh-actions/main@org", true)]
    #[case("", false)]
    #[case(" ci", false)]
    #[case("ci ", false)]
    #[case("-ci", false)]
    #[case("<script>", false)]
    #[case("ci\ttoken", false)]
    fn token_names_are_short_printable_labels(#[case] input: &str, #[case] ok: bool) {
        assert_eq!(TokenName::parse(input).is_ok(), ok);
    }
}
