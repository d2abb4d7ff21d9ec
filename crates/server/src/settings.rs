//! Effective settings at run time: environment (captured and validated at startup), then the
//! database (changed by admins), then the catalogue default in `rgw_core::settings`.
//!
//! Database values are cached per process, because the proxy's gate needs several settings on
//! every call. Copies live under the store's change feed ([`rgw_store::changes`]): a write by
//! this process drops them before it returns; one by another PostgreSQL replica when its
//! notification arrives; any other within [`rgw_store::changes::UNWATCHED_MAX_AGE`] (1 s).

use rgw_core::AppName;
use rgw_core::rbac::GateSettings;
use rgw_core::settings::{Resolved, Scope, SettingDef, find, resolve as resolve_pure, validate};
use rgw_store::changes::{StampedCache, Topic};
use serde_json::Value;

use crate::app::AppState;
use crate::error::ApiError;

/// Stored setting values by `(scope, key)` (`None`: not set in the database), cached under the
/// change feed.
#[derive(Debug)]
pub struct SettingsCache(StampedCache<(String, &'static str), Option<Value>>);

impl Default for SettingsCache {
    fn default() -> Self {
        SettingsCache(StampedCache::new(Topic::Settings, 10_000))
    }
}

impl SettingsCache {
    /// Forgets one entry (after a local write).
    pub fn invalidate(&self, scope: &str, key: &'static str) {
        self.0.remove(&(scope.to_owned(), key));
    }
}

fn definition(key: &str) -> Result<&'static SettingDef, ApiError> {
    find(key).ok_or_else(|| {
        ApiError::bad_request(
            "unknown_setting",
            format!("unknown setting {key}; GET /api/v1/settings lists every key"),
        )
    })
}

fn scope_for(def: &SettingDef, app: Option<&str>) -> Result<Option<AppName>, ApiError> {
    match (def.scope, app) {
        (Scope::App, Some(a)) => {
            Ok(Some(AppName::parse(a).map_err(|e| {
                ApiError::bad_request("invalid_app", e.to_string())
            })?))
        }
        (Scope::App, None) => Err(ApiError::bad_request(
            "app_required",
            format!("{} is a per-app setting; name the app", def.key),
        )),
        (Scope::Global, _) => Ok(None),
    }
}

/// Resolves `key`, for `app` when the setting is per app.
pub async fn resolve(state: &AppState, key: &str, app: Option<&str>) -> Result<Resolved, ApiError> {
    let def = definition(key)?;
    let app = scope_for(def, app)?;
    let scope = app.as_ref().map(|a| a.to_string()).unwrap_or_default();
    let cache = &state.settings_cache.0;
    let cache_key = (scope.clone(), def.key);
    let stored = match cache.get(state.store.changes(), &cache_key) {
        Some(v) => v,
        None => {
            // Stamp before the read (see `rgw_store::changes`).
            let stamp = cache.stamp(state.store.changes());
            let v = state
                .store
                .get_setting(&scope, def.key)
                .await?
                .map(|s| s.value.0);
            cache.put(cache_key, stamp, v.clone());
            v
        }
    };
    resolve_pure(
        def.key,
        app.as_ref(),
        |var| state.config.setting_env.get(var).cloned(),
        stored.as_ref(),
    )
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting {key}: {e}")))
}

/// A boolean setting.
pub async fn bool_setting(
    state: &AppState,
    key: &str,
    app: Option<&str>,
) -> Result<bool, ApiError> {
    let r = resolve(state, key, app).await?;
    r.as_bool()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("setting {key} is not a boolean")))
}

/// An integer setting.
pub async fn int_setting(state: &AppState, key: &str, app: Option<&str>) -> Result<i64, ApiError> {
    let r = resolve(state, key, app).await?;
    r.as_i64()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("setting {key} is not an integer")))
}

/// A string-list setting.
pub async fn list_setting(
    state: &AppState,
    key: &str,
    app: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    Ok(resolve(state, key, app).await?.as_list())
}

/// The settings the proxy's decision reads, for `app` (global values when the route has none).
/// A failure to read them refuses the call rather than guessing.
pub async fn gate_settings(state: &AppState, app: Option<&str>) -> Result<GateSettings, ApiError> {
    let human_deploys_allowed = match app {
        Some(a) => bool_setting(state, "human_deploys_allowed", Some(a)).await?,
        None => true,
    };
    Ok(GateSettings {
        approvals_enabled: bool_setting(state, "deploy_approvals_enabled", None).await?,
        human_deploys_allowed,
        step_up_window_minutes: int_setting(state, "mfa_step_up_window_minutes", None).await?,
    })
}

/// The current value of `key`, or 409 when the environment pins it (it cannot be changed here).
async fn unpinned(state: &AppState, key: &str, app: Option<&str>) -> Result<Resolved, ApiError> {
    let current = resolve(state, key, app).await?;
    if current.locked() {
        return Err(ApiError::conflict(
            "setting_pinned_by_environment",
            format!(
                "{key} is set by the environment variable {} and cannot be changed here; change or unset the variable",
                current.env_var
            ),
        ));
    }
    Ok(current)
}

/// Stores an admin's value for `key` (validated against the catalogue). Refused with 409 when
/// the environment pins the value.
pub async fn put(
    state: &AppState,
    key: &str,
    app: Option<&str>,
    value: &Value,
    by_user_id: i64,
) -> Result<Resolved, ApiError> {
    let def = definition(key)?;
    let app_name = scope_for(def, app)?;
    let current = unpinned(state, key, app).await?;
    let value = validate(def, value)
        .map_err(|e| ApiError::unprocessable("invalid_setting_value", e.to_string()))?;
    if def.key == "service_image_patterns" {
        let patterns = Resolved {
            value: value.clone(),
            ..current.clone()
        }
        .as_map();
        rgw_core::manifest::validate_patterns(&patterns)
            .map_err(|e| ApiError::unprocessable("invalid_setting_value", e.to_string()))?;
    }
    let scope = app_name.as_ref().map(|a| a.to_string()).unwrap_or_default();
    state
        .store
        .put_setting(&scope, def.key, &value, Some(by_user_id), state.clock.now())
        .await?;
    state.settings_cache.invalidate(&scope, def.key);
    resolve(state, key, app).await
}

/// Removes an admin's value for `key` (back to the default). Refused like [`put`].
pub async fn delete(state: &AppState, key: &str, app: Option<&str>) -> Result<Resolved, ApiError> {
    let def = definition(key)?;
    let app_name = scope_for(def, app)?;
    unpinned(state, key, app).await?;
    let scope = app_name.as_ref().map(|a| a.to_string()).unwrap_or_default();
    state.store.delete_setting(&scope, def.key).await?;
    state.settings_cache.invalidate(&scope, def.key);
    resolve(state, key, app).await
}
