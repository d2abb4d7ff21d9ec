//! Why a manifest, or an image pattern setting, was refused. Messages are shown verbatim by
//! the `convox` CLI (or the settings UI for patterns), so each says what to do.

use std::fmt;

/// Why an image did not satisfy the rule that applies to its service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MismatchReason {
    /// Default rule: the reference has no tag at all (a digest alone does not name a commit).
    NoTag,
    /// Default rule: the tag does not contain the full commit.
    TagLacksCommit {
        /// The image's tag.
        tag: String,
    },
    /// A `service_image_patterns` entry applied and did not match the whole reference.
    Pattern {
        /// The settings key that applied (`*` or the service name).
        key: String,
        /// The pattern as configured, before placeholder substitution.
        pattern: String,
    },
}

impl fmt::Display for MismatchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTag => f.write_str(
                "it has no tag; use a pre-built image whose tag contains the full commit SHA",
            ),
            Self::TagLacksCommit { tag } => write!(
                f,
                "its tag {tag:?} does not contain the full commit SHA; tag the image with the commit it was built from"
            ),
            Self::Pattern { key, pattern } => write!(
                f,
                "it does not match the pattern {pattern:?} (service_image_patterns[{key:?}], matched against the whole reference)"
            ),
        }
    }
}

/// Why [`check_images`](super::check_images), [`parse_manifest`](super::parse_manifest) or
/// [`validate_patterns`](super::validate_patterns) refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest text is larger than [`MAX_MANIFEST_BYTES`](super::MAX_MANIFEST_BYTES).
    #[error("the manifest is {size} bytes; the gateway accepts manifests of at most {limit} bytes")]
    TooLarge {
        /// The manifest's size.
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// The manifest uses `${...}`, which the rack substitutes from the app's environment before
    /// parsing, so the gateway cannot know which images would run.
    #[error(
        "the manifest uses ${{...}} interpolation (line {line}); the rack fills it from the app environment at build time, so the gateway cannot tell which image would run. Approved deploys must use literal image references: write the image with its commit tag into convox.yml"
    )]
    Interpolation {
        /// The 1-based line of the first `${`.
        line: usize,
    },

    /// The manifest is not valid YAML (or uses something refused: tags, several documents, ...).
    #[error("the manifest is not valid YAML: {detail}")]
    Yaml {
        /// The parser's message, with the location.
        detail: String,
    },

    /// The manifest exceeds the parser's limits on aliases, anchors, nesting or size (for
    /// example a "billion laughs" alias bomb).
    #[error(
        "the manifest exceeds the gateway's YAML limits (aliases, anchors, nesting or size): {detail}; simplify it"
    )]
    YamlLimits {
        /// The parser's message.
        detail: String,
    },

    /// The top level of the manifest is not a mapping.
    #[error("the manifest's top level must be a mapping with a services: key")]
    NotAMapping,

    /// `services` is missing, null or empty.
    #[error("the manifest has no services; add a services: section with at least one service")]
    NoServices,

    /// A YAML merge key (`<<`) where it could change a service's image: YAML parsers
    /// disagree on which value wins, so the gateway cannot know what the rack will use.
    #[error(
        "the manifest uses a YAML merge key (<<) in {location}; parsers disagree on which value wins, so write the keys out in full there"
    )]
    MergeKey {
        /// Where: `the top level`, `services`, `service web`, ...
        location: String,
    },

    /// A service name does not match `^[a-z][a-z0-9-]*$` (or is a YAML 1.1 boolean/null word).
    #[error(
        "service name {name:?} is invalid: names start with a lower-case letter, use only a-z, 0-9 and -, are at most 63 characters, and are not yes/no/on/off/true/false/null"
    )]
    InvalidServiceName {
        /// The name, escaped and truncated.
        name: String,
    },

    /// An image reference is empty of meaning: whitespace, control characters or too long.
    #[error("image {image:?} of service {service} is not a valid image reference: {reason}")]
    InvalidImageReference {
        /// The service.
        service: String,
        /// The reference, escaped and truncated.
        image: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// The service builds from source (no `image:`), which an approval cannot pin.
    #[error("{}", builds_from_source(.service, .commit, *.has_build))]
    BuildsFromSource {
        /// The service.
        service: String,
        /// The approved commit.
        commit: String,
        /// Whether the service has an explicit `build:` (otherwise it builds by default).
        has_build: bool,
    },

    /// An image does not satisfy its service's rule.
    #[error(
        "{kind} {image} of service {service} does not match the approved commit {commit}: {reason}",
        kind = if *.init { "initContainer image" } else { "image" }
    )]
    ImageMismatch {
        /// The service.
        service: String,
        /// The image reference.
        image: String,
        /// The approved commit.
        commit: String,
        /// Whether this is the service's `initContainer.image`.
        init: bool,
        /// Why it does not match.
        reason: MismatchReason,
    },

    /// A `service_image_patterns` entry is unusable. At deploy time this is the admins'
    /// configuration at fault, not the CI caller's.
    #[error("service_image_patterns[{key:?}] is invalid: {reason}")]
    InvalidPattern {
        /// The settings key, escaped and truncated.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

fn builds_from_source(service: &str, commit: &str, has_build: bool) -> String {
    let why = if has_build {
        "builds from source (build:)"
    } else {
        "has no image: and so builds from source"
    };
    format!(
        "service {service} {why}; approved deploys must use a pre-built image tagged with commit {commit}"
    )
}
