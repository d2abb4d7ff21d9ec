//! Settings over HTTP (PRODUCT.md §10): every key of the catalogue with its effective value and
//! where it comes from (environment — read-only here —, database or default), and admin writes.
//!
//! A write can turn gating off (`deploy_approvals_enabled`), so only a human admin with a login
//! session and MFA within the step-up window may change a setting; API tokens never can. Every
//! change is audited and acknowledged only after its event is stored.

use axum::Json;
use axum::extract::{Path, Query, State};
use rgw_core::rbac::Permission;
use rgw_core::settings::{Resolved, SETTINGS, Scope, Source};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::{Principal, RequestMeta};
use crate::error::ApiError;

/// The routes, for `app::api_routes`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_settings))
        .routes(routes!(put_setting, delete_setting))
}

/// One setting as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingView {
    pub key: String,
    /// `global` or `app`.
    pub scope: Scope,
    /// The app, for per-app settings.
    pub app: Option<String>,
    /// The value; for credential settings (webhook URLs) only scheme and host, the rest masked.
    #[schema(value_type = Object)]
    pub value: Value,
    /// `env`, `database` or `default`.
    pub source: Source,
    /// True when the environment pins the value (it cannot be changed here).
    pub locked: bool,
    /// The variable that sets it.
    pub env_var: String,
    pub description: String,
}

impl SettingView {
    fn new(r: &Resolved, app: Option<&str>) -> Self {
        SettingView {
            key: r.def.key.to_owned(),
            scope: r.def.scope,
            app: app.map(str::to_owned),
            // Credentials in a value (webhook URLs) are shown masked: see `settings_secret`.
            value: rgw_core::settings_secret::shown(r.def.key, &r.value),
            source: r.source,
            locked: r.locked(),
            env_var: r.env_var.clone(),
            description: r.def.description.to_owned(),
        }
    }
}

/// `?app=` for per-app settings.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AppQuery {
    /// The app, for per-app settings (without it the list shows global settings only).
    pub app: Option<String>,
}

/// Body of a write.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSettingBody {
    /// The new value (JSON of the setting's type).
    #[schema(value_type = Object)]
    pub value: Value,
    /// The app, for per-app settings.
    #[serde(default)]
    pub app: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", params(AppQuery),
    responses((status = 200, body = Vec<SettingView>)))]
pub async fn list_settings(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<AppQuery>,
) -> Result<Json<Vec<SettingView>>, ApiError> {
    principal.require(&Permission::SETTING_READ)?;
    let mut out = Vec::new();
    for def in SETTINGS {
        let app = match def.scope {
            Scope::Global => None,
            Scope::App => match q.app.as_deref() {
                Some(a) => Some(a),
                None => continue,
            },
        };
        let r = crate::settings::resolve(&state, def.key, app).await?;
        out.push(SettingView::new(&r, app));
    }
    Ok(Json(out))
}

/// The admin allowed to write settings: a human session, fresh MFA, `setting:manage`.
async fn writer(state: &AppState, principal: &Principal) -> Result<i64, ApiError> {
    super::step_up::fresh_human(
        state,
        principal,
        &Permission::SETTING_MANAGE,
        "api_tokens_cannot_change_settings",
        "changing settings",
    )
    .await
}

async fn audit_change(
    state: &AppState,
    principal: &Principal,
    meta: &RequestMeta,
    before: &Resolved,
    after: &Resolved,
    app: Option<&str>,
) -> Result<(), ApiError> {
    let mut ev = AuditEvent::new(
        state.clock.now(),
        principal.audit_actor(),
        "setting.change",
        Outcome::Success,
    )
    .resource(after.def.key)
    .details(json!({
        "key": after.def.key,
        "app": app,
        "from": rgw_core::settings_secret::shown(before.def.key, &before.value),
        "to": rgw_core::settings_secret::shown(after.def.key, &after.value),
        "source": after.source,
    }));
    if let Some(a) = app {
        ev = ev.app(a);
    }
    state.auditor.record_and_wait(meta.apply(ev)).await?;
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/settings/{key}", tag = "settings", request_body = PutSettingBody,
    params(("key" = String, Path, description = "setting key")),
    responses((status = 200, body = SettingView), (status = 409, description = "setting_pinned_by_environment"),
              (status = 422, description = "invalid_setting_value")))]
pub async fn put_setting(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(key): Path<String>,
    Json(body): Json<PutSettingBody>,
) -> Result<Json<SettingView>, ApiError> {
    let by = writer(&state, &principal).await?;
    let app = body.app.as_deref();
    let before = crate::settings::resolve(&state, &key, app).await?;
    let after = crate::settings::put(&state, &key, app, &body.value, by).await?;
    audit_change(&state, &principal, &meta, &before, &after, app).await?;
    Ok(Json(SettingView::new(&after, app)))
}

#[utoipa::path(delete, path = "/api/v1/settings/{key}", tag = "settings", params(("key" = String, Path, description = "setting key"), AppQuery),
    responses((status = 200, body = SettingView), (status = 409, description = "setting_pinned_by_environment")))]
pub async fn delete_setting(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(key): Path<String>,
    Query(q): Query<AppQuery>,
) -> Result<Json<SettingView>, ApiError> {
    writer(&state, &principal).await?;
    let app = q.app.as_deref();
    let before = crate::settings::resolve(&state, &key, app).await?;
    let after = crate::settings::delete(&state, &key, app).await?;
    audit_change(&state, &principal, &meta, &before, &after, app).await?;
    Ok(Json(SettingView::new(&after, app)))
}
