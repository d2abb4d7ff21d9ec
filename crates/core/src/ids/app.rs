//! Convox application names.

use super::{IdError, string_newtype};

/// A Convox app name, e.g. `myapp` or `billing-api`.
///
/// Accepted: 1–63 characters, lower-case ASCII letters, digits and `-`, starting with a letter
/// and not ending with `-`. On v3 (Kubernetes) racks an app becomes the namespace
/// `<rack>-<app>`, which must be an RFC 1123 DNS label, so this is the widest set the rack can
/// actually host. Upper case is rejected rather than folded so that `MyApp` never silently
/// authorises `myapp`. Because names cannot contain `_`, the settings env-var mapping
/// (`-` → `_`, upper case) is injective.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName(String);

impl AppName {
    const KIND: &'static str = "app name";

    /// Parses an app name; see the type docs for the accepted form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| Err(IdError::new(Self::KIND, s, reason));
        let bytes = s.as_bytes();
        let Some(first) = bytes.first() else {
            return err("an app name cannot be empty");
        };
        if bytes.len() > 63 {
            return err("an app name is at most 63 characters");
        }
        if !first.is_ascii_lowercase() {
            return err("an app name starts with a lower-case letter a-z");
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        {
            return err("an app name uses only lower-case letters a-z, digits and '-'");
        }
        if bytes.last() == Some(&b'-') {
            return err("an app name cannot end with '-'");
        }
        Ok(Self(s.to_owned()))
    }

    /// The app's segment of a settings environment variable: upper case, `-` replaced by `_`
    /// (`billing-api` → `BILLING_API`).
    pub fn env_segment(&self) -> String {
        self.0.to_ascii_uppercase().replace('-', "_")
    }
}

string_newtype!(AppName);

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("myapp")]
    #[case("a")]
    #[case("billing-api-2")]
    #[case(&"a".repeat(63))]
    fn valid_app_names_parse_unchanged(#[case] input: &str) {
        assert_eq!(AppName::parse(input).unwrap().as_str(), input);
    }

    #[rstest]
    #[case("")]
    #[case("MyApp")]
    #[case("1app")]
    #[case("-app")]
    #[case("app-")]
    #[case("my_app")]
    #[case("my app")]
    #[case("..")]
    #[case("app/x")]
    #[case("app%2e")]
    #[case(&"a".repeat(64))]
    fn invalid_app_names_are_rejected(#[case] input: &str) {
        assert!(
            AppName::parse(input).is_err(),
            "{input:?} should be rejected"
        );
    }

    #[test]
    fn env_segment_is_upper_case_with_underscores() {
        assert_eq!(
            AppName::parse("billing-api").unwrap().env_segment(),
            "BILLING_API"
        );
    }

    #[test]
    fn deserialising_validates_the_name() {
        assert!(serde_json::from_str::<AppName>("\"Bad\"").is_err());
        let app: AppName = serde_json::from_str("\"good\"").unwrap();
        assert_eq!(serde_json::to_string(&app).unwrap(), "\"good\"");
    }
}
