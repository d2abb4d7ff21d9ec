//! Single sign-on endpoints: OpenID Connect start and callback (web), and the CLI browser
//! flow (`/auth/cli/start`, the confirmation page and `/auth/cli/confirm`,
//! `/auth/cli/complete`). The protocol work is in `crate::auth::oidc`, the confirmation
//! page's browser binding in `crate::auth::cli_login`.

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use rgw_store::LoginFlow;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::sso_identity::resolve_user;
use super::{LoginResponse, finish_login};
use crate::api::ts;
use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::{Channel, RequestMeta, audit_event, cli_login, local, oidc, session, tokens};
use crate::error::ApiError;

/// Query of `GET /auth/oidc/start`.
#[derive(Deserialize, IntoParams)]
pub struct OidcStartQuery {
    /// Local path to return to after a web login.
    pub return_to: Option<String>,
    /// A CLI flow from `POST /auth/cli/start` (its `login_url` sets this): answered with the
    /// confirmation page, never with a redirect.
    pub flow_id: Option<Uuid>,
}

fn flow_invalid(message: &str) -> ApiError {
    ApiError::bad_request("login_flow_invalid", message.to_owned())
}

/// A CLI login flow that may still be confirmed in a browser.
async fn open_cli_flow(state: &AppState, id: Uuid) -> Result<LoginFlow, ApiError> {
    let flow = state
        .store
        .get_login_flow(id)
        .await
        .map_err(|_| flow_invalid("unknown login flow; run rack-gateway login again"))?;
    if flow.kind != "cli" || flow.status != "started" || flow.expires_at <= state.clock.now() {
        return Err(flow_invalid(
            "this login link was used or has expired; run rack-gateway login again",
        ));
    }
    Ok(flow)
}

/// Redirects the browser to the identity provider for `flow`, binding the flow to this
/// browser with the state cookie.
async fn to_provider(
    state: &AppState,
    jar: CookieJar,
    flow: &LoginFlow,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let url = oidc::authorize_url(state, flow).await?;
    let cookie = Cookie::build((oidc::STATE_COOKIE, flow.state.clone()))
        .http_only(true)
        .secure(session::cookie_secure(&state.config))
        .same_site(SameSite::Lax)
        .path("/api/v1/auth/oidc")
        .max_age(time::Duration::minutes(10))
        .build();
    Ok((
        jar.add(cookie),
        (status, [(header::LOCATION, url.to_string())]),
    )
        .into_response())
}

/// Starts single sign-on: redirects (302) to the identity provider. For a CLI flow (the link
/// `rack-gateway login` prints) it shows the confirmation page instead, whatever else the
/// query says; only that page's form continues the flow.
#[utoipa::path(get, path = "/api/v1/auth/oidc/start", tag = "auth", params(OidcStartQuery),
    responses((status = 302, description = "to the identity provider"), (status = 200, description = "CLI flows: confirmation page"), (status = 404, description = "oidc_not_configured")))]
pub async fn oidc_start(
    State(state): State<AppState>,
    Query(q): Query<OidcStartQuery>,
    meta: RequestMeta,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    oidc::provider(&state).await?;
    if let Some(id) = q.flow_id {
        let flow = open_cli_flow(&state, id).await?;
        let browser = cli_login::new_browser_value();
        let form_token = cli_login::token(&state.keys, flow.public_id, &browser);
        let action = state
            .config
            .public_url
            .join(cli_login::CONFIRM_PATH)
            .map_err(|e| anyhow::anyhow!("RGW_PUBLIC_URL: {e}"))?;
        // The form's answer redirects to the provider, which `form-action` must allow.
        let provider = oidc::authorize_url(&state, &flow).await?;
        let page = cli_login::confirmation_page(&flow, &action, &form_token, Some(&provider));
        return Ok((jar.add(cli_login::cookie(&state.config, &browser)), page).into_response());
    }
    let flow = oidc::create_flow(
        &state,
        "web",
        oidc::safe_return_to(q.return_to.as_deref()),
        None,
        &meta,
    )
    .await?;
    to_provider(&state, jar, &flow, StatusCode::FOUND).await
}

/// The confirmation form of a CLI login.
#[derive(Deserialize, ToSchema)]
pub struct CliConfirmForm {
    pub flow_id: Uuid,
    /// The token the confirmation page carried (bound to the flow and this browser).
    pub csrf_token: String,
}

/// Confirms a CLI login from its confirmation page and continues to the identity provider
/// (303). Refused without this browser's confirmation cookie and the page's token, and from
/// other origins.
#[utoipa::path(post, path = "/api/v1/auth/cli/confirm", tag = "auth",
    request_body(content = CliConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the identity provider"), (status = 400, description = "login_flow_invalid"),
              (status = 403, description = "login_confirmation_invalid")))]
pub async fn cli_confirm(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<CliConfirmForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form.map_err(|e| {
        ApiError::bad_request(
            "invalid_form",
            format!("expected the confirmation form (flow_id, csrf_token): {e}"),
        )
    })?;
    oidc::provider(&state).await?;
    let refuse = || {
        ApiError::forbidden(
            "login_confirmation_invalid",
            "confirm the login on the page its link opens, in the same browser; \
             open the link again if this keeps failing",
        )
    };
    if !cli_login::same_origin(&state.config, &headers) {
        return Err(refuse());
    }
    let browser = jar
        .get(cli_login::CONFIRM_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !cli_login::verify(&state.keys, form.flow_id, &browser, &form.csrf_token) {
        return Err(refuse());
    }
    let flow = open_cli_flow(&state, form.flow_id).await?;
    let event = AuditEvent::new(
        state.clock.now(),
        Actor::Anonymous { claimed: None },
        "login.oidc.cli_confirm",
        Outcome::Success,
    )
    .resource(flow.public_id.to_string())
    .details(json!({ "started_from_ip": flow.client_ip }));
    audit_event(&state, meta.apply(event)).await;
    let jar = jar.remove(cli_login::removal_cookie());
    to_provider(&state, jar, &flow, StatusCode::SEE_OTHER).await
}

/// Query of the OIDC callback.
#[derive(Deserialize, IntoParams)]
pub struct OidcCallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// The identity provider returns here; completes a web login (cookie + redirect) or a CLI flow.
#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", tag = "auth", params(OidcCallbackQuery),
    responses((status = 302, description = "web login done"), (status = 200, description = "CLI login done"), (status = 401), (status = 403)))]
pub async fn oidc_callback(
    State(state): State<AppState>,
    Query(q): Query<OidcCallbackQuery>,
    meta: RequestMeta,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let st = q.state.as_deref().unwrap_or_default();
    let flow = state
        .store
        .get_login_flow_by_state(st)
        .await
        .map_err(|_| flow_invalid("unknown login state; start the login again"))?;
    let bound = jar
        .get(oidc::STATE_COOKIE)
        .is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(st.as_bytes())));
    if !bound {
        return Err(flow_invalid(
            "this login was started in another browser; start it again here",
        ));
    }
    if flow.status != "started" || flow.expires_at <= state.clock.now() {
        return Err(flow_invalid(
            "this login was already used or has expired; start it again",
        ));
    }
    let fail = |reason: String, claimed: Option<String>| {
        meta.apply(
            AuditEvent::new(
                state.clock.now(),
                Actor::Anonymous { claimed },
                "login.oidc",
                Outcome::Failed,
            )
            .resource(flow.public_id.to_string())
            .details(json!({ "reason": reason, "flow": flow.kind })),
        )
    };
    // The claimed email (once the ID token verified) goes into the failure audit event.
    let mut claimed: Option<String> = None;
    let outcome = async {
        if let Some(err) = &q.error {
            return Err(ApiError::unauthorized(
                "oidc_denied",
                format!(
                    "the identity provider refused the login: {}",
                    err.chars().take(100).collect::<String>()
                ),
            ));
        }
        let code = q
            .code
            .as_deref()
            .ok_or_else(|| flow_invalid("the identity provider sent no code"))?;
        let identity = oidc::exchange(&state, &flow, code).await?;
        claimed = Some(identity.email.to_string());
        let user = resolve_user(&state, &identity, &meta).await?;
        match local::account_refusal(&user) {
            Some(refusal) => Err(refusal),
            None => Ok(user),
        }
    }
    .await;
    let user = match outcome {
        Ok(u) => u,
        Err(e) => {
            state.store.fail_login_flow(flow.id).await?;
            audit_event(&state, fail(e.code().to_owned(), claimed)).await;
            return Err(e);
        }
    };
    if !state
        .store
        .complete_login_flow(flow.id, user.id, state.clock.now())
        .await?
    {
        return Err(flow_invalid(
            "this login was already used or has expired; start it again",
        ));
    }
    let jar = jar.remove(Cookie::build(oidc::STATE_COOKIE).path("/api/v1/auth/oidc"));
    if flow.kind == "cli" {
        let event = AuditEvent::new(
            state.clock.now(),
            Actor::User {
                user_id: user.id,
                email: user.email.clone(),
            },
            "login.oidc.cli_flow",
            Outcome::Success,
        )
        .resource(flow.public_id.to_string());
        audit_event(&state, meta.apply(event)).await;
        return Ok((jar, cli_login::signed_in_page()).into_response());
    }
    let (jar, _) = finish_login(&state, jar, &user, Channel::Web, &meta, "oidc").await?;
    let to = flow.redirect_to.clone().unwrap_or_else(|| "/".into());
    Ok((jar, (StatusCode::FOUND, [(header::LOCATION, to)])).into_response())
}

/// Body of `POST /auth/cli/start`.
#[derive(Deserialize, ToSchema)]
pub struct CliStartRequest {
    /// base64url(SHA-256(code_verifier)), 43 characters; the CLI keeps the verifier.
    pub code_challenge: String,
}

/// A started CLI login.
#[derive(Serialize, ToSchema)]
pub struct CliStartResponse {
    pub flow_id: Uuid,
    /// Open this in a browser.
    pub login_url: String,
    pub expires_at: String,
}

/// Starts a CLI browser login.
#[utoipa::path(post, path = "/api/v1/auth/cli/start", tag = "auth", request_body = CliStartRequest,
    responses((status = 200, body = CliStartResponse), (status = 404, description = "oidc_not_configured")))]
pub async fn cli_start(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<CliStartRequest>,
) -> Result<Json<CliStartResponse>, ApiError> {
    oidc::provider(&state).await?;
    if !oidc::valid_pkce_string(&body.code_challenge) {
        return Err(ApiError::bad_request(
            "invalid_code_challenge",
            "code_challenge is base64url(SHA-256(verifier)), 43 characters",
        ));
    }
    let flow = oidc::create_flow(&state, "cli", None, Some(body.code_challenge), &meta).await?;
    let mut url = state
        .config
        .public_url
        .join("/api/v1/auth/oidc/start")
        .map_err(|e| anyhow::anyhow!("RGW_PUBLIC_URL: {e}"))?;
    url.query_pairs_mut()
        .append_pair("flow_id", &flow.public_id.to_string());
    Ok(Json(CliStartResponse {
        flow_id: flow.public_id,
        login_url: url.to_string(),
        expires_at: ts(flow.expires_at),
    }))
}

/// Body of `POST /auth/cli/complete`.
#[derive(Deserialize, ToSchema)]
pub struct CliCompleteRequest {
    pub flow_id: Uuid,
    #[schema(value_type = String)]
    pub code_verifier: SecretString,
}

/// Collects the session of a finished CLI browser login: 202 `{"status":"pending"}` until the
/// browser side is done, then 200 with the session token, exactly once.
#[utoipa::path(post, path = "/api/v1/auth/cli/complete", tag = "auth", request_body = CliCompleteRequest,
    responses((status = 200, body = LoginResponse), (status = 202, description = "pending"), (status = 400), (status = 401), (status = 409)))]
pub async fn cli_complete(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<CliCompleteRequest>,
) -> Result<Response, ApiError> {
    let flow = state
        .store
        .get_login_flow(body.flow_id)
        .await
        .map_err(|_| flow_invalid("unknown login flow"))?;
    let expected = flow
        .cli_code_challenge
        .as_deref()
        .filter(|_| flow.kind == "cli")
        .ok_or_else(|| flow_invalid("not a CLI login flow"))?;
    let presented = oidc::s256(body.code_verifier.expose_secret());
    if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::unauthorized(
            "code_verifier_invalid",
            "the code_verifier does not match the flow's code_challenge",
        ));
    }
    let now = state.clock.now();
    match flow.status.as_str() {
        "started" if flow.expires_at > now => {
            return Ok((StatusCode::ACCEPTED, Json(json!({ "status": "pending" }))).into_response());
        }
        "failed" => {
            return Err(ApiError::unauthorized(
                "login_failed",
                "the browser login failed; run rack-gateway login again",
            ));
        }
        "consumed" => {
            return Err(ApiError::conflict(
                "login_flow_consumed",
                "this login was already collected",
            ));
        }
        "completed" => {}
        _ => {
            return Err(ApiError::unauthorized(
                "login_flow_expired",
                "the login expired; run rack-gateway login again",
            ));
        }
    }
    if !state.store.consume_login_flow(flow.id, now).await? {
        return Err(ApiError::conflict(
            "login_flow_consumed",
            "this login was already collected or has expired",
        ));
    }
    let user_id = flow
        .user_id
        .ok_or_else(|| anyhow::anyhow!("completed login flow {} has no user", flow.public_id))?;
    let user = state.store.get_user(user_id).await?;
    if let Some(refusal) = local::account_refusal(&user) {
        return Err(refusal);
    }
    let (_, resp) =
        finish_login(&state, CookieJar::new(), &user, Channel::Cli, &meta, "oidc").await?;
    if let Some(tok) = resp.session_token.as_deref() {
        let secret = SecretString::from(tok.to_owned());
        if let Some(found) = state.store.lookup_session(&tokens::hash(&secret)).await? {
            state
                .store
                .set_login_flow_session(flow.id, found.session.id)
                .await?;
        }
    }
    Ok((StatusCode::OK, Json(resp)).into_response())
}
