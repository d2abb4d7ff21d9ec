//! Application state and the HTTP router. The server is started from a `TcpListener` passed
//! in, so tests bind port 0 and never wait for startup.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use rgw_core::clock::{Clock, SystemClock};
use rgw_store::Store;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Auditor, AuditorOptions};
use crate::config::Config;
use crate::keys::Keys;
use crate::rack::RackClient;

/// The request id header, set on every request and echoed on every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids are UUIDv7: unique like v4, but ordered in time, so the audit log's index on
/// them grows at its end instead of touching a random page for every event.
#[derive(Clone, Copy, Debug)]
struct TimeOrderedRequestId;

impl MakeRequestId for TimeOrderedRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::now_v7().to_string();
        http::HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Everything a handler may need: one shared [`AppStateInner`]. Axum clones the state for
/// every extractor and middleware of every request (three to four times per proxied call), so
/// a clone is one reference-count increment rather than one per field: with the fields inline
/// the clones and drops cost ~6% of the gateway's CPU on the hot path.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct AppStateInner {
    pub config: Arc<Config>,
    pub store: Store,
    pub rack: Option<RackClient>,
    pub keys: Arc<Keys>,
    pub clock: Arc<dyn Clock>,
    /// Per-process identity caches (see `auth::AuthRuntime`).
    pub auth: Arc<crate::auth::AuthRuntime>,
    /// Queues audit events for the background writer (`state.auditor.record(event)`).
    pub auditor: Auditor,
    /// Cached database settings (see `settings`).
    pub settings_cache: Arc<crate::settings::SettingsCache>,
    /// Wakes event streams when a deploy approval request changes (on any gateway sharing a
    /// PostgreSQL database).
    pub approval_events: tokio::sync::broadcast::Sender<uuid::Uuid>,
    /// The job worker's wake-up and the integrations' HTTP client.
    pub jobs: Arc<crate::jobs::JobsRuntime>,
}

impl AppState {
    /// Wires state from configuration and an open store.
    pub fn new(config: Config, store: Store) -> anyhow::Result<AppState> {
        let rack = config.rack.as_ref().map(RackClient::new).transpose()?;
        // The store's feed: woken by this gateway's changes and, on PostgreSQL, by the change
        // listener for every other gateway's.
        let approval_events = store.changes().approvals().clone();
        let keys = Arc::new(Keys::derive(config.secret_key_bytes()));
        let jobs = crate::jobs::JobsRuntime::new(&config)?;
        // Needs a Tokio runtime: the writer task starts here.
        let auditor = Auditor::spawn(
            store.clone(),
            *keys.audit_mac.expose(),
            AuditorOptions::default(),
        );
        Ok(AppState(Arc::new(AppStateInner {
            config: Arc::new(config),
            store,
            rack,
            keys,
            clock: Arc::new(SystemClock),
            auth: Arc::default(),
            auditor,
            settings_cache: Arc::default(),
            approval_events,
            jobs,
        })))
    }

    /// Replaces the clock (tests drive time by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> AppState {
        Arc::make_mut(&mut self.0).clock = clock;
        self
    }
}

#[derive(OpenApi)]
#[openapi(info(
    title = "rack-gateway",
    description = "Deploy-approval gateway in front of a Convox rack API. Errors use \
                   {\"error\": {\"code\": \"snake_case\", \"message\": \"sentence\"}}."
))]
struct ApiDoc;

/// The API routes that are described in the OpenAPI document.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(crate::health::healthz))
        .routes(routes!(crate::health::readyz))
        .merge(crate::api::routes())
        .merge(crate::api::mfa::routes())
        .merge(crate::approvals::routes())
        .merge(crate::api::settings::routes())
        .merge(crate::jobs::api::routes())
}

/// The OpenAPI document of every described route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

/// Builds the full router with middleware.
pub fn router(state: AppState) -> Router {
    let (routes, api) = api_routes().split_for_parts();
    let api = Arc::new(api);
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .merge(crate::proxy::routes())
        .merge(crate::web::routes())
        // MFA policy applies to every API route (and the rack proxy) except login, logout,
        // who-am-I and the MFA endpoints themselves, and to every web page except sign-in,
        // sign-out and the MFA pages.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::mfa::enforce::layer,
        ))
        // Outside the MFA layer, so that its refusals happen inside the request's audit
        // context too (one audit event per denial; gateway request ids on every event).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::audit::request::layer,
        ))
        .with_state(state)
        .layer(CatchPanicLayer::custom(crate::error::panic_response))
        // No per-request tracing span: log lines get the request's id, method and path from
        // its audit context (see `telemetry`), and `audit::request::layer` logs server errors.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(
            REQUEST_ID.clone(),
            TimeOrderedRequestId,
        ))
        // Runs first: SetRequestIdLayer keeps an incoming id, so take the client's off the
        // request (it is kept as `ClientRequestId`) and always mint the gateway's own.
        .layer(axum::middleware::from_fn(
            crate::audit::request::strip_client_request_id,
        ))
        .layer(SetSensitiveRequestHeadersLayer::new([
            http::header::AUTHORIZATION,
            http::header::COOKIE,
        ]))
}

/// Serves the gateway on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Background work lives as long as the server: the approval expiry sweeper, and on
    // PostgreSQL the listener that hears other gateways' changes (cache invalidation, live
    // approval updates).
    let sweeper = tokio::spawn(crate::approvals::sweeper::run(state.clone()));
    let changes = state.store.spawn_change_listener();
    // And the job worker (integrations), unless this replica only enqueues (RGW_JOBS_WORKER).
    let worker = state
        .config
        .jobs
        .worker
        .then(|| tokio::spawn(crate::jobs::worker::run(state.clone())));
    let app = router(state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweeper.abort();
    if let Some(c) = changes {
        c.abort();
    }
    if let Some(w) = worker {
        w.abort();
    }
    served?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // Registered now, not when first polled: a SIGTERM that arrives while the server is still
    // starting must drain it, not kill the process with the default action.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutdown requested; draining in-flight requests");
    }
}

/// How long a graceful shutdown may take before the process gives up waiting.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
