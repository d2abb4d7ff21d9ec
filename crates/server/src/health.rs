//! Liveness and readiness probes for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: &'static str,
}

/// One dependency's readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `ok`, `failed` or `not_configured`.
    pub status: &'static str,
    /// Why the check failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Readiness answer: the database and the rack.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub database: Check,
    pub rack: Check,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database and the rack are reachable.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "A dependency is unreachable", body = Ready)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let database = match state.store.ping().await {
        Ok(()) => Check {
            status: "ok",
            error: None,
        },
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            Check {
                status: "failed",
                error: Some("database unreachable".into()),
            }
        }
    };
    let rack = match &state.rack {
        None => Check {
            status: "not_configured",
            error: Some("RGW_RACK_URL is not set".into()),
        },
        Some(rack) => match rack.ping().await {
            Ok(()) => Check {
                status: "ok",
                error: None,
            },
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "readiness: rack unreachable");
                Check {
                    status: "failed",
                    error: Some(format!("{e:#}")),
                }
            }
        },
    };
    let ready = database.status == "ok" && rack.status == "ok";
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = if ready { "ready" } else { "not_ready" };
    (
        code,
        Json(Ready {
            status,
            database,
            rack,
        }),
    )
}
