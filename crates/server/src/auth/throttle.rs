//! Login throttling over the database budgets of `auth_throttle`, so that limits hold on every
//! replica and under any number of parallel requests:
//!
//! - per account: after [`MAX_FAILURES`] failed passwords for one email within [`WINDOW`],
//!   that email is refused for [`LOCK_FOR`] (unknown emails are counted exactly like known
//!   ones, so the lockout says nothing about whether an account exists); a successful login
//!   forgives the account's failures;
//! - per client address (IPv6: per /64): after `RGW_LOGIN_IP_MAX_FAILURES` (default 20)
//!   failures from one address within [`WINDOW`], that address is refused for [`LOCK_FOR`]
//!   whatever the email, so spraying many accounts from one place is capped too. A success
//!   does not forgive the address's failures (one good account must not reset it).
//!
//! A [`LoginAttempt`] is reserved on both budgets *before* the password is hashed: a reserved
//! attempt counts as a failure until it is settled, so no more than the limit of guesses is
//! ever checked, however many requests race. Exactly one settlement crosses a limit, and only
//! it writes the `login.lockout` audit event.

use std::net::IpAddr;

use rgw_store::{ThrottlePolicy, ThrottleState};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::auth::audit_event;
use crate::auth::extract::RequestMeta;
use crate::error::ApiError;

/// Failures that lock an email.
pub const MAX_FAILURES: i64 = 5;
/// Window in which failures are counted.
pub const WINDOW: Duration = Duration::minutes(15);
/// How long the temporary lockout lasts.
pub const LOCK_FOR: Duration = Duration::minutes(15);

/// The per-account password-login policy.
pub const PASSWORD_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: MAX_FAILURES,
    window: WINDOW,
    lock_for: LOCK_FOR,
};

/// The per-address policy for `max_failures` failures (from `RGW_LOGIN_IP_MAX_FAILURES`).
pub fn address_policy(max_failures: i64) -> ThrottlePolicy {
    ThrottlePolicy {
        max_failures,
        window: WINDOW,
        lock_for: LOCK_FOR,
    }
}

/// The throttle key of password logins for `email` (already lower-cased).
pub fn password_key(email: &str) -> String {
    format!("password:{email}")
}

/// The throttle key of password logins from a client address: the IPv4 address, or the /64
/// of an IPv6 address (one subscriber usually holds a whole /64). `None` for an unparseable
/// address.
pub fn address_key(ip: &str) -> Option<String> {
    let key = match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    };
    Some(format!("password-ip:{key}"))
}

/// Which budget a lockout or refusal concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Account,
    Address,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
        }
    }
}

/// A login attempt reserved on the account's and the address's budgets. Settle it with
/// [`LoginAttempt::failed`], [`LoginAttempt::succeeded`] or [`LoginAttempt::refused`]. One that
/// is dropped unsettled (an error on the way, or the client hanging up while its password was
/// being checked) is settled as a failure by a background task, so a cancelled request cannot
/// buy an uncounted guess.
#[must_use = "a reserved login attempt must be settled"]
pub struct LoginAttempt {
    state: AppState,
    email: String,
    account: String,
    address: Option<(String, ThrottlePolicy)>,
    meta: RequestMeta,
    settled: bool,
}

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("account", &self.account)
            .field("address", &self.address.as_ref().map(|(k, _)| k))
            .finish_non_exhaustive()
    }
}

/// Why a reservation was refused: the error to answer with and the audited reason.
#[derive(Debug)]
pub struct Refused {
    pub error: ApiError,
    pub reason: &'static str,
}

/// Reserves one password check for `email` (lower-cased) from the request's address.
pub async fn reserve(
    state: &AppState,
    email: &str,
    meta: &RequestMeta,
) -> Result<LoginAttempt, Refused> {
    let now = state.clock.now();
    let internal = |e: rgw_store::StoreError| Refused {
        error: e.into(),
        reason: "internal_error",
    };
    let max_per_address = state.config.login_ip_max_failures;
    let address = meta
        .ip
        .as_deref()
        .and_then(address_key)
        .filter(|_| max_per_address > 0)
        .map(|k| (k, address_policy(max_per_address)));
    // The account first: its budget is the small one, so a burst against one account never
    // holds more than a handful of the address's budget while it is refused.
    let account = password_key(email);
    let granted = state
        .store
        .reserve_throttle_attempt(&account, PASSWORD_POLICY, now)
        .await
        .map_err(internal)?;
    if granted.is_none() {
        let until = state
            .store
            .throttle_locked_until(&account, now)
            .await
            .map_err(internal)?;
        return Err(Refused {
            error: locked_error(Scope::Account, until, now),
            reason: "temporarily_locked",
        });
    }
    if let Some((key, policy)) = &address {
        let granted = match state
            .store
            .reserve_throttle_attempt(key, *policy, now)
            .await
        {
            Ok(g) => g,
            Err(e) => {
                release(state, &account).await;
                return Err(internal(e));
            }
        };
        if granted.is_none() {
            release(state, &account).await;
            let until = state
                .store
                .throttle_locked_until(key, now)
                .await
                .map_err(internal)?;
            return Err(Refused {
                error: locked_error(Scope::Address, until, now),
                reason: "address_rate_limited",
            });
        }
    }
    Ok(LoginAttempt {
        state: state.clone(),
        email: email.to_owned(),
        account,
        address,
        meta: meta.clone(),
        settled: false,
    })
}

async fn release(state: &AppState, key: &str) {
    if let Err(e) = state.store.release_throttle_attempt(key).await {
        tracing::warn!(error = %e, "returning a login reservation failed");
    }
}

impl LoginAttempt {
    /// The password was wrong (or the email unknown): counts the failure on both budgets and
    /// returns the error to answer with (the lockout once this failure reached a limit).
    pub async fn failed(mut self) -> Result<ApiError, ApiError> {
        self.settled = true;
        let locked = settle_failure(
            &self.state,
            &self.email,
            &self.account,
            self.address.as_ref(),
            &self.meta,
        )
        .await?;
        let now = self.state.clock.now();
        Ok(match locked {
            Some((scope, until)) => locked_error(scope, Some(until), now),
            None => crate::auth::local::invalid_login(),
        })
    }

    /// The login succeeded: the account's failures are forgiven; the address keeps its count.
    pub async fn succeeded(mut self) -> Result<(), ApiError> {
        self.settled = true;
        self.state
            .store
            .settle_throttle_success(&self.account, true)
            .await?;
        if let Some((key, _)) = &self.address {
            self.state.store.settle_throttle_success(key, false).await?;
        }
        Ok(())
    }

    /// The password was right but the account may not log in (suspended, locked, a service
    /// user): not a failed guess, not a success either; the reservation is returned.
    pub async fn refused(mut self) -> Result<(), ApiError> {
        self.settled = true;
        self.state
            .store
            .release_throttle_attempt(&self.account)
            .await?;
        if let Some((key, _)) = &self.address {
            self.state.store.release_throttle_attempt(key).await?;
        }
        Ok(())
    }
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (state, email, account, address, meta) = (
            self.state.clone(),
            std::mem::take(&mut self.email),
            std::mem::take(&mut self.account),
            self.address.take(),
            self.meta.clone(),
        );
        runtime.spawn(async move {
            if let Err(e) = settle_failure(&state, &email, &account, address.as_ref(), &meta).await
            {
                tracing::warn!(error = %e, "settling an interrupted login attempt failed");
            }
        });
    }
}

/// Counts a failure on the account's and the address's budgets; audits a lockout when this
/// failure crossed a limit and returns the first lock it caused.
async fn settle_failure(
    state: &AppState,
    email: &str,
    account: &str,
    address: Option<&(String, ThrottlePolicy)>,
    meta: &RequestMeta,
) -> Result<Option<(Scope, OffsetDateTime)>, ApiError> {
    let now = state.clock.now();
    let mut locked = None;
    let account_state = state
        .store
        .settle_throttle_failure(account, PASSWORD_POLICY, now)
        .await?;
    if let Some(until) = crossed(account_state.as_ref(), PASSWORD_POLICY) {
        audit_lockout(state, email, Scope::Account, PASSWORD_POLICY, meta).await;
        locked = Some((Scope::Account, until));
    }
    if let Some((key, policy)) = address {
        let address_state = state
            .store
            .settle_throttle_failure(key, *policy, now)
            .await?;
        if let Some(until) = crossed(address_state.as_ref(), *policy) {
            audit_lockout(state, email, Scope::Address, *policy, meta).await;
            locked = locked.or(Some((Scope::Address, until)));
        }
    }
    // Counters of unknown emails would otherwise accumulate; sweep stale ones.
    state.store.purge_throttle(now - WINDOW, now).await?;
    Ok(locked)
}

/// The lock end when this settlement is the one that reached the limit.
fn crossed(s: Option<&ThrottleState>, policy: ThrottlePolicy) -> Option<OffsetDateTime> {
    let s = s?;
    if s.failures == policy.max_failures {
        s.locked_until
    } else {
        None
    }
}

async fn audit_lockout(
    state: &AppState,
    email: &str,
    scope: Scope,
    policy: ThrottlePolicy,
    meta: &RequestMeta,
) {
    let event = AuditEvent::new(
        state.clock.now(),
        Actor::Anonymous {
            claimed: Some(email.to_owned()),
        },
        "login.lockout",
        Outcome::Success,
    )
    .details(json!({
        "scope": scope.as_str(),
        "failures": policy.max_failures,
        "window_minutes": policy.window.whole_minutes(),
        "lock_minutes": policy.lock_for.whole_minutes(),
    }));
    audit_event(state, meta.apply(event)).await;
}

/// Clears the account's counter (an admin unlock).
pub async fn clear(state: &AppState, key: &str) -> Result<(), ApiError> {
    state.store.clear_throttle(key).await?;
    Ok(())
}

/// The error for a refused attempt: 429 `login_locked` for an account, 429
/// `login_rate_limited` for an address. `until` is the lock end, when a lock is running (the
/// budget can also be full of attempts still being checked).
fn locked_error(scope: Scope, until: Option<OffsetDateTime>, now: OffsetDateTime) -> ApiError {
    let wait = match until {
        Some(until) => {
            let minutes = ((until - now).whole_seconds() + 59) / 60;
            format!("try again in {minutes} minute(s)")
        }
        None => "try again in a minute".to_owned(),
    };
    match scope {
        Scope::Account => ApiError::TooManyRequests {
            code: "login_locked",
            message: format!(
                "too many failed logins for this account; {wait} or ask an admin to run `rack-gateway-server users unlock`"
            ),
        },
        Scope::Address => ApiError::TooManyRequests {
            code: "login_rate_limited",
            message: format!("too many failed logins from your address; {wait}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_per_ipv4_address_and_per_ipv6_64() {
        assert_eq!(
            address_key("192.0.2.7").as_deref(),
            Some("password-ip:192.0.2.7")
        );
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::9"),
            "one /64 is one budget"
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(
            address_key("::ffff:192.0.2.7").as_deref(),
            Some("password-ip:192.0.2.7")
        );
        assert_eq!(address_key("not an address"), None);
    }
}
