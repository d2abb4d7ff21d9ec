//! The deploy-approval workflow over HTTP (PRODUCT.md §3, §15): create, list, read, approve,
//! reject or revoke, a WebAuthn ceremony bound to one request, a Server-Sent Events stream per
//! request, and the expiry sweeper. The rules themselves live in `rgw_core::approval`; the
//! proxy's deploy gate is in `crate::proxy::gate`.

pub mod create;
pub mod decide;
pub mod events;
pub mod read;
pub mod sweeper;
pub mod view;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;

/// The routes, for `app::api_routes`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create, read::list))
        .routes(routes!(read::get))
        .routes(routes!(decide::approve))
        .routes(routes!(decide::reject))
        .routes(routes!(decide::webauthn_start))
        .routes(routes!(events::events))
}

/// Wakes this gateway's event streams for request `public_id`.
pub fn notify(state: &AppState, public_id: Uuid) {
    // No receivers is fine: nobody is watching.
    let _ = state.approval_events.send(public_id);
    // Every state change enqueued its integration jobs in the same transaction.
    state.jobs.wake();
}
