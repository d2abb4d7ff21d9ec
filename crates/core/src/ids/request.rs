//! Public ids of deploy-approval requests.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::IdError;

/// The public id of a deploy-approval request: a random (v4) UUID, shown as lower-case
/// hyphenated text (`6f1c…-…`). The only id of a request that leaves the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(Uuid);

impl RequestId {
    /// A fresh random id (UUID v4: unguessable, unlike time-ordered v7).
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps an existing UUID (e.g. read from the database).
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The wrapped UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// Parses the 36-character hyphenated form (either case). Other UUID spellings (braced,
    /// `urn:uuid:`, without hyphens) are refused so that each request has one URL.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let reason = "a request id is a UUID like 123e4567-e89b-12d3-a456-426614174000";
        if s.len() != 36 {
            return Err(IdError::new("request id", s, reason));
        }
        Uuid::try_parse(s)
            .map(Self)
            .map_err(|_| IdError::new("request id", s, reason))
    }
}

impl From<Uuid> for RequestId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<RequestId> for Uuid {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

impl FromStr for RequestId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for RequestId {
    type Error = IdError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RequestId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_round_trip_as_lower_case_hyphenated_text() {
        let id = RequestId::parse("123E4567-E89B-12D3-A456-426614174000").unwrap();
        assert_eq!(id.to_string(), "123e4567-e89b-12d3-a456-426614174000");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<RequestId>(&json).unwrap(), id);
    }

    #[test]
    fn other_uuid_spellings_are_refused() {
        assert!(RequestId::parse("123e4567e89b12d3a456426614174000").is_err());
        assert!(RequestId::parse("{123e4567-e89b-12d3-a456-426614174000}").is_err());
        assert!(RequestId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(RequestId::generate(), RequestId::generate());
    }
}
