//! The route table (v3 `pkg/api/routes.go`, the subset a fake rack needs).

mod apps;
mod builds;
mod logs;
mod objects;
mod processes;
mod releases;
mod services;
mod system;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post, put};

use crate::state::RackState;
use crate::{auth, record, wire};

/// The rack API as an axum router over `state`.
///
/// HTTP routes check Basic auth first (401); socket routes upgrade first and report bad
/// credentials on the socket; `GET /racks` and `GET /machines` answer without auth.
pub fn router(state: RackState) -> Router {
    let http = Router::new()
        .route("/auth", get(system::auth))
        .route("/system", get(system::get).put(system::update))
        .route("/system/processes", get(system::processes))
        .route("/system/releases", get(system::releases))
        .route("/instances", get(system::instances))
        .route("/apps", get(apps::list).post(apps::create))
        .route(
            "/apps/{app}",
            get(apps::get).put(apps::update).delete(apps::delete),
        )
        .route("/apps/{app}/cancel", post(apps::cancel))
        .route("/apps/{app}/objects", get(objects::list))
        .route(
            "/apps/{app}/objects/{*key}",
            get(objects::fetch)
                .head(objects::exists)
                .post(objects::store)
                .delete(objects::delete),
        )
        .route("/apps/{app}/builds", get(builds::list).post(builds::create))
        .route("/apps/{app}/builds/import", post(builds::import))
        .route(
            "/apps/{app}/builds/{id}",
            get(builds::get).put(builds::update),
        )
        .route(
            "/apps/{app}/releases",
            get(releases::list).post(releases::create),
        )
        .route("/apps/{app}/releases/{id}", get(releases::get))
        .route("/apps/{app}/releases/{id}/promote", post(releases::promote))
        .route("/apps/{app}/processes", get(processes::list))
        .route(
            "/apps/{app}/processes/{pid}",
            get(processes::get).delete(processes::stop),
        )
        .route(
            "/apps/{app}/services/{service}/processes",
            post(processes::run),
        )
        .route("/apps/{app}/services", get(services::list))
        .route("/apps/{app}/services/{service}", put(services::scale))
        .route(
            "/apps/{app}/services/{service}/restart",
            post(services::restart),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::require));

    let sockets = Router::new()
        .route("/apps/{app}/logs", get(logs::app))
        .route("/apps/{app}/builds/{id}/logs", get(builds::logs))
        .route("/apps/{app}/processes/{pid}/logs", get(logs::process))
        .route("/apps/{app}/services/{service}/logs", get(logs::service))
        .route("/apps/{app}/processes/{pid}/exec", get(processes::exec))
        .route("/system/logs", get(logs::system));

    let probes = Router::new()
        .route("/racks", get(system::racks))
        .route("/machines", get(wire::not_found));

    http.merge(sockets)
        .merge(probes)
        .fallback(wire::not_found)
        .with_state(state.clone())
        .layer(from_fn(wire::conventions))
        .layer(from_fn_with_state(state, record::record))
}
