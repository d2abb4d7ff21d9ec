//! Keys of a Convox app's object store (`/apps/{app}/objects/{key}`).

use super::{IdError, string_newtype};

/// An object key such as `tmp/0123abcd.tgz` or `build/BABCDEFGHIJ/logs`.
///
/// Keys may contain `/`, but never a way to escape or alias the app's key space: not empty,
/// at most 1024 bytes, no leading `/`, no empty, `.` or `..` segments, no control characters
/// (NUL included), no `\`, and no `%`. The last two are refused because the rack decodes
/// percent-escapes before routing, so `%2e%2e` would reach it as `..` after the gateway had
/// authorised a different-looking key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    const KIND: &'static str = "object key";

    /// Parses an object key; see the type docs for the rules.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| Err(IdError::new(Self::KIND, s, reason));
        if s.is_empty() {
            return err("an object key cannot be empty");
        }
        if s.len() > 1024 {
            return err("an object key is at most 1024 bytes");
        }
        if s.starts_with('/') {
            return err("an object key cannot start with '/'");
        }
        if s.chars().any(char::is_control) {
            return err("an object key cannot contain control characters");
        }
        if s.contains('\\') || s.contains('%') {
            return err("an object key cannot contain '\\' or '%'");
        }
        if s.split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return err("an object key cannot contain empty, '.' or '..' path segments");
        }
        Ok(Self(s.to_owned()))
    }

    /// The `object://<app>/<key>` URL the rack returns for this key.
    pub fn object_url(&self, app: &super::AppName) -> String {
        format!("object://{app}/{}", self.0)
    }
}

string_newtype!(ObjectKey);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("tmp/0123456789abcdef0123456789abcd.tgz")]
    #[case("build/BABCDEFGHIJ/logs")]
    #[case("a..b")]
    #[case(".hidden")]
    fn ordinary_keys_parse(#[case] input: &str) {
        assert_eq!(ObjectKey::parse(input).unwrap().as_str(), input);
    }

    #[rstest]
    #[case("")]
    #[case("/etc/passwd")]
    #[case("..")]
    #[case("../other-app/key")]
    #[case("tmp/../../x")]
    #[case("tmp/./x")]
    #[case("tmp//x")]
    #[case("tmp/")]
    #[case("tmp/x\0")]
    #[case("tmp/\u{7f}")]
    #[case("tmp\\x")]
    #[case("tmp/%2e%2e/x")]
    #[case(&"k".repeat(1025))]
    fn escaping_or_ambiguous_keys_are_rejected(#[case] input: &str) {
        assert!(
            ObjectKey::parse(input).is_err(),
            "{input:?} should be rejected"
        );
    }

    #[test]
    fn a_key_of_exactly_1024_bytes_is_accepted() {
        assert!(ObjectKey::parse(&"k".repeat(1024)).is_ok());
    }

    #[test]
    fn the_object_url_names_app_and_key() {
        let app = crate::ids::AppName::parse("myapp").unwrap();
        let key = ObjectKey::parse("tmp/a.tgz").unwrap();
        assert_eq!(key.object_url(&app), "object://myapp/tmp/a.tgz");
    }
}
