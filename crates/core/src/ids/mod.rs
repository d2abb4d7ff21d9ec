//! Identifier newtypes parsed at the edge ("parse, don't validate").
//!
//! Every type here can only be built through its parser (`FromStr`, `TryFrom<&str>` or serde,
//! which calls the same parser), so holding a value proves it is well formed. `Display` and
//! serde serialisation give back the canonical (normalised) text.

mod app;
mod email;
mod git;
mod object_key;
mod rack;
mod request;
mod token;

pub use app::AppName;
pub use email::Email;
pub use git::{GitSha, GitShaPrefix};
pub use object_key::ObjectKey;
pub use rack::{BuildId, ReleaseId};
pub use request::RequestId;
pub use token::TokenName;

/// Why a piece of text is not a valid identifier of some kind.
///
/// The message names the kind, repeats a sanitised form of the input and says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {reason}")]
pub struct IdError {
    /// What kind of identifier was being parsed, e.g. `app name`.
    pub kind: &'static str,
    /// The rejected input, truncated to 80 characters and with control characters escaped.
    pub input: String,
    /// What is wrong and what is accepted instead.
    pub reason: &'static str,
}

impl IdError {
    pub(crate) fn new(kind: &'static str, input: &str, reason: &'static str) -> Self {
        let input: String = input.chars().take(80).collect();
        Self {
            kind,
            input,
            reason,
        }
    }
}

/// Implements `FromStr`, `TryFrom<&str>`, `TryFrom<String>`, `Display`, `AsRef<str>`, `as_str`
/// and string serde for a newtype over `String` with a `fn parse(&str) -> Result<Self, IdError>`.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl $ty {
            /// The canonical text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::ids::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = $crate::ids::IdError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::ids::IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;
