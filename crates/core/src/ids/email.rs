//! E-mail addresses of users.

use super::{IdError, string_newtype};

/// A user's e-mail address, lower-cased, e.g. `ci@example.com`.
///
/// This is a structural check, not RFC 5321 in full: one `@`; a local part of 1–64 characters
/// from the RFC 5322 `atext` set plus non-leading, non-trailing, non-repeated dots; a domain of
/// 1–253 characters made of dot-separated labels (letters, digits, `-`, not starting or ending
/// with `-`). Single-label domains such as `localhost` are accepted for development. Non-ASCII
/// (internationalised) addresses are not supported. Addresses are lower-cased so that
/// identities compare reliably (OIDC providers differ in case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    const KIND: &'static str = "e-mail address";

    /// Parses and lower-cases an address; see the type docs for the accepted form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| Err(IdError::new(Self::KIND, s, reason));
        if s.len() > 254 {
            return err("an e-mail address is at most 254 characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return err("an e-mail address looks like name@example.com");
        };
        if domain.contains('@') {
            return err("an e-mail address contains exactly one '@'");
        }
        if local.is_empty() || local.len() > 64 {
            return err("the part before '@' must be 1 to 64 characters");
        }
        const ATEXT: &[u8] = b"!#$%&'*+-/=?^_`{|}~.";
        if !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || ATEXT.contains(&b))
        {
            return err(
                "the part before '@' uses only letters, digits, '.' and !#$%&'*+-/=?^_`{|}~",
            );
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return err("the part before '@' cannot start or end with '.' or contain '..'");
        }
        if domain.is_empty() || domain.len() > 253 {
            return err("the domain after '@' must be 1 to 253 characters");
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !domain.split('.').all(label_ok) {
            return err("the domain after '@' is dot-separated labels of letters, digits and '-'");
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// The part after `@`, lower-case (for allowed-domain checks).
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// The part before `@`, lower-case.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(l, _)| l)
    }
}

string_newtype!(Email);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn addresses_are_lower_cased_and_expose_their_domain() {
        let e = Email::parse("Alice.Smith+ci@Example.COM").unwrap();
        assert_eq!(e.as_str(), "alice.smith+ci@example.com");
        assert_eq!(e.domain(), "example.com");
        assert_eq!(e.local_part(), "alice.smith+ci");
    }

    #[rstest]
    #[case("admin@localhost")]
    #[case("ci@example.com")]
    #[case("a@b-c.example.org")]
    fn well_formed_addresses_parse(#[case] input: &str) {
        assert!(Email::parse(input).is_ok());
    }

    #[rstest]
    #[case("")]
    #[case("no-at-sign")]
    #[case("@example.com")]
    #[case("a@")]
    #[case("a@@example.com")]
    #[case("a@b@example.com")]
    #[case(".a@example.com")]
    #[case("a..b@example.com")]
    #[case("a b@example.com")]
    #[case("a@exa mple.com")]
    #[case("a@-example.com")]
    #[case("a@example..com")]
    #[case("a@example.com.")]
    #[case("a\n@example.com")]
    #[case("ü@example.com")]
    fn malformed_addresses_are_rejected(#[case] input: &str) {
        assert!(Email::parse(input).is_err(), "{input:?} should be rejected");
    }
}
