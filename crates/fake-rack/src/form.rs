//! Form bodies as `stdapi` reads them: url-encoded fields, with header fallback for loose
//! values (`c.Value(name)`).

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;

use crate::wire::{RackError, header_str};

/// Largest form body read (a form can carry a 1 MiB manifest, percent-encoded).
const MAX_FORM_BYTES: usize = 8 << 20;

/// Url-encoded form fields (last value wins) plus the request headers.
pub(crate) struct Form {
    fields: BTreeMap<String, String>,
    headers: HeaderMap,
}

impl Form {
    /// A form field, or else the header of the same name.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .or_else(|| header_str(&self.headers, name))
    }

    /// A form field only.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A bool option: only `true` is true.
    pub fn flag(&self, name: &str) -> bool {
        self.value(name) == Some("true")
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = RackError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| RackError::too_large("request body too large"))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| RackError::bad_request(format!("invalid form: {e}")))?;
        Ok(Self {
            fields: pairs.into_iter().collect(),
            headers: parts.headers,
        })
    }
}

/// Parses a Go `time.Duration` string (`5s`, `2m0s`, `1h30m`, `500ms`, `1.5s`).
pub(crate) fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// Parses `KEY=VALUE` lines (empty lines and lines without `=` are skipped) into a sorted map.
pub(crate) fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect()
}

/// Renders env the way the rack stores it: sorted `KEY=VALUE` lines, no trailing newline.
pub(crate) fn render_env(env: &BTreeMap<String, String>) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("2m0s"), Some(Duration::from_secs(120)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn env_round_trips_sorted() {
        let env = parse_env("B=2\nA=1=x\n\nnoise\n");
        assert_eq!(render_env(&env), "A=1=x\nB=2");
    }
}
