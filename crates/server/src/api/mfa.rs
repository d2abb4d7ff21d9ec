//! The MFA API under `/api/v1/mfa`: status, TOTP enrolment, session verification (which
//! rotates the session), backup codes and WebAuthn credentials. Only human sessions may call
//! it: API tokens get 403 `mfa_requires_user_session`. Adding or replacing a factor, or
//! listing backup codes, needs a session that has verified MFA once the user has any factor.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum_extra::extract::cookie::CookieJar;
use rgw_core::mfa::{MfaMethod, TotpCode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

use super::{ts, ts_opt};
use crate::app::AppState;
use crate::auth::principal::{Channel, Principal, UserPrincipal};
use crate::auth::{RequestMeta, csrf, session};
use crate::error::ApiError;
use crate::mfa::attempts::Purpose;
use crate::mfa::bound::{MfaProof, human, parse_proof};
use crate::mfa::{MfaUser, backup_codes, enforce, totp, webauthn};

/// The MFA routes, merged into `app::api_routes`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(totp_enroll))
        .routes(routes!(totp_confirm))
        .routes(routes!(verify))
        .routes(routes!(regenerate_backup_codes))
        .routes(routes!(webauthn_register_start))
        .routes(routes!(webauthn_register_finish))
        .routes(routes!(webauthn_authenticate_start))
        .routes(routes!(webauthn_authenticate_finish))
        .routes(routes!(webauthn_credentials))
        .routes(routes!(webauthn_remove))
}

/// The MFA state of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    /// Has at least one factor (TOTP or a security key).
    pub enrolled: bool,
    pub totp: bool,
    pub webauthn_credentials: usize,
    pub backup_codes_remaining: i64,
    /// Whether MFA is required for this user.
    pub required: bool,
    /// When this session last verified MFA.
    pub session_verified_at: Option<String>,
}

/// A new TOTP enrolment (shown once).
#[derive(Serialize, ToSchema)]
pub struct TotpEnrollResponse {
    pub otpauth_uri: String,
    pub secret_base32: String,
    /// PNG of the QR code, base64.
    pub qr_png_base64: String,
}

/// A six-digit code.
#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    pub code: String,
}

/// The session after MFA: it was replaced by a new, MFA-verified one.
#[derive(Serialize, ToSchema)]
pub struct VerifiedResponse {
    pub method: MfaMethod,
    pub mfa_verified_at: String,
    /// CLI sessions only: the new bearer session token (the old one no longer works).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Web sessions only: the new CSRF token (the cookie is replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// Set when this call also created the first set of backup codes (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<Vec<String>>,
}

/// Backup codes, shown once.
#[derive(Serialize, ToSchema)]
pub struct BackupCodesResponse {
    pub backup_codes: Vec<String>,
}

/// A started WebAuthn ceremony: pass `options` to the browser, send back `ceremony_id`.
#[derive(Serialize, ToSchema)]
pub struct CeremonyStarted<T> {
    pub ceremony_id: Uuid,
    #[schema(value_type = Object)]
    pub options: T,
}

/// The browser's answer to a registration ceremony.
#[derive(Deserialize, ToSchema)]
pub struct RegisterFinishBody {
    pub ceremony_id: Uuid,
    /// A label such as "YubiKey 5C".
    #[serde(default)]
    pub name: String,
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
}

/// The browser's answer to an authentication ceremony.
#[derive(Deserialize, ToSchema)]
pub struct AuthenticateFinishBody {
    pub ceremony_id: Uuid,
    #[schema(value_type = Object)]
    pub assertion: Box<PublicKeyCredential>,
}

/// A registered security key.
#[derive(Serialize, ToSchema)]
pub struct WebauthnCredentialView {
    pub id: Uuid,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// The caller as a human session (tokens are refused).
fn caller(principal: &Principal) -> Result<(&UserPrincipal, MfaUser), ApiError> {
    let user = human(principal)?;
    Ok((user, MfaUser::from(user)))
}

/// Adding or changing factors needs a verified session once any factor exists, so a stolen
/// password alone cannot attach the thief's authenticator.
async fn require_verified_if_enrolled(
    state: &AppState,
    user: &UserPrincipal,
) -> Result<(), ApiError> {
    if enforce::enrolled(state, user.user_id).await? && user.mfa_verified_at.is_none() {
        return Err(ApiError::unauthorized(
            "mfa_required",
            "verify MFA for this session first (POST /api/v1/mfa/verify)",
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/mfa/status", tag = "mfa",
    responses((status = 200, body = MfaStatus), (status = 403, description = "mfa_requires_user_session")))]
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<MfaStatus>, ApiError> {
    let (user, _) = caller(&principal)?;
    let totp = state
        .store
        .get_totp_credential(user.user_id)
        .await?
        .is_some_and(|c| c.confirmed_at.is_some());
    let keys = state
        .store
        .list_webauthn_credentials(user.user_id)
        .await?
        .len();
    let required = enforce::require_all_users(&state).await
        || state.store.get_user(user.user_id).await?.mfa_enforced;
    Ok(Json(MfaStatus {
        enrolled: totp || keys > 0,
        totp,
        webauthn_credentials: keys,
        backup_codes_remaining: state.store.count_unused_backup_codes(user.user_id).await?,
        required,
        session_verified_at: ts_opt(user.mfa_verified_at),
    }))
}

#[utoipa::path(post, path = "/api/v1/mfa/totp/enroll", tag = "mfa",
    responses((status = 200, body = TotpEnrollResponse), (status = 409, description = "mfa_totp_already_enrolled")))]
pub async fn totp_enroll(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<TotpEnrollResponse>, ApiError> {
    let (user, who) = caller(&principal)?;
    require_verified_if_enrolled(&state, user).await?;
    let e = totp::enroll(&state, &who).await?;
    Ok(Json(TotpEnrollResponse {
        otpauth_uri: e.otpauth_uri.expose_secret().to_owned(),
        secret_base32: e.secret_base32.expose_secret().to_owned(),
        qr_png_base64: e.qr_png_base64,
    }))
}

#[utoipa::path(post, path = "/api/v1/mfa/totp/confirm", tag = "mfa", request_body = CodeBody,
    responses((status = 200, body = VerifiedResponse), (status = 401, description = "mfa_verification_failed")))]
pub async fn totp_confirm(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    jar: CookieJar,
    Json(body): Json<CodeBody>,
) -> Result<(CookieJar, Json<VerifiedResponse>), ApiError> {
    let (user, who) = caller(&principal)?;
    let code = TotpCode::parse(&body.code)
        .map_err(|e| ApiError::bad_request("invalid_mfa_code", e.to_string()))?;
    totp::confirm(&state, &who, &code).await?;
    let codes = if state.store.count_unused_backup_codes(user.user_id).await? == 0 {
        Some(backup_codes::regenerate(&state, &who).await?)
    } else {
        None
    };
    verified(&state, user, MfaMethod::Totp, &meta, jar, codes).await
}

#[utoipa::path(post, path = "/api/v1/mfa/verify", tag = "mfa", request_body = Object,
    responses((status = 200, body = VerifiedResponse), (status = 401, description = "mfa_verification_failed"),
              (status = 403, description = "account_locked"), (status = 429, description = "mfa_rate_limited")))]
pub async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    jar: CookieJar,
    Json(body): Json<rgw_core::wire::MfaProof>,
) -> Result<(CookieJar, Json<VerifiedResponse>), ApiError> {
    let (user, who) = caller(&principal)?;
    let method = match parse_proof(body)? {
        MfaProof::Totp(code) => {
            totp::verify(&state, &who, &code, Purpose::Session).await?;
            MfaMethod::Totp
        }
        MfaProof::BackupCode(code) => {
            backup_codes::verify(&state, &who, &code, Purpose::Session).await?;
            MfaMethod::BackupCode
        }
        MfaProof::WebAuthn {
            ceremony_id,
            assertion,
        } => {
            webauthn::finish_assertion(
                &state,
                &who,
                ceremony_id,
                &assertion,
                None,
                Purpose::Session,
            )
            .await?;
            MfaMethod::WebAuthn
        }
    };
    verified(&state, user, method, &meta, jar, None).await
}

/// Rotates the session to a new MFA-verified one and shapes the answer for its channel.
async fn verified(
    state: &AppState,
    user: &UserPrincipal,
    method: MfaMethod,
    meta: &RequestMeta,
    jar: CookieJar,
    backup_codes: Option<Vec<String>>,
) -> Result<(CookieJar, Json<VerifiedResponse>), ApiError> {
    let issued = session::rotate_after_mfa(state, user, method.as_str(), meta).await?;
    let at = ts(issued
        .session
        .mfa_verified_at
        .unwrap_or_else(|| state.clock.now()));
    let mut response = VerifiedResponse {
        method,
        mfa_verified_at: at,
        session_token: None,
        csrf_token: None,
        backup_codes,
    };
    let jar = match user.channel {
        Channel::Web => {
            response.csrf_token = Some(csrf::token_for(&state.keys, issued.session.public_id));
            jar.add(session::cookie(&state.config, &issued.token))
        }
        Channel::Cli => {
            response.session_token = Some(issued.token.expose_secret().to_owned());
            jar
        }
    };
    Ok((jar, Json(response)))
}

#[utoipa::path(post, path = "/api/v1/mfa/backup-codes", tag = "mfa",
    responses((status = 200, body = BackupCodesResponse), (status = 401, description = "mfa_required")))]
pub async fn regenerate_backup_codes(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<BackupCodesResponse>, ApiError> {
    let (user, who) = caller(&principal)?;
    if user.mfa_verified_at.is_none() {
        return Err(ApiError::unauthorized(
            "mfa_required",
            "verify MFA for this session first (POST /api/v1/mfa/verify)",
        ));
    }
    Ok(Json(BackupCodesResponse {
        backup_codes: backup_codes::regenerate(&state, &who).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/mfa/webauthn/register/start", tag = "mfa",
    responses((status = 200, body = inline(CeremonyStarted<Object>)), (status = 503, description = "webauthn_unavailable")))]
pub async fn webauthn_register_start(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CeremonyStarted<CreationChallengeResponse>>, ApiError> {
    let (user, who) = caller(&principal)?;
    require_verified_if_enrolled(&state, user).await?;
    let (ceremony_id, options) = webauthn::start_registration(&state, &who).await?;
    Ok(Json(CeremonyStarted {
        ceremony_id,
        options,
    }))
}

#[utoipa::path(post, path = "/api/v1/mfa/webauthn/register/finish", tag = "mfa", request_body = RegisterFinishBody,
    responses((status = 201, body = WebauthnCredentialView), (status = 400, description = "webauthn_registration_failed")))]
pub async fn webauthn_register_finish(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<RegisterFinishBody>,
) -> Result<(StatusCode, Json<WebauthnCredentialView>), ApiError> {
    let (user, who) = caller(&principal)?;
    require_verified_if_enrolled(&state, user).await?;
    let c =
        webauthn::finish_registration(&state, &who, body.ceremony_id, &body.name, &body.credential)
            .await?;
    Ok((StatusCode::CREATED, Json(view(&c))))
}

#[utoipa::path(post, path = "/api/v1/mfa/webauthn/authenticate/start", tag = "mfa",
    responses((status = 200, body = inline(CeremonyStarted<Object>)), (status = 409, description = "mfa_not_enrolled")))]
pub async fn webauthn_authenticate_start(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CeremonyStarted<RequestChallengeResponse>>, ApiError> {
    let (_, who) = caller(&principal)?;
    let (ceremony_id, options) = webauthn::start_assertion(&state, &who, None).await?;
    Ok(Json(CeremonyStarted {
        ceremony_id,
        options,
    }))
}

#[utoipa::path(post, path = "/api/v1/mfa/webauthn/authenticate/finish", tag = "mfa", request_body = AuthenticateFinishBody,
    responses((status = 200, body = VerifiedResponse), (status = 401, description = "mfa_verification_failed")))]
pub async fn webauthn_authenticate_finish(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    jar: CookieJar,
    Json(body): Json<AuthenticateFinishBody>,
) -> Result<(CookieJar, Json<VerifiedResponse>), ApiError> {
    let (user, who) = caller(&principal)?;
    webauthn::finish_assertion(
        &state,
        &who,
        body.ceremony_id,
        &body.assertion,
        None,
        Purpose::Session,
    )
    .await?;
    verified(&state, user, MfaMethod::WebAuthn, &meta, jar, None).await
}

#[utoipa::path(get, path = "/api/v1/mfa/webauthn/credentials", tag = "mfa",
    responses((status = 200, body = Vec<WebauthnCredentialView>)))]
pub async fn webauthn_credentials(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<WebauthnCredentialView>>, ApiError> {
    let (user, _) = caller(&principal)?;
    let rows = state.store.list_webauthn_credentials(user.user_id).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

#[utoipa::path(delete, path = "/api/v1/mfa/webauthn/credentials/{id}", tag = "mfa",
    params(("id" = Uuid, Path, description = "the credential's id")),
    responses((status = 204), (status = 404, description = "webauthn_credential_not_found")))]
pub async fn webauthn_remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let (user, who) = caller(&principal)?;
    require_verified_if_enrolled(&state, user).await?;
    webauthn::remove(&state, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn view(c: &rgw_store::WebauthnCredential) -> WebauthnCredentialView {
    WebauthnCredentialView {
        id: c.public_id,
        name: c.name.clone(),
        created_at: ts(c.created_at),
        last_used_at: ts_opt(c.last_used_at),
    }
}
