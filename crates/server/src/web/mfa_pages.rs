//! The MFA pages: the challenge a signed-in session must pass (`/mfa`), TOTP enrolment with a
//! QR code and first backup codes (`/mfa/enroll`), and the account page (factors, new backup
//! codes, security keys). Every step calls the MFA API's own handlers, so attempt budgets,
//! lockout, replay protection, session rotation and audit are the API's. Security keys are
//! registered and used by `static/webauthn.js` against the JSON API.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::context::{Chrome, SessionForm, WebError, WebSession, WebUser, see_other};
use super::pages::render;
use super::qr;
use crate::api::mfa::{self as api, CodeBody};
use crate::app::AppState;
use crate::auth::{RequestMeta, oidc};
use crate::error::ApiError;
use crate::mfa::enforce::{self, Gate};

fn next_or_home(next: Option<&str>) -> String {
    oidc::safe_return_to(next)
        .filter(|n| !n.starts_with("/mfa") && !n.starts_with("/login"))
        .unwrap_or_else(|| "/deploy-approvals".to_owned())
}

#[derive(Template)]
#[template(path = "mfa_challenge.html")]
struct Challenge {
    chrome: Chrome,
    error: Option<String>,
    next: String,
    totp: bool,
    keys: bool,
}

/// `?next=`, and `again` to verify once more although the session is verified (step-up).
#[derive(Debug, Default, Deserialize)]
pub struct Next {
    pub next: Option<String>,
    pub again: Option<String>,
}

async fn challenge(
    state: &AppState,
    s: &WebSession,
    next: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, WebError> {
    let id = s.user.user_id;
    let totp = state
        .store
        .get_totp_credential(id)
        .await?
        .is_some_and(|c| c.confirmed_at.is_some());
    let keys = !state.store.list_webauthn_credentials(id).await?.is_empty();
    Ok(render(
        status,
        &Challenge {
            chrome: Chrome::pending_mfa(state, &s.user),
            error,
            next: next.to_owned(),
            totp,
            keys,
        },
    ))
}

/// `GET /mfa`: the challenge, or straight on when this session needs none.
pub async fn show(
    State(state): State<AppState>,
    s: WebSession,
    Query(q): Query<Next>,
) -> Result<Response, WebError> {
    let next = next_or_home(q.next.as_deref());
    let enrolled = enforce::enrolled(&state, s.user.user_id).await?;
    let required = enforce::require_all_users(&state).await
        || state.store.get_user(s.user.user_id).await?.mfa_enforced;
    if q.again.is_some() && enrolled {
        return challenge(&state, &s, &next, StatusCode::OK, None).await;
    }
    match enforce::gate(required, enrolled, s.user.mfa_verified_at.is_some()) {
        Gate::Open => Ok(see_other(&next)),
        Gate::EnrollmentRequired => Ok(see_other("/mfa/enroll")),
        Gate::VerificationRequired => challenge(&state, &s, &next, StatusCode::OK, None).await,
    }
}

/// The challenge form: a TOTP code or a backup code.
#[derive(Debug, Deserialize)]
pub struct ChallengeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    backup_code: String,
    next: Option<String>,
}

/// `POST /mfa`: verifies the code, which replaces the session with an MFA-verified one.
pub async fn verify(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    SessionForm { session, form }: SessionForm<ChallengeForm>,
) -> Result<Response, WebError> {
    let next = next_or_home(form.next.as_deref());
    let proof = if !form.code.trim().is_empty() {
        rgw_core::wire::MfaProof::Totp(form.code.trim().to_owned())
    } else if !form.backup_code.trim().is_empty() {
        rgw_core::wire::MfaProof::BackupCode(form.backup_code.trim().to_owned())
    } else {
        let msg = "Enter the code from your authenticator app or a backup code.";
        return challenge(
            &state,
            &session,
            &next,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(msg.into()),
        )
        .await;
    };
    let principal = session.principal.clone();
    match api::verify(State(state.clone()), principal, meta, jar, Json(proof)).await {
        Ok((jar, _)) => Ok((jar, see_other(&next)).into_response()),
        Err(e) if e.status().is_client_error() => {
            challenge(&state, &session, &next, e.status(), Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The QR code and key of a TOTP enrolment in progress.
struct QrView {
    svg: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "mfa_enroll.html")]
struct Enroll {
    chrome: Chrome,
    error: Option<String>,
    qr: Option<QrView>,
}

/// `GET /mfa/enroll`: the choice of factor (or on, when one is enrolled already).
pub async fn enroll_page(
    State(state): State<AppState>,
    s: WebSession,
) -> Result<Response, WebError> {
    if enforce::enrolled(&state, s.user.user_id).await? {
        return Ok(see_other(if s.user.mfa_verified_at.is_some() {
            "/account"
        } else {
            "/mfa"
        }));
    }
    Ok(render(
        StatusCode::OK,
        &Enroll {
            chrome: Chrome::pending_mfa(&state, &s.user),
            error: None,
            qr: None,
        },
    ))
}

async fn start_totp(
    state: &AppState,
    s: &WebSession,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, WebError> {
    let Json(e) = api::totp_enroll(State(state.clone()), s.principal.clone()).await?;
    let svg = qr::svg(&e.otpauth_uri)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("drawing the TOTP QR code")))?;
    Ok(render(
        status,
        &Enroll {
            chrome: Chrome::pending_mfa(state, &s.user),
            error,
            qr: Some(QrView {
                svg,
                secret: e.secret_base32,
            }),
        },
    ))
}

/// `POST /mfa/enroll`: starts TOTP enrolment and shows its QR code.
pub async fn enroll_start(
    State(state): State<AppState>,
    SessionForm { session, .. }: SessionForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    start_totp(&state, &session, StatusCode::OK, None).await
}

#[derive(Template)]
#[template(path = "backup_codes.html")]
struct Codes {
    chrome: Chrome,
    heading: &'static str,
    codes: Vec<String>,
    next: String,
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    code: String,
}

/// `POST /mfa/enroll/confirm`: turns TOTP on with a first code and shows the first backup
/// codes, once. A wrong code starts over with a new secret (the old one is never shown again).
pub async fn enroll_confirm(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    SessionForm { session, form }: SessionForm<ConfirmForm>,
) -> Result<Response, WebError> {
    let body = CodeBody {
        code: form.code.trim().to_owned(),
    };
    match api::totp_confirm(
        State(state.clone()),
        session.principal.clone(),
        meta,
        jar,
        Json(body),
    )
    .await
    {
        Ok((jar, Json(v))) => {
            let page = Codes {
                chrome: Chrome::anonymous(),
                heading: "Two-factor authentication is on",
                codes: v.backup_codes.unwrap_or_default(),
                next: "/deploy-approvals".into(),
            };
            Ok((jar, render(StatusCode::OK, &page)).into_response())
        }
        Err(e) if e.status().is_client_error() => {
            let msg = format!("{e} Scan this new code and try again.");
            start_totp(&state, &session, e.status(), Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct Account {
    chrome: Chrome,
    totp: bool,
    keys: Vec<String>,
    backup_left: i64,
}

/// `GET /account`: the user's factors.
pub async fn account(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    let id = u.user.user_id;
    let totp = state
        .store
        .get_totp_credential(id)
        .await?
        .is_some_and(|c| c.confirmed_at.is_some());
    let keys = state
        .store
        .list_webauthn_credentials(id)
        .await?
        .into_iter()
        .map(|k| k.name)
        .collect();
    Ok(render(
        StatusCode::OK,
        &Account {
            chrome: Chrome::for_user(&state, &u.user, "account"),
            totp,
            keys,
            backup_left: state.store.count_unused_backup_codes(id).await?,
        },
    ))
}

/// `POST /mfa/backup-codes`: a new set of backup codes (the old ones stop working), shown once.
pub async fn new_backup_codes(
    State(state): State<AppState>,
    super::context::WebForm { user, .. }: super::context::WebForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let Json(v) =
        api::regenerate_backup_codes(State(state.clone()), user.principal.clone()).await?;
    let page = Codes {
        chrome: Chrome::for_user(&state, &user.user, "account"),
        heading: "New backup codes",
        codes: v.backup_codes,
        next: "/account".into(),
    };
    Ok(render(StatusCode::OK, &page))
}
