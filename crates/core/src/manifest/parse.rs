//! Parsing convox.yml into the facts image validation needs: each service, in order, with its
//! `image`, whether it has `build`, and its `initContainer.image`.
//!
//! Only the path root → `services` → service → `image` / `initContainer.image` is
//! interpreted; everything else is skipped without being stored. The YAML parser runs with
//! tight budgets (aliases, anchors, nesting, events, one document), rejects unknown tags and
//! duplicate keys, and strings on the interpreted path are length-checked before they are
//! copied, so an alias bomb cannot make the gateway allocate.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::options::{AliasLimits, DuplicateKeyPolicy, MergeKeyPolicy};
use serde_saphyr::{Budget, Options};

use super::ManifestError;
use super::printable;

/// Largest manifest text [`parse_manifest`] accepts (1 MiB).
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// Longest image reference accepted, in bytes.
pub(super) const MAX_IMAGE_LEN: usize = 1024;

/// Longest service name accepted (a Kubernetes DNS label).
const MAX_SERVICE_NAME_LEN: usize = 63;

/// What the gateway reads out of convox.yml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The services, in manifest order (never empty).
    pub services: Vec<ManifestService>,
}

/// One entry of `services:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestService {
    /// The service name (valid: see [`ManifestError::InvalidServiceName`]).
    pub name: String,
    /// `image:`, if present and non-empty. When absent the service builds from source, whether
    /// or not it has `build:` (the rack defaults to `build.path: "."`); when present it wins
    /// over `build:`.
    pub image: Option<String>,
    /// Whether `build:` is present (and not null).
    pub has_build: bool,
    /// `initContainer.image`, if present and non-empty. Without it the init container runs the
    /// service's own image.
    pub init_image: Option<String>,
}

/// Parses manifest text. Does not check images, nor refuse `${` (see
/// [`check_images`](super::check_images), which does both).
pub fn parse_manifest(text: &str) -> Result<Manifest, ManifestError> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            size: text.len(),
            limit: MAX_MANIFEST_BYTES,
        });
    }
    let top: Top = serde_saphyr::from_str_with_options(text, options()).map_err(yaml_error)?;
    let services = match top {
        Top::NotAMapping => return Err(ManifestError::NotAMapping),
        Top::Empty => return Err(ManifestError::NoServices),
        Top::Mapping { merge: true, .. } => {
            return Err(ManifestError::MergeKey {
                location: "the top level".into(),
            });
        }
        Top::Mapping { services, .. } => services.map(|s| s.0).unwrap_or_default(),
    };
    if services.is_empty() {
        return Err(ManifestError::NoServices);
    }
    services
        .into_iter()
        .map(|(name, raw)| {
            let name = name.0;
            if name == "<<" {
                return Err(ManifestError::MergeKey {
                    location: "services".into(),
                });
            }
            if !is_service_name(&name) {
                return Err(ManifestError::InvalidServiceName {
                    name: printable(name.as_bytes()),
                });
            }
            let raw = raw.map(|r| r.0).unwrap_or_default();
            let init = raw.init_container.map(|i| i.0);
            if raw.merge.is_some() || init.as_ref().is_some_and(|i| i.merge.is_some()) {
                return Err(ManifestError::MergeKey {
                    location: format!("service {name}"),
                });
            }
            Ok(ManifestService {
                image: non_empty(raw.image),
                has_build: raw.build.is_some(),
                init_image: init.and_then(|i| non_empty(i.image)),
                name,
            })
        })
        .collect::<Result<_, _>>()
        .map(|services| Manifest { services })
}

/// Refuses any `${` in the text: the rack interpolates `${NAME}` from the app environment
/// before parsing YAML, so what would run is unknowable here.
pub(super) fn refuse_interpolation(text: &str) -> Result<(), ManifestError> {
    match text.find("${") {
        Some(at) => Err(ManifestError::Interpolation {
            line: text.get(..at).unwrap_or_default().matches('\n').count() + 1,
        }),
        None => Ok(()),
    }
}

/// Whether `name` may name a service: `^[a-z][a-z0-9-]*$`, at most 63 bytes, and not a word
/// YAML 1.1 parsers (the rack's) read as a boolean or null, which would rename the service.
pub(crate) fn is_service_name(name: &str) -> bool {
    const YAML11_WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let bytes = name.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.len() <= MAX_SERVICE_NAME_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !YAML11_WORDS.contains(&name)
}

fn non_empty(value: Option<Bounded>) -> Option<String> {
    value.map(|v| v.0).filter(|v| !v.is_empty())
}

/// Parser options: budgets sized for a convox.yml (a few KiB, a handful of anchors), far
/// below the defaults, so alias bombs and deep nesting fail fast.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(MAX_MANIFEST_BYTES);
    budget.max_events = 200_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_recorded_anchor_events = 50_000;
    budget.max_recorded_anchor_bytes = 2 << 20;
    budget.max_depth = 32;
    budget.flow_nesting_limit = 32;
    budget.max_documents = 1;
    budget.max_nodes = 100_000;
    budget.max_total_scalar_bytes = 2 << 20;
    budget.max_inclusion_depth = 0;

    let mut alias_limits = AliasLimits::default();
    alias_limits.max_total_replayed_events = 50_000;
    alias_limits.max_replay_stack_depth = 8;
    alias_limits.max_alias_expansions_per_anchor = 1_000;

    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits = alias_limits;
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    // `<<` stays an ordinary key so we can see it and refuse it where it matters: Go's
    // yaml.v2 applies merges in document order, YAML 1.2 parsers let explicit keys win.
    options.merge_keys = MergeKeyPolicy::AsOrdinary;
    options.reject_unsupported_tags = true;
    options.reject_tagged_field_names = true;
    options.with_snippet = false;
    options
}

fn yaml_error(e: serde_saphyr::Error) -> ManifestError {
    let detail = printable(e.to_string().as_bytes());
    if is_limit(&e) {
        ManifestError::YamlLimits { detail }
    } else {
        ManifestError::Yaml { detail }
    }
}

/// Whether the parser stopped on one of its budgets (possibly reported at an alias).
fn is_limit(e: &serde_saphyr::Error) -> bool {
    use serde_saphyr::Error as E;
    match e {
        E::Budget { .. }
        | E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => true,
        E::AliasError { error, .. } | E::WithSnippet { error, .. } => is_limit(error),
        _ => false,
    }
}

/// The document root, or what it was instead of a mapping.
enum Top {
    Mapping {
        services: Option<Services>,
        merge: bool,
    },
    Empty,
    NotAMapping,
}

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping with a services: key")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let (mut services, mut merge) = (None, false);
        while let Some(key) = map.next_key::<Bounded>()? {
            match key.0.as_str() {
                "services" => services = map.next_value::<Option<Services>>()?,
                "<<" => {
                    merge = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Top::Mapping { services, merge })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::NotAMapping)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Top, E> {
        Ok(Top::Empty)
    }

    fn visit_none<E: de::Error>(self) -> Result<Top, E> {
        Ok(Top::Empty)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Top, E> {
        Ok(Top::NotAMapping)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Top, E> {
        Ok(Top::NotAMapping)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Top, E> {
        Ok(Top::NotAMapping)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Top, E> {
        Ok(Top::NotAMapping)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Top, E> {
        Ok(Top::NotAMapping)
    }
}

/// `services:` as an ordered list of (name, definition); a null definition is allowed.
struct Services(Vec<(Bounded, Option<MapOnly<RawService>>)>);

impl<'de> Deserialize<'de> for Services {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Services;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of service names to service definitions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Services, A::Error> {
                let mut services = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    services.push(entry);
                }
                Ok(Services(services))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize, Default)]
struct RawService {
    image: Option<Bounded>,
    build: Option<IgnoredAny>,
    #[serde(rename = "initContainer")]
    init_container: Option<MapOnly<RawInit>>,
    #[serde(rename = "<<")]
    merge: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawInit {
    image: Option<Bounded>,
    #[serde(rename = "<<")]
    merge: Option<IgnoredAny>,
}

/// A string of at most [`MAX_IMAGE_LEN`] bytes, checked before it is copied.
struct Bounded(String);

impl<'de> Deserialize<'de> for Bounded {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bounded;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a string of at most {MAX_IMAGE_LEN} bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bounded, E> {
                if v.len() > MAX_IMAGE_LEN {
                    return Err(E::custom(format_args!(
                        "a string of {} bytes where at most {MAX_IMAGE_LEN} are accepted",
                        v.len()
                    )));
                }
                Ok(Bounded(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A struct that must be written as a mapping (serde's derive would also take a sequence).
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = MapOnly<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MapOnly<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(MapOnly)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}
