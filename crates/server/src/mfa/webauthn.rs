//! WebAuthn security keys and passkeys (webauthn-rs): registration of several credentials per
//! user, removal, and assertions for session MFA or bound to one action.
//!
//! Ceremony state lives in `webauthn_ceremonies`, not in process memory, so a ceremony started
//! on one replica finishes on any other. Finishing takes the row atomically (`used_at` set
//! only if still unused and unexpired), so each challenge is answered at most once, and a
//! failed finish burns it too. The relying party id is the host of `RGW_PUBLIC_URL` and the
//! only accepted origin is that URL's origin.

use rgw_core::mfa::{ActionBinding, MfaMethod};
use rgw_store::{CeremonyKind, NewWebauthnCredential, WebauthnCredential};
use serde_json::json;
use time::Duration;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::attempts::{self, Purpose};
use super::{Failure, MfaUser, audit_user};
use crate::app::AppState;
use crate::audit::Outcome;
use crate::error::ApiError;

/// How long a started ceremony may be finished.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

/// The relying party for this gateway, from `RGW_PUBLIC_URL`.
pub fn relying_party(state: &AppState) -> Result<Webauthn, ApiError> {
    let url = &state.config.public_url;
    let unavailable = |why: &str| ApiError::Unavailable {
        code: "webauthn_unavailable",
        message: format!(
            "security keys need RGW_PUBLIC_URL to name the gateway by host name ({why}); \
             for local use set it to http://localhost:PORT"
        ),
    };
    let Some(rp_id) = url.domain() else {
        return Err(unavailable("it is an IP address"));
    };
    let origin = url::Url::parse(&url.origin().ascii_serialization())
        .map_err(|_| unavailable("it has no origin"))?;
    WebauthnBuilder::new(rp_id, &origin)
        .and_then(|b| b.rp_name("rack-gateway").build())
        .map_err(|e| unavailable(&e.to_string()))
}

fn internal(context: &'static str) -> impl FnOnce(serde_json::Error) -> ApiError {
    move |e| ApiError::Internal(anyhow::Error::new(e).context(context))
}

/// Deletes ceremonies that expired over an hour ago. Starting a ceremony is the only way rows
/// are added, so sweeping there keeps the table bounded without a background job (the hour
/// of slack keeps recent failures inspectable).
async fn sweep_expired_ceremonies(
    state: &AppState,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    state
        .store
        .purge_webauthn_ceremonies(now - time::Duration::hours(1))
        .await?;
    Ok(())
}

/// Starts registering a new credential. Returns the ceremony id and the options for
/// `navigator.credentials.create()`.
pub async fn start_registration(
    state: &AppState,
    user: &MfaUser,
) -> Result<(Uuid, CreationChallengeResponse), ApiError> {
    let rp = relying_party(state)?;
    let existing = state.store.list_webauthn_credentials(user.user_id).await?;
    let exclude = existing
        .iter()
        .map(|c| c.credential_id.clone())
        .collect::<Vec<_>>();
    let (options, reg) = rp
        .start_passkey_registration(user.public_id, &user.email, &user.email, Some(exclude))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("starting WebAuthn registration: {e}")))?;
    let id = Uuid::new_v4();
    let now = state.clock.now();
    sweep_expired_ceremonies(state, now).await?;
    let state_json =
        serde_json::to_value(&reg).map_err(internal("serialising registration state"))?;
    state
        .store
        .create_webauthn_ceremony(
            id,
            user.user_id,
            CeremonyKind::Register,
            &state_json,
            None,
            now,
            now + CEREMONY_TTL,
        )
        .await?;
    Ok((id, options))
}

/// Finishes a registration and stores the new credential under `name`.
pub async fn finish_registration(
    state: &AppState,
    user: &MfaUser,
    ceremony_id: Uuid,
    name: &str,
    credential: &RegisterPublicKeyCredential,
) -> Result<WebauthnCredential, ApiError> {
    let rp = relying_party(state)?;
    let now = state.clock.now();
    let Some(ceremony) = state
        .store
        .take_webauthn_ceremony(ceremony_id, user.user_id, CeremonyKind::Register, now)
        .await?
    else {
        audit_user(
            state,
            user,
            "mfa.webauthn.register",
            Outcome::Failed,
            json!({"method": "webauthn", "reason": "ceremony_invalid"}),
        )
        .await;
        return Err(Failure::CeremonyInvalid.into_api_error(MfaMethod::WebAuthn));
    };
    let reg: PasskeyRegistration =
        serde_json::from_value(ceremony.state.0).map_err(internal("reading registration state"))?;
    let passkey = match rp.finish_passkey_registration(credential, &reg) {
        Ok(p) => p,
        Err(e) => {
            audit_user(
                state,
                user,
                "mfa.webauthn.register",
                Outcome::Failed,
                json!({"method": "webauthn", "reason": "invalid", "error": e.to_string()}),
            )
            .await;
            return Err(ApiError::bad_request(
                "webauthn_registration_failed",
                format!("the security key registration did not verify: {e}"),
            ));
        }
    };
    let name = name.trim();
    let name = if name.is_empty() {
        "security key"
    } else {
        name
    };
    let new = NewWebauthnCredential {
        user_id: user.user_id,
        name: name.chars().take(100).collect(),
        credential_id: passkey.cred_id().clone(),
        passkey: serde_json::to_value(&passkey).map_err(internal("serialising the passkey"))?,
    };
    let stored = state
        .store
        .insert_webauthn_credential(&new, now)
        .await
        .map_err(|e| match e {
            rgw_store::StoreError::Conflict { .. } => ApiError::conflict(
                "webauthn_credential_exists",
                "this security key is already registered",
            ),
            other => other.into(),
        })?;
    audit_user(
        state,
        user,
        "mfa.webauthn.register",
        Outcome::Success,
        json!({"method": "webauthn", "credential": stored.public_id, "name": stored.name}),
    )
    .await;
    Ok(stored)
}

/// Removes one of the user's credentials.
pub async fn remove(state: &AppState, user: &MfaUser, credential: Uuid) -> Result<(), ApiError> {
    if !state
        .store
        .delete_webauthn_credential(user.user_id, credential)
        .await?
    {
        return Err(ApiError::not_found(
            "webauthn_credential_not_found",
            "no such security key on this account",
        ));
    }
    audit_user(
        state,
        user,
        "mfa.webauthn.remove",
        Outcome::Success,
        json!({"method": "webauthn", "credential": credential}),
    )
    .await;
    Ok(())
}

/// Starts an assertion over the user's credentials. `binding` is `None` for session MFA and the
/// action for approval-bound MFA; it is stored with the ceremony and checked on finish.
pub async fn start_assertion(
    state: &AppState,
    user: &MfaUser,
    binding: Option<&ActionBinding>,
) -> Result<(Uuid, RequestChallengeResponse), ApiError> {
    let rp = relying_party(state)?;
    let passkeys = load_passkeys(state, user).await?;
    if passkeys.is_empty() {
        return Err(Failure::NotEnrolled.into_api_error(MfaMethod::WebAuthn));
    }
    let keys: Vec<Passkey> = passkeys.into_iter().map(|(_, p)| p).collect();
    let (options, auth) = rp.start_passkey_authentication(&keys).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("starting WebAuthn authentication: {e}"))
    })?;
    let id = Uuid::new_v4();
    let now = state.clock.now();
    sweep_expired_ceremonies(state, now).await?;
    let state_json =
        serde_json::to_value(&auth).map_err(internal("serialising authentication state"))?;
    let binding_json = binding
        .map(serde_json::to_value)
        .transpose()
        .map_err(internal("serialising the binding"))?;
    state
        .store
        .create_webauthn_ceremony(
            id,
            user.user_id,
            CeremonyKind::Authenticate,
            &state_json,
            binding_json.as_ref(),
            now,
            now + CEREMONY_TTL,
        )
        .await?;
    Ok((id, options))
}

/// Finishes an assertion. `expected` must equal the binding the ceremony was started with
/// (`None` for session MFA): a session ceremony never satisfies an action and vice versa.
pub async fn finish_assertion(
    state: &AppState,
    user: &MfaUser,
    ceremony_id: Uuid,
    assertion: &PublicKeyCredential,
    expected: Option<&ActionBinding>,
    purpose: Purpose,
) -> Result<(), ApiError> {
    let method = MfaMethod::WebAuthn;
    let attempt = attempts::guard(state, user, method, purpose).await?;
    let rp = relying_party(state)?;
    let ceremony = state
        .store
        .take_webauthn_ceremony(
            ceremony_id,
            user.user_id,
            CeremonyKind::Authenticate,
            state.clock.now(),
        )
        .await?;
    let Some(ceremony) = ceremony else {
        return Err(attempts::failed(
            attempt,
            Failure::CeremonyInvalid,
            json!({"ceremony": ceremony_id}),
        )
        .await);
    };
    let bound: Option<ActionBinding> = ceremony
        .binding
        .map(|b| serde_json::from_value(b.0))
        .transpose()
        .map_err(internal("reading the ceremony binding"))?;
    if bound.as_ref() != expected {
        return Err(attempts::failed(
            attempt,
            Failure::BindingMismatch,
            json!({"ceremony": ceremony_id}),
        )
        .await);
    }
    let auth: PasskeyAuthentication = serde_json::from_value(ceremony.state.0)
        .map_err(internal("reading authentication state"))?;
    let result = match rp.finish_passkey_authentication(assertion, &auth) {
        Ok(r) => r,
        Err(e) => {
            return Err(attempts::failed(
                attempt,
                Failure::Invalid,
                json!({"ceremony": ceremony_id, "error": e.to_string()}),
            )
            .await);
        }
    };
    // The ceremony allowed the credentials the user had when it started; one removed since
    // then no longer counts.
    let current = load_passkeys(state, user).await?;
    let Some((row, mut passkey)) = current
        .into_iter()
        .find(|(_, p)| p.cred_id() == result.cred_id())
    else {
        return Err(attempts::failed(
            attempt,
            Failure::CredentialRemoved,
            json!({"ceremony": ceremony_id}),
        )
        .await);
    };
    passkey.update_credential(&result);
    let passkey_json =
        serde_json::to_value(&passkey).map_err(internal("serialising the passkey"))?;
    state
        .store
        .touch_webauthn_credential(row.id, &passkey_json, state.clock.now())
        .await?;
    attempts::succeeded(
        attempt,
        json!({"credential": row.public_id, "ceremony": ceremony_id}),
    )
    .await
}

async fn load_passkeys(
    state: &AppState,
    user: &MfaUser,
) -> Result<Vec<(WebauthnCredential, Passkey)>, ApiError> {
    let rows = state.store.list_webauthn_credentials(user.user_id).await?;
    rows.into_iter()
        .map(|row| {
            let passkey: Passkey = serde_json::from_value(row.passkey.0.clone())
                .map_err(internal("reading a stored passkey"))?;
            Ok((row, passkey))
        })
        .collect()
}
