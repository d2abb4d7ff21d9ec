//! JSON shapes of the rack API (`pkg/structs`), with the rack's key names.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Go's zero `time.Time` as the rack renders it.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// RFC3339 with nanoseconds trimmed, like Go's `RFC3339Nano`.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| ZERO_TIME.to_owned())
}

fn ser_time<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

fn ser_opt_time<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_time(t, s),
        None => s.serialize_str(ZERO_TIME),
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct App {
    pub generation: String,
    pub locked: bool,
    pub name: String,
    pub release: String,
    pub router: String,
    pub status: String,
    pub parameters: BTreeMap<String, String>,
}

impl App {
    pub fn new(name: &str) -> Self {
        Self {
            generation: "3".to_owned(),
            locked: false,
            name: name.to_owned(),
            release: String::new(),
            router: "router.fake.convox".to_owned(),
            status: "running".to_owned(),
            parameters: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Build {
    pub id: String,
    pub app: String,
    pub description: String,
    pub entrypoint: String,
    pub git_sha: String,
    pub logs: String,
    pub manifest: String,
    pub process: String,
    pub release: String,
    pub reason: String,
    pub repository: String,
    pub status: String,
    #[serde(serialize_with = "ser_opt_time")]
    pub started: Option<OffsetDateTime>,
    #[serde(serialize_with = "ser_opt_time")]
    pub ended: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Release {
    pub id: String,
    pub app: String,
    pub build: String,
    pub env: String,
    pub manifest: String,
    pub description: String,
    #[serde(serialize_with = "ser_time")]
    pub created: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Process {
    pub id: String,
    pub app: String,
    pub command: String,
    pub cpu: f64,
    pub gpu: i64,
    pub host: String,
    pub image: String,
    pub instance: String,
    pub memory: f64,
    pub name: String,
    pub ports: Vec<String>,
    pub release: String,
    #[serde(serialize_with = "ser_time")]
    pub started: OffsetDateTime,
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServicePort {
    pub balancer: i64,
    pub certificate: String,
    pub container: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Service {
    pub name: String,
    pub count: u32,
    pub cpu: i64,
    pub memory: i64,
    pub gpu: i64,
    pub gpu_vendor: String,
    pub domain: String,
    pub ports: Vec<ServicePort>,
    pub nlb: Vec<ServicePort>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct System {
    pub count: i64,
    pub domain: String,
    pub name: String,
    pub provider: String,
    pub rack_domain: String,
    pub region: String,
    pub router_internal: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Instance {
    pub agent: bool,
    pub cpu: f64,
    pub id: String,
    pub memory: f64,
    pub private_ip: String,
    pub processes: i64,
    pub public_ip: String,
    pub status: String,
    #[serde(serialize_with = "ser_time")]
    pub started: OffsetDateTime,
}

/// `{"Url": "object://app/key"}`: capitalised because the Go field has no json tag.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Object {
    #[serde(rename = "Url")]
    pub url: String,
}
