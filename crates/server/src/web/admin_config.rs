//! Admin pages for configuration and evidence: settings (global and per app, each showing
//! whether its value comes from the environment — read-only here — the database or the
//! default) and the audit log (filters, paging, export, chain verification). Reads and writes
//! go through the API's own handlers.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use rgw_core::rbac::Permission;
use serde::Deserialize;
use serde_json::Value;

use super::context::{Chrome, WebError, WebForm, WebUser, step_up_redirect, urlencode};
use super::pages::render;
use crate::api::audit::{AuditQuery, list_audit_events};
use crate::api::settings::{
    AppQuery, PutSettingBody, SettingView, delete_setting, list_settings, put_setting,
};
use crate::app::AppState;
use crate::audit::view::AuditEventView;
use crate::auth::RequestMeta;
use crate::error::ApiError;

/// One setting row.
struct SettingRow {
    key: String,
    value: String,
    /// A credential (webhook URL): shown masked, and the form starts empty so a masked value
    /// is never saved back.
    secret: bool,
    source: String,
    locked: bool,
    env_var: String,
    description: String,
}

fn as_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

impl From<&SettingView> for SettingRow {
    fn from(s: &SettingView) -> Self {
        SettingRow {
            key: s.key.clone(),
            secret: rgw_core::settings_secret::is_secret(&s.key),
            value: match &s.value {
                Value::String(t) => t.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            },
            source: as_text(&s.source),
            locked: s.locked,
            env_var: s.env_var.clone(),
            description: s.description.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    app: String,
    rows: Vec<SettingRow>,
    can_manage: bool,
    error: Option<String>,
    notice: Option<String>,
}

/// `?app=`.
#[derive(Debug, Default, Deserialize)]
pub struct AppFilter {
    #[serde(default)]
    pub app: String,
}

async fn settings_page(
    state: &AppState,
    u: &WebUser,
    app: &str,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let q = AppQuery {
        app: Some(app.trim().to_owned()).filter(|a| !a.is_empty()),
    };
    let (rows, status, error) =
        match list_settings(State(state.clone()), u.principal.clone(), Query(q)).await {
            Ok(Json(list)) => (list.iter().map(SettingRow::from).collect(), status, error),
            Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
                (Vec::new(), e.status(), Some(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
    Ok(render(
        status,
        &SettingsPage {
            chrome: Chrome::for_user(state, &u.user, "settings"),
            app: app.to_owned(),
            rows,
            can_manage: u.principal.allows(&Permission::SETTING_MANAGE),
            error,
            notice,
        },
    ))
}

/// `GET /admin/settings?app=`.
pub async fn settings(
    State(state): State<AppState>,
    u: WebUser,
    Query(f): Query<AppFilter>,
) -> Result<Response, WebError> {
    settings_page(&state, &u, &f.app, StatusCode::OK, None, None).await
}

/// A setting form: a new value, or `reset` to drop the stored value.
#[derive(Deserialize)]
pub struct SettingForm {
    #[serde(default)]
    value: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    reset: String,
}

/// A typed value from the form's text: JSON when it parses (`true`, `15`, `["a"]`), else text.
fn parse_value(raw: &str) -> Value {
    let raw = raw.trim();
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// `POST /admin/settings/{key}`: sets or resets one setting (refused when the environment pins it).
pub async fn save_setting(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(key): Path<String>,
    WebForm { user, form }: WebForm<SettingForm>,
) -> Result<Response, WebError> {
    let app = Some(form.app.trim().to_owned()).filter(|a| !a.is_empty());
    let (s, p) = (State(state.clone()), user.principal.clone());
    let result = if form.reset.is_empty() {
        let body = PutSettingBody {
            value: parse_value(&form.value),
            app: app.clone(),
        };
        put_setting(s, p, meta, Path(key.clone()), Json(body)).await
    } else {
        delete_setting(
            s,
            p,
            meta,
            Path(key.clone()),
            Query(AppQuery { app: app.clone() }),
        )
        .await
    };
    match result {
        Ok(Json(v)) => {
            let notice = format!(
                "{} is now {} ({}).",
                v.key,
                as_text(&v.value),
                as_text(&v.source)
            );
            settings_page(&state, &user, &form.app, StatusCode::OK, None, Some(notice)).await
        }
        Err(e) if let Some(to) = step_up_redirect(&e, &settings_path(&form.app)) => Ok(to),
        Err(e) if e.status().is_client_error() => {
            settings_page(
                &state,
                &user,
                &form.app,
                e.status(),
                Some(e.to_string()),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Filters of the audit page (the API's, as text fields).
#[derive(Debug, Default, Deserialize)]
pub struct AuditForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    cursor: Option<String>,
    #[serde(default)]
    verify: String,
}

impl AuditForm {
    fn query(&self, cursor: Option<String>) -> AuditQuery {
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        AuditQuery {
            actor: opt(&self.actor),
            action: opt(&self.action),
            app: opt(&self.app),
            request_id: None,
            deploy_approval_request_id: None,
            since: opt(&self.since),
            until: opt(&self.until),
            outcome: opt(&self.outcome),
            limit: Some(50),
            cursor,
            format: None,
        }
    }

    fn query_string(&self) -> String {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("app", &self.app),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    chrome: Chrome,
    f: AuditForm,
    outcomes: &'static [&'static str],
    events: Vec<AuditEventView>,
    next_url: Option<String>,
    export_jsonl: String,
    export_csv: String,
    can_export: bool,
    chain: Option<(bool, String)>,
    error: Option<String>,
}

/// `GET /admin/audit`: events newest first, 50 a page; `verify=1` also checks the whole chain.
pub async fn audit(
    State(state): State<AppState>,
    u: WebUser,
    Query(f): Query<AuditForm>,
) -> Result<Response, WebError> {
    let listed = list_audit_events(
        u.principal.clone(),
        State(state.clone()),
        Query(f.query(f.cursor.clone())),
    )
    .await;
    let (events, next, status, error) = match listed {
        Ok(Json(page)) => (page.audit_events, page.next_cursor, StatusCode::OK, None),
        Err(e) if e.status() == StatusCode::BAD_REQUEST => {
            (Vec::new(), None, e.status(), Some(e.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    let chain = if f.verify == "1" {
        Some(
            match state
                .store
                .verify_audit_chain(state.keys.audit_mac.expose())
                .await
            {
                Ok(Ok(s)) => (
                    true,
                    format!(
                        "Intact: {} events, head {}.",
                        s.count,
                        hex::encode(s.head_mac)
                    ),
                ),
                Ok(Err(brk)) => (false, format!("Broken at {brk}.")),
                Err(e) => return Err(ApiError::from(e).into()),
            },
        )
    } else {
        None
    };
    let qs = f.query_string();
    let sep = if qs.is_empty() { "" } else { "&" };
    let next_url = next.map(|c| format!("/admin/audit?{qs}{sep}cursor={}", urlencode(&c)));
    let export = |fmt: &str| format!("/api/v1/audit-events/export?{qs}{sep}format={fmt}");
    Ok(render(
        status,
        &AuditPage {
            chrome: Chrome::for_user(&state, &u.user, "audit"),
            outcomes: &["success", "denied", "failed", "error"],
            events,
            next_url,
            export_jsonl: export("jsonl"),
            export_csv: export("csv"),
            can_export: u.principal.allows(&Permission::AUDIT_EXPORT),
            chain,
            error,
            f,
        },
    ))
}

/// The settings page of `app` (global when empty), to come back to.
fn settings_path(app: &str) -> String {
    match app.trim() {
        "" => "/admin/settings".to_owned(),
        a => format!("/admin/settings?app={}", urlencode(a)),
    }
}
