//! Rack-generated build and release ids.

use super::{IdError, string_newtype};

fn parse_rack_id(
    s: &str,
    prefix: u8,
    kind: &'static str,
    reason: &'static str,
) -> Result<(), IdError> {
    let b = s.as_bytes();
    if b.len() == 11 && b[0] == prefix && b[1..].iter().all(u8::is_ascii_uppercase) {
        Ok(())
    } else {
        Err(IdError::new(kind, s, reason))
    }
}

/// A Convox build id: `B` followed by 10 upper-case ASCII letters, e.g. `BABCDEFGHIJ`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildId(String);

impl BuildId {
    /// Parses a build id (exact; no case folding).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_rack_id(
            s,
            b'B',
            "build id",
            "a build id is 'B' followed by 10 upper-case letters, e.g. BABCDEFGHIJ",
        )?;
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(BuildId);

/// A Convox release id: `R` followed by 10 upper-case ASCII letters, e.g. `RABCDEFGHIJ`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseId(String);

impl ReleaseId {
    /// Parses a release id (exact; no case folding).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_rack_id(
            s,
            b'R',
            "release id",
            "a release id is 'R' followed by 10 upper-case letters, e.g. RABCDEFGHIJ",
        )?;
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(ReleaseId);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("BABCDEFGHIJ", true)]
    #[case("RABCDEFGHIJ", false)]
    #[case("Babcdefghij", false)]
    #[case("BABCDEFGHI", false)]
    #[case("BABCDEFGHIJK", false)]
    #[case("BABCDEFGH1J", false)]
    #[case("BABCDEFGHIJ.tgz", false)]
    #[case("", false)]
    #[case("BÄBCDEFGHI", false)]
    fn build_ids_are_b_and_ten_capitals(#[case] input: &str, #[case] ok: bool) {
        assert_eq!(BuildId::parse(input).is_ok(), ok);
    }

    #[rstest]
    #[case("RABCDEFGHIJ", true)]
    #[case("BABCDEFGHIJ", false)]
    #[case("rABCDEFGHIJ", false)]
    fn release_ids_are_r_and_ten_capitals(#[case] input: &str, #[case] ok: bool) {
        assert_eq!(ReleaseId::parse(input).is_ok(), ok);
    }
}
