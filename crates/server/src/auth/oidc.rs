//! OpenID Connect login (authorization code + PKCE + nonce) against any standard issuer, for
//! the web (`GET /auth/oidc/start` → issuer → `/auth/oidc/callback` → session cookie) and for
//! the CLI browser flow (`POST /auth/cli/start` gives a login URL for one flow; the callback
//! completes that flow; `POST /auth/cli/complete` hands the CLI its session once).
//!
//! - Discovery is fetched on first use and cached per process. The signing keys (JWKS) are
//!   refetched when an ID token names a key we do not have (the provider rotated its keys),
//!   at most once per [`JWKS_REFETCH_INTERVAL`], so a storm of unknown key ids cannot turn
//!   the gateway into a load generator against the provider.
//! - ID tokens are verified by `openidconnect`: RS256 only (HS256 and `none` refused),
//!   issuer, audience = our client id, expiry, and the nonce stored with the flow.
//! - The email must be present and `email_verified` must be `true` (a missing claim is a
//!   refusal). A user is bound to the provider's `(iss, sub)` at the first login and found by
//!   it afterwards; an email match alone never logs into a user bound to another subject.
//! - The PKCE verifier is not stored: it is derived as HMAC(keys.at_rest, "pkce|" + flow id), so
//!   a database dump alone cannot complete a flow.
//! - The flow is bound to the browser that started it by a short-lived cookie holding the
//!   `state`, so a victim cannot be logged into an attacker's account (login CSRF).
//! - Users must already exist unless `RGW_OIDC_AUTO_CREATE_ROLE` names a role; only verified
//!   emails in `RGW_OIDC_ALLOWED_DOMAINS` (when set) are accepted.
//!
//! The HTTP client is reqwest with redirects disabled (as the openidconnect docs advise, to
//! avoid SSRF through redirects) wrapped in the closure form openidconnect accepts.

use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, JsonWebKeySetUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use rgw_core::Email;
use rgw_store::{LoginFlow, NewLoginFlow};
use secrecy::ExposeSecret;
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use url::Url;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::extract::RequestMeta;
use crate::config::OidcConfig;
use crate::error::ApiError;

/// How long a login flow may take from start to completion (and collection by the CLI).
pub const FLOW_TTL: Duration = Duration::minutes(10);
/// The cookie that binds a flow to the browser that started it.
pub const STATE_COOKIE: &str = "rgw_oidc_state";
/// Path of the callback under the public URL.
pub const CALLBACK_PATH: &str = "/api/v1/auth/oidc/callback";
/// The least time between two refetches of the provider's signing keys.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::seconds(60);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A discovered provider and the configured client.
pub(crate) struct Provider {
    client: Client,
    http: reqwest::Client,
    issuer: IssuerUrl,
    jwks_uri: JsonWebKeySetUrl,
    /// The signing keys in use (from discovery, replaced by each refetch).
    keys: std::sync::RwLock<CoreJsonWebKeySet>,
    /// When the keys were last refetched; held while refetching, so concurrent logins that
    /// meet the same unknown key wait for one fetch instead of each making one.
    refetched_at: tokio::sync::Mutex<Option<OffsetDateTime>>,
}

impl Provider {
    fn keys(&self) -> CoreJsonWebKeySet {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Refetches the signing keys unless that was done less than [`JWKS_REFETCH_INTERVAL`]
    /// ago (then the keys that fetch brought are used). A failed fetch keeps the old keys and
    /// counts as a fetch for the rate limit.
    async fn refetch_keys(&self, now: OffsetDateTime) {
        let mut last = self.refetched_at.lock().await;
        if last.is_some_and(|t| now - t < JWKS_REFETCH_INTERVAL && now >= t) {
            return;
        }
        *last = Some(now);
        let http = self.http.clone();
        let client_fn = move |req| call(http.clone(), req);
        match JsonWebKeySet::fetch_async(&self.jwks_uri, &client_fn).await {
            Ok(keys) => {
                tracing::info!(
                    keys = keys.keys().len(),
                    "refetched the OpenID provider's signing keys (an ID token named an unknown key)"
                );
                *self
                    .keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
            }
            Err(e) => {
                tracing::warn!(error = %e, "refetching the OpenID provider's signing keys failed")
            }
        }
    }
}

/// An HTTP failure talking to the issuer.
#[derive(Debug, thiserror::Error)]
#[error("request to the OpenID provider failed: {0}")]
pub struct HttpError(String);

async fn call(
    http: reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let req = reqwest::Request::try_from(req.map(reqwest::Body::from))
        .map_err(|e| HttpError(e.to_string()))?;
    let resp = http
        .execute(req)
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let mut out = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let body = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    out.body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

fn config(state: &AppState) -> Result<&OidcConfig, ApiError> {
    state.config.oidc.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "oidc_not_configured",
            "single sign-on is not configured on this gateway (RGW_OIDC_ISSUER); use email and password",
        )
    })
}

/// The discovered provider (cached after the first success).
pub(crate) async fn provider(state: &AppState) -> Result<&Provider, ApiError> {
    let cfg = config(state)?;
    state
        .auth
        .oidc
        .get_or_try_init(|| async {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(StdDuration::from_secs(10))
                .build()
                .map_err(|e| anyhow::anyhow!("building the OIDC HTTP client: {e}"))?;
            let issuer = IssuerUrl::new(cfg.issuer.as_str().trim_end_matches('/').to_owned())
                .map_err(|e| anyhow::anyhow!("RGW_OIDC_ISSUER: {e}"))?;
            let client_fn = |req| call(http.clone(), req);
            let metadata = CoreProviderMetadata::discover_async(issuer, &client_fn)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "OpenID provider discovery failed");
                    ApiError::Unavailable {
                        code: "oidc_unavailable",
                        message: "the single sign-on provider cannot be reached; try again shortly"
                            .into(),
                    }
                })?;
            let redirect = state
                .config
                .public_url
                .join(CALLBACK_PATH)
                .map_err(|e| anyhow::anyhow!("RGW_PUBLIC_URL: {e}"))?;
            let issuer = metadata.issuer().clone();
            let jwks_uri = metadata.jwks_uri().clone();
            let keys = metadata.jwks().clone();
            let client = CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(cfg.client_id.clone()),
                Some(ClientSecret::new(
                    cfg.client_secret.expose_secret().to_owned(),
                )),
            )
            .set_redirect_uri(RedirectUrl::from_url(redirect));
            Ok::<_, ApiError>(Provider {
                client,
                http,
                issuer,
                jwks_uri,
                keys: std::sync::RwLock::new(keys),
                refetched_at: tokio::sync::Mutex::new(None),
            })
        })
        .await
}

fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::fill(bytes.as_mut_slice());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE verifier of a flow (43 base64url characters).
fn pkce_verifier(state: &AppState, flow_id: Uuid) -> PkceCodeVerifier {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(state.keys.at_rest.expose())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"pkce|");
    mac.update(flow_id.as_bytes());
    PkceCodeVerifier::new(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// Creates a login flow (`web` with a return path, or `cli` with the CLI's code challenge).
pub async fn create_flow(
    state: &AppState,
    kind: &str,
    redirect_to: Option<String>,
    cli_code_challenge: Option<String>,
    meta: &RequestMeta,
) -> Result<LoginFlow, ApiError> {
    let now = state.clock.now();
    // Starts are unauthenticated, so old rows are swept here rather than left to grow.
    state
        .store
        .purge_login_flows(now - Duration::hours(1))
        .await?;
    Ok(state
        .store
        .create_login_flow(
            &NewLoginFlow {
                public_id: Uuid::now_v7(),
                state: random_b64(32),
                kind: kind.to_owned(),
                nonce: random_b64(32),
                redirect_to,
                cli_code_challenge,
                client_ip: meta.ip.clone(),
                client_user_agent: meta.user_agent.clone(),
                expires_at: now + FLOW_TTL,
            },
            now,
        )
        .await?)
}

/// The issuer's authorization URL for `flow`.
pub async fn authorize_url(state: &AppState, flow: &LoginFlow) -> Result<Url, ApiError> {
    let provider = provider(state).await?;
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&pkce_verifier(state, flow.public_id));
    let csrf = flow.state.clone();
    let nonce = flow.nonce.clone();
    let (url, _, _) = provider
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(csrf),
            move || Nonce::new(nonce),
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok(url)
}

/// What a verified ID token says about the user.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub email: Email,
    pub name: String,
    /// The issuer (`iss`) that vouches for the subject.
    pub issuer: String,
    /// The issuer's stable identifier for the user (`sub`).
    pub subject: String,
}

fn token_error(e: &ClaimsVerificationError) -> ApiError {
    let code = match e {
        ClaimsVerificationError::InvalidAudience(_) => "oidc_wrong_audience",
        ClaimsVerificationError::InvalidNonce(_) => "oidc_wrong_nonce",
        ClaimsVerificationError::Expired(_) => "oidc_token_expired",
        ClaimsVerificationError::InvalidIssuer(_) => "oidc_wrong_issuer",
        ClaimsVerificationError::SignatureVerification(_) => "oidc_signature_invalid",
        _ => "oidc_token_invalid",
    };
    ApiError::unauthorized(
        code,
        format!("the identity provider's ID token was refused: {e}"),
    )
}

/// Exchanges the authorization code of `flow` and verifies the ID token; then checks the
/// email (present, verified, allowed domain).
pub async fn exchange(
    state: &AppState,
    flow: &LoginFlow,
    code: &str,
) -> Result<VerifiedIdentity, ApiError> {
    let cfg = config(state)?;
    let provider = provider(state).await?;
    let http = provider.http.clone();
    let client_fn = move |req| call(http.clone(), req);
    let response = provider
        .client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| anyhow::anyhow!("OIDC client configuration: {e}"))?
        .set_pkce_verifier(pkce_verifier(state, flow.public_id))
        .request_async(&client_fn)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "OIDC code exchange failed");
            ApiError::unauthorized(
                "oidc_exchange_failed",
                "the identity provider refused the login code; start again",
            )
        })?;
    let id_token = response.id_token().ok_or_else(|| {
        ApiError::unauthorized(
            "oidc_token_invalid",
            "the identity provider sent no ID token",
        )
    })?;
    let nonce = Nonce::new(flow.nonce.clone());
    let verify = |keys: CoreJsonWebKeySet| -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(cfg.client_id.clone()),
            ClientSecret::new(cfg.client_secret.expose_secret().to_owned()),
            provider.issuer.clone(),
            keys,
        )
        .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
        id_token.claims(&verifier, &nonce).cloned()
    };
    let claims = match verify(provider.keys()) {
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            // The provider may have rotated its keys since we fetched them.
            provider.refetch_keys(state.clock.now()).await;
            verify(provider.keys())
        }
        other => other,
    }
    .map_err(|e| token_error(&e))?;
    let raw_email = claims
        .email()
        .map(|e| e.as_str().to_owned())
        .ok_or_else(|| {
            ApiError::forbidden(
                "oidc_email_missing",
                "the identity provider did not share an email address",
            )
        })?;
    if claims.email_verified() != Some(true) {
        return Err(ApiError::forbidden(
            "oidc_email_unverified",
            "the identity provider does not vouch that this email address is verified \
             (email_verified is not true)",
        ));
    }
    let email = Email::parse(&raw_email)
        .map_err(|e| ApiError::forbidden("oidc_email_invalid", e.to_string()))?;
    if !cfg.allowed_domains.is_empty() && !cfg.allowed_domains.iter().any(|d| d == email.domain()) {
        return Err(ApiError::forbidden(
            "oidc_domain_not_allowed",
            format!(
                "accounts of {} may not sign in to this gateway",
                email.domain()
            ),
        ));
    }
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    Ok(VerifiedIdentity {
        email,
        name,
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
    })
}

/// The base64url SHA-256 of a PKCE verifier (S256), for the CLI flow binding.
pub fn s256(verifier: &str) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks the shape of a PKCE code challenge or verifier: 43–128 unreserved characters.
pub fn valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Accepts only a local absolute path as a post-login destination (no open redirects).
pub fn safe_return_to(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && !raw.chars().any(|c| c.is_control())
        && raw.len() <= 1024;
    ok.then(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_accepted_as_return_targets() {
        assert_eq!(
            safe_return_to(Some("/approvals/1")).as_deref(),
            Some("/approvals/1")
        );
        for bad in [
            "//evil.example",
            "https://evil.example/",
            "/\\evil",
            "relative",
        ] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn pkce_strings_follow_rfc_7636() {
        assert!(valid_pkce_string(&"a".repeat(43)));
        assert!(!valid_pkce_string(&"a".repeat(42)));
        assert!(!valid_pkce_string(&format!("{}!", "a".repeat(43))));
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
