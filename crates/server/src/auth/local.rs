//! Local (password) login: an attempt is reserved on the account's and the address's budgets
//! (`throttle`) before anything else, then one argon2 verification runs whatever the account
//! state (unknown emails verify against a dummy hash), then the account-state checks. Every
//! outcome is audited; the password itself never leaves this function.

use rgw_store::{StoreError, User};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::extract::RequestMeta;
use crate::auth::{audit_event, password, throttle};
use crate::error::ApiError;

/// The error for a wrong email or password (identical for unknown accounts).
pub fn invalid_login() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "the email or password is wrong")
}

/// Checks an email and password; returns the user when they may log in.
pub async fn password_login(
    state: &AppState,
    email: &str,
    password: &SecretString,
    meta: &RequestMeta,
) -> Result<User, ApiError> {
    let email = email.trim().to_lowercase();
    // No address is longer; refusing early keeps oversized input out of keys and audit rows.
    if email.len() > 254 || password.expose_secret().len() > password::MAX_PASSWORD_LEN {
        return Err(invalid_login());
    }
    let fail = |reason: &str| {
        meta.apply(
            AuditEvent::new(
                state.clock.now(),
                Actor::Anonymous {
                    claimed: Some(email.clone()),
                },
                "login.password",
                Outcome::Failed,
            )
            .details(json!({ "reason": reason })),
        )
    };
    let attempt = match throttle::reserve(state, &email, meta).await {
        Ok(a) => a,
        Err(refused) => {
            audit_event(state, fail(refused.reason)).await;
            return Err(refused.error);
        }
    };
    let user = match state.store.get_user_by_email(&email).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let verified = password::verify(state, stored, password).await;
    let Some(user) = user.filter(|_| verified) else {
        let answer = attempt.failed().await?;
        audit_event(state, fail("wrong_email_or_password")).await;
        return Err(answer);
    };
    if let Some(refusal) = account_refusal(&user) {
        attempt.refused().await?;
        audit_event(state, fail(refusal.code())).await;
        return Err(refusal);
    }
    attempt.succeeded().await?;
    Ok(user)
}

/// Why an account may not obtain a new session, if it may not.
pub fn account_refusal(user: &User) -> Option<ApiError> {
    if user.deleted_at.is_some() {
        return Some(invalid_login());
    }
    if user.suspended_at.is_some() {
        return Some(ApiError::forbidden(
            "account_suspended",
            "this account is suspended; ask an admin to reinstate it",
        ));
    }
    if user.locked_at.is_some() {
        return Some(ApiError::forbidden(
            "account_locked",
            "this account is locked; ask an admin to run `rack-gateway-server users unlock`",
        ));
    }
    if user.is_service {
        return Some(ApiError::forbidden(
            "service_account_login",
            "service accounts own API tokens and cannot log in",
        ));
    }
    None
}
