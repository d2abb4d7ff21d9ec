//! Just enough `convox.yml` parsing: a mapping with a `services` mapping, service names in
//! order. `${NAME}` interpolation is left as is (it parses as plain text).

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// Top-level keys the rack knows; others are rejected like the rack's strict parser does.
const TOP_LEVEL_KEYS: &[&str] = &[
    "appSettings",
    "balancers",
    "budget",
    "configs",
    "environment",
    "labels",
    "params",
    "resources",
    "services",
    "timers",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Service names in manifest order.
    pub services: Vec<String>,
}

/// Parses a manifest; the error text is what the build log shows.
pub(crate) fn parse(text: &str) -> Result<Manifest, String> {
    let top: Keys<IgnoredAny> = serde_saphyr::from_str(text).map_err(invalid)?;
    if let Some((key, _)) = top
        .0
        .iter()
        .find(|(k, _)| !TOP_LEVEL_KEYS.contains(&k.as_str()))
    {
        return Err(format!("invalid manifest: unknown top-level key: {key}"));
    }
    let with_services: WithServices = serde_saphyr::from_str(text).map_err(invalid)?;
    let services = with_services
        .services
        .ok_or("invalid manifest: no services defined")?;
    let mut names = Vec::with_capacity(services.0.len());
    for (name, _) in services.0 {
        if !valid_service_name(&name) {
            return Err(format!("invalid manifest: invalid service name: {name}"));
        }
        names.push(name);
    }
    Ok(Manifest { services: names })
}

/// The parser's message, first line only (it adds a multi-line source snippet).
fn invalid(error: serde_saphyr::Error) -> String {
    let text = error.to_string();
    format!(
        "invalid manifest: {}",
        text.lines().next().unwrap_or_default()
    )
}

#[derive(Deserialize)]
struct WithServices {
    services: Option<Keys<IgnoredAny>>,
}

fn valid_service_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A mapping kept as ordered `(key, value)` pairs (serde maps lose order).
struct Keys<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Keys<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for KeysVisitor<V> {
            type Value = Keys<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    entries.push((key, value));
                }
                Ok(Keys(entries))
            }
        }
        deserializer.deserialize_map(KeysVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_keep_manifest_order() {
        let m = parse("services:\n  web:\n    port: 3000\n  api:\n    image: x:${TAG}\n").unwrap();
        assert_eq!(m.services, ["web", "api"]);
    }

    #[test]
    fn manifests_without_services_or_with_junk_are_invalid() {
        assert!(parse("environment:\n  - A\n").is_err());
        assert!(parse("- a\n- b\n").is_err());
        assert!(parse("services: [").is_err());
        assert!(parse("services:\n  Web: {}\n").is_err());
        assert!(parse("bogus: 1\nservices: {}\n").is_err());
    }
}
