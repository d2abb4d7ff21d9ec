//! Changes to who may do what — settings and user accounts — are made by a person who
//! verified MFA moments ago, never by an API token. A leaked admin token must not be able to
//! switch approvals off, or create an admin account, enrol MFA on it and approve its own
//! deploys: "API tokens can never approve" has to hold for the accounts they could mint too.

use rgw_core::rbac::{Permission, step_up_is_fresh};

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// The acting user's id when `principal` is a user session holding `permission` whose MFA was
/// verified within the step-up window. `what` names the change for the errors ("changing
/// settings"); `token_code` is the error code that refuses API tokens.
pub async fn fresh_human(
    state: &AppState,
    principal: &Principal,
    permission: &Permission,
    token_code: &'static str,
    what: &str,
) -> Result<i64, ApiError> {
    let Principal::User(u) = principal else {
        return Err(ApiError::forbidden(
            token_code,
            format!(
                "{what} is done by an admin from a login session with MFA; API tokens never can"
            ),
        ));
    };
    principal.require(permission)?;
    let window = crate::settings::int_setting(state, "mfa_step_up_window_minutes", None).await?;
    if !step_up_is_fresh(u.mfa_verified_at, state.clock.now(), window) {
        return Err(ApiError::unauthorized(
            "mfa_step_up_required",
            format!(
                "{what} needs MFA verified within the last {window} minutes; verify again (POST /api/v1/mfa/verify) and retry"
            ),
        ));
    }
    Ok(u.user_id)
}
