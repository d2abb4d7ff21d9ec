//! The web UI: server-rendered pages (askama templates in `templates/`, escaped by default)
//! with a little plain JavaScript from `static/` for live updates, countdowns and security
//! keys. No build step, nothing loaded from anywhere but the gateway, no inline script (the
//! CSP in [`headers`] forbids it).
//!
//! Pages are thin: every read and every change calls the JSON API's own handler or helper, so
//! the rules, permissions and audit are the API's. What is the web's own: the cookie-only
//! session extractors and form CSRF ([`context`]), the sign-in double-submit token
//! ([`login`]), links to VCS and CI ([`links`]), and the live list stream ([`live`]).

pub mod admin;
pub mod admin_config;
pub mod admin_jobs;
pub mod approval_view;
pub mod approvals;
pub mod assets;
pub mod context;
pub mod headers;
pub mod links;
pub mod live;
pub mod login;
pub mod mfa_pages;
pub mod pages;
pub mod qr;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

/// The page routes, merged into the app router inside the MFA and audit layers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(approvals::home))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/mfa", get(mfa_pages::show).post(mfa_pages::verify))
        .route(
            "/mfa/enroll",
            get(mfa_pages::enroll_page).post(mfa_pages::enroll_start),
        )
        .route("/mfa/enroll/confirm", post(mfa_pages::enroll_confirm))
        .route("/mfa/backup-codes", post(mfa_pages::new_backup_codes))
        .route("/account", get(mfa_pages::account))
        .route("/deploy-approvals", get(approvals::list))
        .route("/deploy-approvals/rows", get(approvals::rows))
        .route("/deploy-approvals/events", get(live::events))
        .route("/deploy-approvals/{id}", get(approvals::detail))
        .route("/deploy-approvals/{id}/live", get(approvals::live))
        .route("/deploy-approvals/{id}/approve", post(approvals::approve))
        .route("/deploy-approvals/{id}/reject", post(approvals::reject))
        .route("/admin/users", get(admin::users).post(admin::create))
        .route("/admin/users/{id}/sessions", get(admin::sessions))
        .route(
            "/admin/users/{id}/sessions/{session}/revoke",
            post(admin::end_session),
        )
        .route("/admin/users/{id}/{action}", post(admin::act))
        .route(
            "/admin/tokens",
            get(admin::tokens).post(admin::create_api_token),
        )
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_api_token))
        .route("/admin/settings", get(admin_config::settings))
        .route("/admin/settings/{key}", post(admin_config::save_setting))
        .route("/admin/audit", get(admin_config::audit))
        .route("/admin/jobs", get(admin_jobs::jobs))
        .route("/admin/jobs/{id}/{action}", post(admin_jobs::act))
        .route("/static/{hash}/{name}", get(assets::serve))
}
