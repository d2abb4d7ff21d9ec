//! The one error type at the HTTP edge. Handlers return `Result<_, ApiError>` and use `?`.
//! Client errors carry a stable snake_case code and a sentence telling the caller what to do;
//! server errors are logged with their cause and answered with a generic body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rgw_core::wire::ApiErrorBody;

/// An error answered to an API caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no or invalid credentials.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// 403: authenticated but not allowed.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: no such resource (or not visible to the caller).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 409: conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 422: well-formed but refused by a rule.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 429: too many attempts.
    #[error("{message}")]
    TooManyRequests { code: &'static str, message: String },
    /// 503: a dependency is unavailable.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// 500: a bug or an unexpected failure. Logged, never shown.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::TooManyRequests { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// Shorthand constructors used across handlers.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }
}

impl From<rgw_store::StoreError> for ApiError {
    fn from(e: rgw_store::StoreError) -> Self {
        use rgw_store::StoreError as S;
        match e {
            S::NotFound => ApiError::not_found("not_found", "no such resource"),
            S::Conflict { message, .. } => ApiError::conflict("conflict", message),
            S::Invariant { message } => ApiError::conflict("invalid_state", message),
            S::Invalid(message) => ApiError::bad_request("invalid_input", message),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// Response extension on every 401/403 the JSON API answers, so that the audit layer
/// (`audit::request::layer`) can record the denial when no handler did.
#[derive(Debug, Clone)]
pub struct Denied {
    pub code: &'static str,
    pub message: String,
}

/// An audit event that could not be stored fails the request with a 500 (never a policy
/// answer such as 409, whatever the store reported), so a change is never acknowledged
/// without its event.
impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let denied = matches!(
            self,
            ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }
        )
        .then(|| Denied {
            code: self.code(),
            message: self.to_string(),
        });
        let message = match &self {
            ApiError::Internal(err) => {
                tracing::error!(error = %format!("{err:#}"), "request failed");
                "the gateway hit an internal error; the details are in its log".to_string()
            }
            other => other.to_string(),
        };
        let body = ApiErrorBody::new(self.code(), message);
        let mut resp = (status, Json(body)).into_response();
        if let Some(d) = denied {
            resp.extensions_mut().insert(d);
        }
        resp
    }
}

/// Turns a handler panic into a generic 500 in the API's error shape (the panic is logged).
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}
