//! The exported and API shape of a stored audit event, and its CSV form.

use rgw_core::audit::{StoredEvent, format_timestamp};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// One stored audit event. `prev_mac` and `mac` (hex) let an exported file be checked against
/// the database's chain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: i64,
    pub event_id: Uuid,
    /// RFC 3339 UTC with microseconds.
    pub occurred_at: String,
    /// `user`, `token`, `system` or `anonymous`.
    pub actor_type: String,
    pub actor_user_id: Option<i64>,
    /// The user's email, or the token owner's.
    pub actor_email: Option<String>,
    pub actor_token_id: Option<Uuid>,
    pub actor_token_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// `<resource>.<verb>`, e.g. `rack.request`, `login.password`.
    pub action: String,
    pub resource: Option<String>,
    pub app: Option<String>,
    /// `success`, `denied`, `failed` or `error`.
    pub outcome: String,
    pub http_status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub deploy_approval_request_id: Option<Uuid>,
    /// Redacted details.
    #[schema(value_type = Object)]
    pub details: Value,
    pub prev_mac: String,
    pub mac: String,
}

impl From<StoredEvent> for AuditEventView {
    fn from(e: StoredEvent) -> Self {
        let r = e.record;
        AuditEventView {
            seq: e.seq,
            event_id: r.event_id,
            occurred_at: format_timestamp(r.occurred_at),
            actor_type: r.actor_type,
            actor_user_id: r.actor_user_id,
            actor_email: r.actor_email,
            actor_token_id: r.actor_token_id,
            actor_token_name: r.actor_token_name,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            action: r.action,
            resource: r.resource,
            app: r.app,
            outcome: r.outcome,
            http_status: r.http_status,
            latency_ms: r.latency_ms,
            deploy_approval_request_id: r.deploy_approval_request_id,
            details: r.details,
            prev_mac: hex::encode(e.prev_mac),
            mac: hex::encode(e.mac),
        }
    }
}

/// The CSV header line (with `\n`).
pub const CSV_HEADER: &str = "seq,event_id,occurred_at,actor_type,actor_user_id,actor_email,\
actor_token_id,actor_token_name,ip,user_agent,request_id,action,resource,app,outcome,http_status,\
latency_ms,deploy_approval_request_id,details,prev_mac,mac\n";

/// One CSV field: quoted when needed, and a leading `=`, `+`, `-`, `@`, tab or CR prefixed with
/// `'` so a spreadsheet never evaluates audit content as a formula. JSON Lines is the faithful
/// export; CSV is for reading.
fn csv_field(out: &mut String, value: &str) {
    let guarded = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = guarded || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
        if guarded {
            out.push('\'');
        }
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

impl AuditEventView {
    /// One CSV line (with `\n`), columns as in [`CSV_HEADER`].
    pub fn csv_line(&self) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        let id = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
        let fields = [
            self.seq.to_string(),
            self.event_id.to_string(),
            self.occurred_at.clone(),
            self.actor_type.clone(),
            num(self.actor_user_id),
            opt(&self.actor_email),
            id(self.actor_token_id),
            opt(&self.actor_token_name),
            opt(&self.ip),
            opt(&self.user_agent),
            opt(&self.request_id),
            self.action.clone(),
            opt(&self.resource),
            opt(&self.app),
            self.outcome.clone(),
            num(self.http_status),
            num(self.latency_ms),
            id(self.deploy_approval_request_id),
            rgw_core::audit::canonical_json(&self.details),
            self.prev_mac.clone(),
            self.mac.clone(),
        ];
        let mut out = String::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, f);
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("-1", "\"'-1\""),
            ("line\nbreak", "\"line\nbreak\""),
        ];
        for (input, expected) in cases {
            let mut out = String::new();
            csv_field(&mut out, input);
            assert_eq!(out, expected, "{input}");
        }
    }
}
