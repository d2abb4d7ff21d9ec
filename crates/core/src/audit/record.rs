//! One stored audit event and its unambiguous byte encoding, plus the chain MAC over it.
//!
//! Encoding (version 1), in this fixed order: the version byte, `seq` as big-endian `i64`, the
//! previous MAC (32 bytes), then every field. Strings are a `u32` big-endian length and UTF-8
//! bytes; optional fields are a presence byte (`0` absent, `1` present) and the value; integers
//! are big-endian `i64`; UUIDs are their 16 bytes; the time is RFC 3339 UTC with exactly six
//! fractional digits; details are canonical JSON (object keys sorted, no whitespace). No two
//! different records encode to the same bytes, so a MAC match means every field matches.

use hmac::{Hmac, KeyInit, Mac as _};
use serde_json::Value;
use sha2::Sha256;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// An HMAC-SHA256 output.
pub type Mac = [u8; 32];

/// The `prev_mac` of the first event in the chain.
pub const GENESIS_MAC: Mac = [0u8; 32];

const ENCODING_VERSION: u8 = 1;

const TIMESTAMP_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The content of one audit event as stored (already redacted). Actor type and outcome are the
/// stored strings so that the verifier can read any row, whatever it contains.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub event_id: Uuid,
    pub occurred_at: OffsetDateTime,
    /// `user`, `token`, `system` or `anonymous`.
    pub actor_type: String,
    pub actor_user_id: Option<i64>,
    /// The user's email, or a token's owner's email.
    pub actor_email: Option<String>,
    pub actor_token_id: Option<Uuid>,
    pub actor_token_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub resource: Option<String>,
    pub app: Option<String>,
    /// `success`, `denied`, `failed` or `error`.
    pub outcome: String,
    pub http_status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub deploy_approval_request_id: Option<Uuid>,
    pub details: Value,
}

/// A record with its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub prev_mac: Mac,
    pub mac: Mac,
    pub record: AuditRecord,
}

/// Ends a stored text that was cut to fit its bound, so a reader knows it was cut.
pub const CLIPPED_MARK: &str = "…";

/// The most bytes each free-text column keeps. Callers put headers, paths and claimed emails of
/// any size (up to hyper's 400 KB request head) into events, most of them before the caller is
/// authenticated; without a bound, every anonymous request could add that much to a log that
/// is never pruned. The bounds are far above any real value.
const USER_AGENT_MAX: usize = 512;
const RESOURCE_MAX: usize = 2048;
const SHORT_TEXT_MAX: usize = 320;
/// Each string inside `details` (keys and values). Approval notes are at most 4096 bytes.
const DETAIL_TEXT_MAX: usize = 8192;

/// Cuts `s` to at most `max` bytes at a character boundary, ending it with [`CLIPPED_MARK`].
fn bound(s: &mut String, max: usize) {
    if s.len() > max {
        let keep = crate::text::clip(s, max - CLIPPED_MARK.len()).len();
        s.truncate(keep);
        s.push_str(CLIPPED_MARK);
    }
}

/// Makes a record storable on both backends without changing it after its MAC is computed:
/// the time becomes UTC with microsecond precision (what PostgreSQL keeps), NUL characters,
/// which PostgreSQL refuses in `TEXT` and `JSONB`, become U+FFFD, and every text is cut to its
/// column's bound. Applying it twice changes nothing.
pub fn sanitize_for_storage(record: &mut AuditRecord) {
    fn clean(s: &mut String) {
        if s.contains('\0') {
            *s = s.replace('\0', "\u{fffd}");
        }
    }
    fn clean_detail(s: &mut String) {
        clean(s);
        bound(s, DETAIL_TEXT_MAX);
    }
    fn clean_json(v: &mut Value) {
        match v {
            Value::String(s) => clean_detail(s),
            Value::Array(items) => items.iter_mut().for_each(clean_json),
            Value::Object(map) => {
                if map
                    .keys()
                    .any(|k| k.contains('\0') || k.len() > DETAIL_TEXT_MAX)
                {
                    let old = std::mem::take(map);
                    for (mut k, v) in old {
                        clean_detail(&mut k);
                        map.insert(k, v);
                    }
                }
                map.values_mut().for_each(clean_json);
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let t = record.occurred_at.to_offset(UtcOffset::UTC);
    record.occurred_at = t
        .replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t);
    for s in [
        &mut record.actor_type,
        &mut record.action,
        &mut record.outcome,
    ] {
        clean(s);
        bound(s, SHORT_TEXT_MAX);
    }
    let optional = [
        (&mut record.actor_email, SHORT_TEXT_MAX),
        (&mut record.actor_token_name, SHORT_TEXT_MAX),
        (&mut record.ip, SHORT_TEXT_MAX),
        (&mut record.user_agent, USER_AGENT_MAX),
        (&mut record.request_id, SHORT_TEXT_MAX),
        (&mut record.resource, RESOURCE_MAX),
        (&mut record.app, SHORT_TEXT_MAX),
    ];
    for (s, max) in optional {
        if let Some(s) = s {
            clean(s);
            bound(s, max);
        }
    }
    clean_json(&mut record.details);
}

/// Formats a time as stored in the chain: UTC, microseconds, `Z`.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    // The format has no component that can fail for a valid UTC time; fall back to the
    // well-known RFC 3339 form rather than panic.
    t.format(TIMESTAMP_FORMAT)
        .unwrap_or_else(|_| format!("{}", t.unix_timestamp_nanos() / 1_000))
}

/// Canonical JSON: object keys sorted bytewise, no insignificant whitespace, numbers and strings
/// as `serde_json` prints them. Written by hand so that it does not depend on whether some crate
/// in the build enables `serde_json/preserve_order`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn bytes(&mut self, b: &[u8]) {
        // Fields are bounded far below 4 GiB by the HTTP layer; saturate rather than wrap so a
        // pathological value can never alias a shorter one.
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.0.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
    fn opt_uuid(&mut self, v: Option<Uuid>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.0.extend_from_slice(v.as_bytes());
            }
        }
    }
}

/// The bytes the MAC covers for `record` at position `seq` after `prev_mac`.
pub fn encode_record(prev_mac: &Mac, seq: i64, record: &AuditRecord) -> Vec<u8> {
    let mut e = Encoder(Vec::with_capacity(512));
    e.0.push(ENCODING_VERSION);
    e.0.extend_from_slice(&seq.to_be_bytes());
    e.0.extend_from_slice(prev_mac);
    e.0.extend_from_slice(record.event_id.as_bytes());
    e.str(&format_timestamp(record.occurred_at));
    e.str(&record.actor_type);
    e.opt_i64(record.actor_user_id);
    e.opt_str(record.actor_email.as_deref());
    e.opt_uuid(record.actor_token_id);
    e.opt_str(record.actor_token_name.as_deref());
    e.opt_str(record.ip.as_deref());
    e.opt_str(record.user_agent.as_deref());
    e.opt_str(record.request_id.as_deref());
    e.str(&record.action);
    e.opt_str(record.resource.as_deref());
    e.opt_str(record.app.as_deref());
    e.str(&record.outcome);
    e.opt_i64(record.http_status);
    e.opt_i64(record.latency_ms);
    e.opt_uuid(record.deploy_approval_request_id);
    e.str(&canonical_json(&record.details));
    e.0
}

/// The chain MAC of `record` at `seq`, following the event whose MAC is `prev_mac`.
pub fn mac(key: &[u8; 32], prev_mac: &Mac, seq: i64, record: &AuditRecord) -> Mac {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(&encode_record(prev_mac, seq, record));
    m.finalize().into_bytes().into()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    pub(crate) fn record(n: u128) -> AuditRecord {
        AuditRecord {
            event_id: Uuid::from_u128(n),
            occurred_at: datetime!(2026-03-01 12:00:00.123456 UTC),
            actor_type: "user".into(),
            actor_user_id: Some(7),
            actor_email: Some("ada@example.com".into()),
            actor_token_id: None,
            actor_token_name: None,
            ip: Some("10.0.0.1".into()),
            user_agent: Some("curl/8".into()),
            request_id: Some(format!("req-{n}")),
            action: "rack.request".into(),
            resource: Some("GET /apps".into()),
            app: None,
            outcome: "success".into(),
            http_status: Some(200),
            latency_ms: Some(12),
            deploy_approval_request_id: None,
            details: json!({"b": 1, "a": [true, null, "x"]}),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let v = json!({"z": {"b": 2, "a": 1}, "a": [{"y": 1, "x": "\"q\""}]});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":[{"x":"\"q\"","y":1}],"z":{"a":1,"b":2}}"#
        );
    }

    #[test]
    fn timestamps_are_utc_with_six_fraction_digits_whatever_the_offset() {
        let t = datetime!(2026-03-01 13:00:00 +01:00);
        assert_eq!(format_timestamp(t), "2026-03-01T12:00:00.000000Z");
    }

    #[test]
    fn moving_text_between_adjacent_optional_fields_changes_the_encoding() {
        let mut a = record(1);
        a.ip = Some("ab".into());
        a.user_agent = None;
        let mut b = record(1);
        b.ip = None;
        b.user_agent = Some("ab".into());
        assert_ne!(
            encode_record(&GENESIS_MAC, 1, &a),
            encode_record(&GENESIS_MAC, 1, &b)
        );
        let mut c = record(1);
        c.ip = Some(String::new());
        let mut d = record(1);
        d.ip = None;
        assert_ne!(
            encode_record(&GENESIS_MAC, 1, &c),
            encode_record(&GENESIS_MAC, 1, &d)
        );
    }

    #[test]
    fn the_mac_depends_on_key_seq_previous_mac_and_every_field() {
        let key = [7u8; 32];
        let base = mac(&key, &GENESIS_MAC, 1, &record(1));
        assert_ne!(base, mac(&[8u8; 32], &GENESIS_MAC, 1, &record(1)));
        assert_ne!(base, mac(&key, &GENESIS_MAC, 2, &record(1)));
        assert_ne!(base, mac(&key, &[1u8; 32], 1, &record(1)));
        let edits: Vec<fn(&mut AuditRecord)> = vec![
            |r| r.event_id = Uuid::from_u128(99),
            |r| r.occurred_at += time::Duration::microseconds(1),
            |r| r.actor_type = "token".into(),
            |r| r.actor_user_id = Some(8),
            |r| r.actor_email = None,
            |r| r.actor_token_id = Some(Uuid::nil()),
            |r| r.actor_token_name = Some("ci".into()),
            |r| r.ip = None,
            |r| r.user_agent = Some("curl/9".into()),
            |r| r.request_id = None,
            |r| r.action = "rack.requesT".into(),
            |r| r.resource = None,
            |r| r.app = Some("myapp".into()),
            |r| r.outcome = "denied".into(),
            |r| r.http_status = Some(403),
            |r| r.latency_ms = None,
            |r| r.deploy_approval_request_id = Some(Uuid::nil()),
            |r| r.details = json!({"b": 2, "a": [true, null, "x"]}),
        ];
        for (i, edit) in edits.into_iter().enumerate() {
            let mut r = record(1);
            edit(&mut r);
            assert_ne!(
                base,
                mac(&key, &GENESIS_MAC, 1, &r),
                "edit #{i} did not change the MAC"
            );
        }
    }

    #[test]
    fn sanitizing_truncates_to_microseconds_and_replaces_nul_characters() {
        let mut r = record(1);
        r.occurred_at = datetime!(2026-03-01 13:00:00.123456789 +01:00);
        r.user_agent = Some("a\0b".into());
        r.details = json!({"k\0": ["x\0"]});
        sanitize_for_storage(&mut r);
        assert_eq!(r.occurred_at, datetime!(2026-03-01 12:00:00.123456 UTC));
        assert_eq!(r.occurred_at.offset(), UtcOffset::UTC);
        assert_eq!(r.user_agent.as_deref(), Some("a\u{fffd}b"));
        assert_eq!(r.details, json!({"k\u{fffd}": ["x\u{fffd}"]}));
    }

    #[test]
    fn sanitizing_cuts_every_text_to_its_bound_and_marks_the_cut() {
        let huge = "é".repeat(300_000);
        let mut r = record(1);
        r.user_agent = Some(huge.clone());
        r.resource = Some(format!("GET /{huge}"));
        r.actor_email = Some(huge.clone());
        r.action = huge.clone();
        r.details = json!({ huge.clone(): [huge.clone()], "reason": "short" });
        sanitize_for_storage(&mut r);
        for (field, text, max) in [
            ("user_agent", r.user_agent.clone().unwrap(), 512),
            ("resource", r.resource.clone().unwrap(), 2048),
            ("actor_email", r.actor_email.clone().unwrap(), 320),
            ("action", r.action.clone(), 320),
        ] {
            assert!(text.len() <= max, "{field} kept {} bytes", text.len());
            assert!(text.len() > max - 8, "{field} was cut too far");
            assert!(
                text.ends_with(CLIPPED_MARK),
                "{field} does not say it was cut"
            );
        }
        let details = canonical_json(&r.details);
        assert!(
            details.len() < 3 * 8192,
            "details kept {} bytes",
            details.len()
        );
        assert_eq!(
            r.details["reason"], "short",
            "a short detail must be kept whole"
        );
        // Idempotent: the store sanitizes again before computing the MAC.
        let once = r.clone();
        sanitize_for_storage(&mut r);
        assert_eq!(r, once);
    }

    #[test]
    fn key_order_in_details_does_not_change_the_mac() {
        let key = [7u8; 32];
        let mut a = record(1);
        a.details = serde_json::from_str(r#"{"x": 1, "y": {"q": 2, "p": 3}}"#).unwrap_or_default();
        let mut b = record(1);
        b.details = serde_json::from_str(r#"{"y": {"p": 3, "q": 2}, "x": 1}"#).unwrap_or_default();
        assert_eq!(
            mac(&key, &GENESIS_MAC, 1, &a),
            mac(&key, &GENESIS_MAC, 1, &b)
        );
    }
}
