//! MFA bound to one action on one object, e.g. approving deploy approval request R at commit C.
//!
//! A proof is checked at the moment of the action and is consumed by it:
//! - an inline TOTP code consumes its time step (so the code that logged the session in, or
//!   approved another request in the same 30 s, is refused as a replay);
//! - an inline backup code is consumed;
//! - a WebAuthn assertion must answer a ceremony started with [`start_bound_assertion`] for
//!   exactly this binding. The binding (action, object id, commit) is stored with the ceremony
//!   next to the random challenge webauthn-rs issued, and the ceremony is single use. So the
//!   challenge an authenticator signs identifies one binding: an assertion made for request A,
//!   for a login, or for an earlier approval is refused for request B (`mfa_binding_mismatch`
//!   or `webauthn_ceremony_invalid`). We store the binding rather than derive the challenge
//!   from it because webauthn-rs generates challenges itself; the effect is the same, since
//!   the challenge is only ever accepted together with its stored binding.
//!
//! Only humans with a session can produce a proof: the functions take a [`UserPrincipal`],
//! and [`human`] turns any other principal into 403 `mfa_requires_user_session`.

use rgw_core::mfa::{ActionBinding, BackupCode, MfaMethod, TotpCode};
use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use super::attempts::Purpose;
use super::{MfaUser, backup_codes, totp, webauthn};
use crate::app::AppState;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::principal::{Principal, UserPrincipal};
use crate::error::ApiError;

/// A proof of MFA supplied with an action.
#[derive(Debug, Clone)]
pub enum MfaProof {
    /// A TOTP code entered now.
    Totp(TotpCode),
    /// A backup code entered now.
    BackupCode(BackupCode),
    /// A WebAuthn assertion answering a bound ceremony.
    WebAuthn {
        ceremony_id: Uuid,
        assertion: Box<PublicKeyCredential>,
    },
}

/// Parses the shared wire form of a proof ([`rgw_core::wire::MfaProof`]); 400
/// `invalid_mfa_code` when malformed (the input is never echoed).
pub fn parse_proof(body: rgw_core::wire::MfaProof) -> Result<MfaProof, ApiError> {
    use rgw_core::wire::MfaProof as Wire;
    let bad =
        |e: rgw_core::mfa::CodeParseError| ApiError::bad_request("invalid_mfa_code", e.to_string());
    Ok(match body {
        Wire::Totp(c) => MfaProof::Totp(TotpCode::parse(&c).map_err(bad)?),
        Wire::BackupCode(c) => MfaProof::BackupCode(BackupCode::parse(&c).map_err(bad)?),
        Wire::Webauthn(w) => MfaProof::WebAuthn {
            ceremony_id: w.ceremony_id,
            assertion: Box::new(serde_json::from_value(w.assertion).map_err(|e| {
                ApiError::bad_request(
                    "invalid_webauthn_assertion",
                    format!("the WebAuthn assertion is not a PublicKeyCredential: {e}"),
                )
            })?),
        },
    })
}

impl From<&UserPrincipal> for MfaUser {
    fn from(u: &UserPrincipal) -> Self {
        MfaUser {
            user_id: u.user_id,
            public_id: u.public_id,
            email: u.email.clone(),
        }
    }
}

/// The human behind `principal`, or 403 `mfa_requires_user_session` for an API token.
pub fn human(principal: &Principal) -> Result<&UserPrincipal, ApiError> {
    match principal {
        Principal::User(u) => Ok(u),
        Principal::Token(_) => Err(ApiError::forbidden(
            "mfa_requires_user_session",
            "MFA can only be proven by a logged-in user; API tokens can never satisfy it",
        )),
    }
}

/// Starts a WebAuthn assertion bound to `binding`.
pub async fn start_bound_assertion(
    state: &AppState,
    user: &UserPrincipal,
    binding: &ActionBinding,
) -> Result<(Uuid, RequestChallengeResponse), ApiError> {
    webauthn::start_assertion(state, &MfaUser::from(user), Some(binding)).await
}

/// Verifies `proof` for `binding`, now. Returns the method used (recorded with the approval).
pub async fn verify_for_action(
    state: &AppState,
    user: &UserPrincipal,
    binding: &ActionBinding,
    proof: &MfaProof,
) -> Result<MfaMethod, ApiError> {
    let who = MfaUser::from(user);
    let result = verify_inner(state, &who, binding, proof).await;
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Denied
    };
    let mut event = AuditEvent::new(
        state.clock.now(),
        who.actor(),
        "mfa.verify_for_action",
        outcome,
    )
    .resource(format!("{}:{}", binding.action, binding.object_id))
    .details(json!({
        "method": proof.method().as_str(),
        "action": binding.action,
        "object_id": binding.object_id,
        "commit": binding.commit,
        "digest": binding.digest,
        "error": result.as_ref().err().map(ApiError::code),
    }));
    if binding.action == ActionBinding::APPROVE_DEPLOY {
        event.deploy_approval_request_id = Some(binding.object_id);
    }
    super::audit(state, event).await;
    result
}

impl MfaProof {
    /// The method this proof uses.
    pub fn method(&self) -> MfaMethod {
        match self {
            MfaProof::Totp(_) => MfaMethod::Totp,
            MfaProof::BackupCode(_) => MfaMethod::BackupCode,
            MfaProof::WebAuthn { .. } => MfaMethod::WebAuthn,
        }
    }
}

async fn verify_inner(
    state: &AppState,
    who: &MfaUser,
    binding: &ActionBinding,
    proof: &MfaProof,
) -> Result<MfaMethod, ApiError> {
    match proof {
        MfaProof::Totp(code) => {
            totp::verify(state, who, code, Purpose::Action).await?;
            Ok(MfaMethod::Totp)
        }
        MfaProof::BackupCode(code) => {
            backup_codes::verify(state, who, code, Purpose::Action).await?;
            Ok(MfaMethod::BackupCode)
        }
        MfaProof::WebAuthn {
            ceremony_id,
            assertion,
        } => {
            webauthn::finish_assertion(
                state,
                who,
                *ceremony_id,
                assertion,
                Some(binding),
                Purpose::Action,
            )
            .await?;
            Ok(MfaMethod::WebAuthn)
        }
    }
}
