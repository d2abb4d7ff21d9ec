//! Who an OpenID Connect login is: the user bound to the issuer's `(iss, sub)`, bound at the
//! first login of an existing (or auto-created) user, refused when the same email arrives with
//! another subject.

use rgw_store::{NewUser, StoreError, User};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::{RequestMeta, audit_event, oidc};
use crate::error::ApiError;

fn identity_mismatch(email: &str) -> ApiError {
    ApiError::forbidden(
        "oidc_identity_mismatch",
        format!(
            "{email} is linked to a different single sign-on identity; if the account really \
             moved, an admin can run `rack-gateway-server users unlink-sso --email {email}`"
        ),
    )
}

/// Binds `user` to the identity's `(iss, sub)` (its first single sign-on) and audits it.
async fn bind(
    state: &AppState,
    user: User,
    id: &oidc::VerifiedIdentity,
    meta: &RequestMeta,
) -> Result<User, ApiError> {
    let now = state.clock.now();
    match state
        .store
        .bind_user_oidc_subject(user.id, &id.issuer, &id.subject, now)
        .await
    {
        Ok(true) => {}
        // Someone bound it meanwhile (a parallel first login): fine only if to this identity.
        Ok(false) => {
            let fresh = state.store.get_user(user.id).await?;
            if fresh.oidc_issuer.as_deref() != Some(id.issuer.as_str())
                || fresh.oidc_subject.as_deref() != Some(id.subject.as_str())
            {
                return Err(identity_mismatch(&user.email));
            }
            return Ok(fresh);
        }
        // The subject belongs to another (possibly deleted) user.
        Err(StoreError::Conflict { .. }) => return Err(identity_mismatch(&user.email)),
        Err(e) => return Err(e.into()),
    }
    let event = AuditEvent::new(now, Actor::System, "user.oidc_bind", Outcome::Success)
        .resource(user.public_id.to_string())
        .details(json!({ "email": user.email, "issuer": id.issuer, "subject": id.subject }));
    audit_event(state, meta.apply(event)).await;
    Ok(state.store.get_user(user.id).await?)
}

/// Finds the user for a verified identity: the user bound to its `(iss, sub)`; else the user
/// with its email, if not bound to another identity (and then binds it); else a new user when
/// auto-creation is configured.
pub(super) async fn resolve_user(
    state: &AppState,
    id: &oidc::VerifiedIdentity,
    meta: &RequestMeta,
) -> Result<User, ApiError> {
    match state
        .store
        .get_user_by_oidc_subject(&id.issuer, &id.subject)
        .await
    {
        Ok(u) => return Ok(u),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    match state.store.get_user_by_email(id.email.as_str()).await {
        Ok(u) if u.oidc_subject.is_some() || u.oidc_issuer.is_some() => {
            return Err(identity_mismatch(&u.email));
        }
        Ok(u) => return bind(state, u, id, meta).await,
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(role) = state
        .config
        .oidc
        .as_ref()
        .and_then(|c| c.auto_create_role.clone())
    else {
        return Err(ApiError::forbidden(
            "user_not_invited",
            format!(
                "{} has no account on this gateway; ask an admin to add you",
                id.email
            ),
        ));
    };
    let now = state.clock.now();
    let user = state
        .store
        .create_user(
            &NewUser {
                email: id.email.to_string(),
                name: id.name.clone(),
                role: role.clone(),
                password_hash: None,
                is_service: false,
                mfa_enforced: true,
            },
            now,
        )
        .await?;
    let event = AuditEvent::new(now, Actor::System, "user.create", Outcome::Success)
        .resource(user.public_id.to_string())
        .details(json!({ "email": user.email, "role": role, "source": "oidc_auto_create" }));
    audit_event(state, meta.apply(event)).await;
    bind(state, user, id, meta).await
}
