//! Effective settings at run time: environment (captured and validated at startup), then the
//! database (changed in the UI), then the catalogue default in `rgw_core::settings`.

use rgw_core::AppName;
use rgw_core::settings::{Resolved, Scope, find, resolve as resolve_pure};

use crate::app::AppState;
use crate::error::ApiError;

/// Resolves `key`, for `app` when the setting is per app.
pub async fn resolve(state: &AppState, key: &str, app: Option<&str>) -> Result<Resolved, ApiError> {
    let def = find(key).ok_or_else(|| ApiError::bad_request("unknown_setting", format!("unknown setting {key}")))?;
    let app = match (def.scope, app) {
        (Scope::App, Some(a)) => Some(AppName::parse(a).map_err(|e| ApiError::bad_request("invalid_app", e.to_string()))?),
        (Scope::App, None) => {
            return Err(ApiError::bad_request("app_required", format!("{key} is a per-app setting")));
        }
        (Scope::Global, _) => None,
    };
    let scope = app.as_ref().map(|a| a.to_string()).unwrap_or_default();
    let stored = state.store.get_setting(&scope, key).await?;
    resolve_pure(
        key,
        app.as_ref(),
        |var| state.config.setting_env.get(var).cloned(),
        stored.as_ref().map(|s| &s.value.0),
    )
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting {key}: {e}")))
}

/// A boolean setting.
pub async fn bool_setting(state: &AppState, key: &str, app: Option<&str>) -> Result<bool, ApiError> {
    let r = resolve(state, key, app).await?;
    r.as_bool()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("setting {key} is not a boolean")))
}

/// A string-list setting.
pub async fn list_setting(state: &AppState, key: &str, app: Option<&str>) -> Result<Vec<String>, ApiError> {
    Ok(resolve(state, key, app).await?.as_list())
}
