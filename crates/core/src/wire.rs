//! JSON types of the gateway's HTTP API (PRODUCT.md §15), shared by the server and the CLI.
//!
//! Times are RFC 3339 strings in UTC. Identifier fields use the [`crate::ids`] newtypes, so a
//! malformed value fails at deserialisation.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::approval::ApprovalStatus;
use crate::ids::{AppName, BuildId, GitSha, ReleaseId, RequestId};
pub use crate::mfa::MfaMethod;

/// Formats a time as RFC 3339 (`2026-05-01T12:15:00Z`), as every API and message does.
pub fn rfc3339(t: OffsetDateTime) -> String {
    crate::clock::normalize(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The body of every API error: `{"error": {"code": "snake_case", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiErrorBody {
    /// The error.
    pub error: ApiError,
}

/// A machine-readable code and a human sentence saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// Stable `snake_case` code, e.g. `approval_expired`.
    pub code: String,
    /// Human-readable sentence.
    pub message: String,
}

impl ApiErrorBody {
    /// Builds an error body.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ApiError {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// One admin approval of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalRecord {
    /// The approver's e-mail.
    pub user: String,
    /// When they approved.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Their notes.
    pub notes: Option<String>,
    /// The MFA method used.
    pub mfa_method: MfaMethod,
}

/// A deploy-approval request as the API returns it (the seed's column names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeployApprovalRequest {
    /// Public id (UUID).
    #[schema(value_type = String, format = Uuid)]
    pub public_id: RequestId,
    /// The app.
    #[schema(value_type = String, example = "myapp")]
    pub app: AppName,
    /// The full 40-hex commit.
    #[schema(value_type = String, example = "0123456789abcdef0123456789abcdef01234567")]
    pub git_commit_hash: GitSha,
    /// The branch, when given.
    pub git_branch: Option<String>,
    /// The pull request, when found.
    pub pr_url: Option<String>,
    /// Free-form CI metadata (e.g. `workflow_id`, `pipeline_number`).
    #[schema(value_type = Object)]
    pub ci_metadata: Map<String, Value>,
    /// What is being deployed and why.
    pub message: String,
    /// Current status.
    pub status: ApprovalStatus,
    /// Public id of the API token allowed to use the approval.
    pub target_api_token_id: Option<String>,
    /// Approvals so far, oldest first.
    pub approvals: Vec<ApprovalRecord>,
    /// When the approval lapses (set once approved).
    #[serde(with = "time::serde::rfc3339::option")]
    pub approval_expires_at: Option<OffsetDateTime>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Uploaded source object (`object://app/key`).
    pub object_url: Option<String>,
    /// Build created under the approval.
    #[schema(value_type = Option<String>)]
    pub build_id: Option<BuildId>,
    /// Release produced by that build.
    #[schema(value_type = Option<String>)]
    pub release_id: Option<ReleaseId>,
    /// `sha256:<hex>` of the canonical deploy intent; the approve call must send it back.
    #[serde(default)]
    pub intent_digest: String,
    /// Distinct admin approvals needed (quorum).
    #[serde(default)]
    pub required_approvals: u32,
    /// Who created the request (user e-mail or token name).
    #[serde(default)]
    pub created_by: Option<String>,
    /// When a pending request lapses.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pending_expires_at: Option<OffsetDateTime>,
    /// The admin who rejected or revoked it.
    #[serde(default)]
    pub rejected_by: Option<String>,
    /// Their notes.
    #[serde(default)]
    pub rejection_notes: Option<String>,
    /// Why it expired: `pending_ttl`, `approval_window` or `superseded`.
    #[serde(default)]
    pub expired_reason: Option<String>,
    /// When the gated promote completed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deployed_at: Option<OffsetDateTime>,
}

/// Body of `POST /api/v1/deploy-approval-requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateDeployApprovalRequest {
    /// The app.
    #[schema(value_type = String)]
    pub app: AppName,
    /// The full 40-hex commit (the CLI expands abbreviations).
    #[schema(value_type = String)]
    pub git_commit_hash: GitSha,
    /// The branch.
    #[serde(default)]
    pub git_branch: Option<String>,
    /// CI metadata (a JSON object).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub ci_metadata: Map<String, Value>,
    /// What is being deployed and why.
    pub message: String,
    /// The token that may use the approval; defaults to the calling token.
    #[serde(default)]
    pub target_api_token_id: Option<String>,
}

/// Body of `GET /api/v1/deploy-approval-requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeployApprovalRequestList {
    /// One page of requests.
    pub deploy_approval_requests: Vec<DeployApprovalRequest>,
    /// Cursor for the next page, if any.
    pub next_cursor: Option<String>,
}

/// A proof of MFA in request bodies (approve, `POST /api/v1/mfa/verify`): `{"totp": "123456"}`,
/// `{"backup_code": "ABCD-EFGH-JKMN"}` or `{"webauthn": {"ceremony_id": "…", "assertion": {…}}}`.
/// One type for the server and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MfaProof {
    /// Six-digit authenticator code.
    Totp(String),
    /// One-time backup code.
    BackupCode(String),
    /// A WebAuthn assertion answering a ceremony the gateway started.
    #[serde(rename = "webauthn")]
    Webauthn(WebauthnProof),
}

/// A WebAuthn assertion and the ceremony it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebauthnProof {
    /// The ceremony id from the start endpoint.
    #[schema(value_type = String, format = Uuid)]
    pub ceremony_id: uuid::Uuid,
    /// The browser's `PublicKeyCredential` JSON, passed through unchanged.
    #[schema(value_type = Object)]
    pub assertion: Value,
}

/// Body of `POST /api/v1/deploy-approval-requests/{id}/approve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApproveBody {
    /// Reviewer notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// The `intent_digest` the reviewer saw; refused with 409 when the intent changed since.
    pub intent_digest: String,
    /// MFA for this approval.
    pub mfa: MfaProof,
}

/// Body of `POST /api/v1/deploy-approval-requests/{id}/reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectBody {
    /// Why.
    #[serde(default)]
    pub notes: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "public_id": "123e4567-e89b-12d3-a456-426614174000",
            "app": "myapp",
            "git_commit_hash": "0123456789abcdef0123456789abcdef01234567",
            "git_branch": "main",
            "pr_url": null,
            "ci_metadata": {"workflow_id": "abc-123", "pipeline_number": "42"},
            "message": "Deploy to production",
            "status": "approved",
            "target_api_token_id": "tok_1",
            "approvals": [{"user": "admin@example.com", "at": "2026-05-01T12:00:00Z", "notes": "LGTM", "mfa_method": "totp"}],
            "approval_expires_at": "2026-05-01T12:15:00Z",
            "created_at": "2026-05-01T11:00:00Z",
            "updated_at": "2026-05-01T12:00:00Z",
            "object_url": null,
            "build_id": null,
            "release_id": null,
            "intent_digest": "sha256:00",
            "required_approvals": 1,
            "created_by": "ci",
            "pending_expires_at": "2026-05-02T11:00:00Z",
            "rejected_by": null,
            "rejection_notes": null,
            "expired_reason": null,
            "deployed_at": null
        })
    }

    #[test]
    fn the_request_object_round_trips_with_exact_field_names() {
        let req: DeployApprovalRequest = serde_json::from_value(sample()).unwrap();
        assert_eq!(req.status, ApprovalStatus::Approved);
        assert_eq!(serde_json::to_value(&req).unwrap(), sample());
    }

    #[test]
    fn malformed_ids_fail_deserialisation() {
        let mut v = sample();
        v["git_commit_hash"] = json!("abc123f");
        assert!(serde_json::from_value::<DeployApprovalRequest>(v).is_err());
        let mut v = sample();
        v["ci_metadata"] = json!("not an object");
        assert!(serde_json::from_value::<DeployApprovalRequest>(v).is_err());
    }

    #[test]
    fn the_error_body_has_the_documented_shape() {
        let body = ApiErrorBody::new("approvals_disabled", "deploy approvals are disabled");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"error": {"code": "approvals_disabled", "message": "deploy approvals are disabled"}})
        );
    }

    #[test]
    fn mfa_proofs_use_the_documented_keys() {
        let body: ApproveBody = serde_json::from_value(
            json!({"notes": "ok", "intent_digest": "sha256:00", "mfa": {"totp": "123456"}}),
        )
        .unwrap();
        assert_eq!(body.mfa, MfaProof::Totp("123456".into()));
        let body: ApproveBody = serde_json::from_value(
            json!({"intent_digest": "sha256:00", "mfa": {"backup_code": "abcd-efgh"}}),
        )
        .unwrap();
        assert_eq!(body.mfa, MfaProof::BackupCode("abcd-efgh".into()));
        let id = "123e4567-e89b-12d3-a456-426614174000";
        let proof: MfaProof = serde_json::from_value(
            json!({"webauthn": {"ceremony_id": id, "assertion": {"id": "x"}}}),
        )
        .unwrap();
        assert!(matches!(proof, MfaProof::Webauthn(w) if w.ceremony_id.to_string() == id));
        assert!(
            serde_json::from_value::<MfaProof>(json!({"totp": "1", "backup_code": "2"})).is_err()
        );
        assert!(serde_json::from_value::<ApproveBody>(json!({"mfa": {"totp": "123456"}})).is_err());
    }

    #[test]
    fn times_format_as_rfc3339_utc() {
        let t = time::macros::datetime!(2026-05-01 14:15:00.5 +02:00);
        assert_eq!(rfc3339(t), "2026-05-01T12:15:00.5Z");
    }
}
