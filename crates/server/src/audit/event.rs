//! What one audit event says. Built by handlers, redacted and chained by the writer.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A human with a session.
    User { user_id: i64, email: String },
    /// An API token (CI or a user's token).
    Token {
        token_public_id: Uuid,
        name: String,
        owner_email: String,
    },
    /// The gateway itself (sweepers, jobs).
    System,
    /// An unauthenticated caller (failed logins, bad tokens).
    Anonymous { claimed: Option<String> },
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed and completed.
    Success,
    /// Refused by policy (RBAC, approvals, MFA).
    Denied,
    /// Attempted and failed (bad password, upstream 4xx).
    Failed,
    /// Broke (upstream 5xx, unreachable rack, internal error).
    Error,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
        }
    }
}

/// One event, before redaction and chaining.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub occurred_at: OffsetDateTime,
    pub actor: Actor,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// `<resource>.<verb>` such as `login.password`, `api_token.create`, `rack.request`.
    pub action: String,
    /// What it acted on, e.g. `GET /apps/myapp/builds` or a token's public id.
    pub resource: Option<String>,
    pub app: Option<String>,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub latency_ms: Option<i64>,
    pub deploy_approval_request_id: Option<Uuid>,
    /// Free-form details; the writer redacts secrets before anything is stored or logged.
    pub details: Value,
}

impl AuditEvent {
    /// A new event with only the required fields set.
    pub fn new(
        occurred_at: OffsetDateTime,
        actor: Actor,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        AuditEvent {
            occurred_at,
            actor,
            ip: None,
            user_agent: None,
            request_id: None,
            action: action.into(),
            resource: None,
            app: None,
            outcome,
            http_status: None,
            latency_ms: None,
            deploy_approval_request_id: None,
            details: Value::Object(Default::default()),
        }
    }

    /// Sets the resource.
    pub fn resource(mut self, r: impl Into<String>) -> Self {
        self.resource = Some(r.into());
        self
    }

    /// Sets the app.
    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    /// Sets the details object.
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Sets request metadata (ip, user agent, request id).
    pub fn request(
        mut self,
        ip: Option<String>,
        user_agent: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        self.ip = ip;
        self.user_agent = user_agent;
        self.request_id = request_id;
        self
    }

    /// Sets HTTP status and latency.
    pub fn http(mut self, status: u16, latency_ms: i64) -> Self {
        self.http_status = Some(status);
        self.latency_ms = Some(latency_ms);
        self
    }
}

impl Actor {
    /// The stored `(actor_type, user_id, email, token_id, token_name)`. A token's email is its
    /// owner's, so filtering by a person's email finds what their tokens did too; an anonymous
    /// caller's claimed identity is kept as the email, for failed-login trails.
    pub fn columns(
        &self,
    ) -> (
        &'static str,
        Option<i64>,
        Option<String>,
        Option<Uuid>,
        Option<String>,
    ) {
        match self {
            Actor::User { user_id, email } => {
                ("user", Some(*user_id), Some(email.clone()), None, None)
            }
            Actor::Token {
                token_public_id,
                name,
                owner_email,
            } => (
                "token",
                None,
                Some(owner_email.clone()),
                Some(*token_public_id),
                Some(name.clone()),
            ),
            Actor::System => ("system", None, None, None, None),
            Actor::Anonymous { claimed } => ("anonymous", None, claimed.clone(), None, None),
        }
    }
}

impl AuditEvent {
    /// The record to store (not yet redacted), with a fresh event id.
    pub fn into_record(self) -> rgw_core::audit::AuditRecord {
        let (actor_type, actor_user_id, actor_email, actor_token_id, actor_token_name) =
            self.actor.columns();
        rgw_core::audit::AuditRecord {
            event_id: Uuid::now_v7(),
            occurred_at: self.occurred_at,
            actor_type: actor_type.to_owned(),
            actor_user_id,
            actor_email,
            actor_token_id,
            actor_token_name,
            ip: self.ip,
            user_agent: self.user_agent,
            request_id: self.request_id,
            action: self.action,
            resource: self.resource,
            app: self.app,
            outcome: self.outcome.as_str().to_owned(),
            http_status: self.http_status.map(i64::from),
            latency_ms: self.latency_ms,
            deploy_approval_request_id: self.deploy_approval_request_id,
            details: self.details,
        }
    }
}
