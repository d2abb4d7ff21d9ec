//! A real OpenID provider inside the test process (axum on port 0): discovery document, JWKS
//! with an RSA key, an authorize endpoint that redirects back with a code, and a token
//! endpoint that checks PKCE and returns an RS256-signed ID token. What the next ID token
//! says (email, subject, `email_verified`, audience, nonce, expiry, algorithm, key id) is set
//! per test through [`Scenario`]; [`TestProvider::rotate_key`] switches to a second signing
//! key (the JWKS then lists only that one) and [`TestProvider::jwks_fetches`] counts JWKS
//! downloads. [`confirm_cli_login`] plays the browser on a CLI login's confirmation page.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreHmacKey, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "rack-gateway-test";
pub const CLIENT_SECRET: &str = "test-client-secret";
/// The signing keys, in rotation order, with their key ids.
const KEYS: [(&str, &str); 2] = [
    ("test-key", include_str!("oidc_test_rsa_key.pem")),
    ("test-key-2", include_str!("oidc_test_rsa_key_2.pem")),
];

/// What the next ID token says.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub email: String,
    pub email_verified: bool,
    /// Audience other than our client id.
    pub audience: Option<String>,
    /// Nonce other than the one the gateway sent.
    pub nonce: Option<String>,
    /// Issue an already expired token.
    pub expired: bool,
    /// Sign with HS256 (the client secret) instead of RS256.
    pub hs256: bool,
    /// The `sub` claim (default `sub-<email>`).
    pub subject: Option<String>,
    /// Leave the `email_verified` claim out.
    pub omit_email_verified: bool,
    /// Sign with the current key but name this key id in the header (one not in the JWKS).
    pub kid: Option<String>,
}

impl Scenario {
    pub fn for_email(email: &str) -> Scenario {
        Scenario {
            email: email.into(),
            email_verified: true,
            audience: None,
            nonce: None,
            expired: false,
            hs256: false,
            subject: None,
            omit_email_verified: false,
            kid: None,
        }
    }
}

struct Pending {
    nonce: String,
    code_challenge: String,
    redirect_uri: String,
}

#[derive(Clone)]
struct ProviderState {
    issuer: String,
    scenario: Arc<Mutex<Scenario>>,
    codes: Arc<Mutex<HashMap<String, Pending>>>,
    /// Index into [`KEYS`] of the current signing key.
    key: Arc<AtomicUsize>,
    jwks_fetches: Arc<AtomicUsize>,
}

/// A running provider.
pub struct TestProvider {
    pub issuer: String,
    scenario: Arc<Mutex<Scenario>>,
    key: Arc<AtomicUsize>,
    jwks_fetches: Arc<AtomicUsize>,
}

impl TestProvider {
    pub async fn spawn() -> TestProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let scenario = Arc::new(Mutex::new(Scenario::for_email("nobody@example.com")));
        let key = Arc::new(AtomicUsize::new(0));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let state = ProviderState {
            issuer: issuer.clone(),
            scenario: scenario.clone(),
            codes: Arc::default(),
            key: key.clone(),
            jwks_fetches: jwks_fetches.clone(),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestProvider {
            issuer,
            scenario,
            key,
            jwks_fetches,
        }
    }

    /// Rotates to the next signing key: new ID tokens are signed with it and the JWKS lists
    /// only it (the old key is retired at once).
    pub fn rotate_key(&self) {
        let next = (self.key.load(Ordering::SeqCst) + 1) % KEYS.len();
        self.key.store(next, Ordering::SeqCst);
    }

    /// How many times the JWKS document was downloaded.
    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Sets what the next ID token says.
    pub fn set(&self, scenario: Scenario) {
        *self.scenario.lock().unwrap() = scenario;
    }

    /// Sets whom the next ID token names (an otherwise valid token).
    pub fn set_email(&self, email: &str) {
        self.set(Scenario::for_email(email));
    }

    /// Gateway environment pointing at this provider.
    pub fn env(
        &self,
        allowed_domains: &str,
        auto_create_role: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut env = vec![
            ("RGW_OIDC_ISSUER".to_owned(), self.issuer.clone()),
            ("RGW_OIDC_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
            (
                "RGW_OIDC_CLIENT_SECRET".to_owned(),
                CLIENT_SECRET.to_owned(),
            ),
            (
                "RGW_OIDC_ALLOWED_DOMAINS".to_owned(),
                allowed_domains.to_owned(),
            ),
        ];
        if let Some(role) = auto_create_role {
            env.push(("RGW_OIDC_AUTO_CREATE_ROLE".to_owned(), role.to_owned()));
        }
        env
    }
}

fn signing_key(index: usize, kid: Option<&str>) -> CoreRsaPrivateSigningKey {
    let (id, pem) = KEYS[index];
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.unwrap_or(id).into())))
        .unwrap()
}

async fn discovery(State(s): State<ProviderState>) -> Json<serde_json::Value> {
    Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(s): State<ProviderState>) -> Json<CoreJsonWebKeySet> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let current = s.key.load(Ordering::SeqCst);
    Json(CoreJsonWebKeySet::new(vec![
        signing_key(current, None).as_verification_key(),
    ]))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
    client_id: String,
}

async fn authorize(State(s): State<ProviderState>, Query(q): Query<AuthorizeQuery>) -> Response {
    assert_eq!(q.client_id, CLIENT_ID);
    assert_eq!(q.code_challenge_method, "S256");
    let code = uuid::Uuid::new_v4().to_string();
    let location = format!("{}?code={code}&state={}", q.redirect_uri, q.state);
    s.codes.lock().unwrap().insert(
        code,
        Pending {
            nonce: q.nonce,
            code_challenge: q.code_challenge,
            redirect_uri: q.redirect_uri,
        },
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    code: String,
    code_verifier: String,
    redirect_uri: String,
}

async fn token(State(s): State<ProviderState>, Form(f): Form<TokenForm>) -> Response {
    let Some(p) = s.codes.lock().unwrap().remove(&f.code) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(f.code_verifier.as_bytes()));
    if challenge != p.code_challenge || f.redirect_uri != p.redirect_uri {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let sc = s.scenario.lock().unwrap().clone();
    let now = chrono::Utc::now();
    let (iat, exp) = if sc.expired {
        (
            now - chrono::Duration::hours(2),
            now - chrono::Duration::hours(1),
        )
    } else {
        (now, now + chrono::Duration::minutes(5))
    };
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(s.issuer.clone()).unwrap(),
        vec![Audience::new(
            sc.audience.clone().unwrap_or_else(|| CLIENT_ID.into()),
        )],
        exp,
        iat,
        StandardClaims::new(SubjectIdentifier::new(
            sc.subject
                .clone()
                .unwrap_or_else(|| format!("sub-{}", sc.email)),
        ))
        .set_email(Some(EndUserEmail::new(sc.email.clone())))
        .set_email_verified((!sc.omit_email_verified).then_some(sc.email_verified)),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(sc.nonce.clone().unwrap_or(p.nonce))));
    let id_token = if sc.hs256 {
        CoreIdToken::new(
            claims,
            &CoreHmacKey::new(CLIENT_SECRET),
            CoreJwsSigningAlgorithm::HmacSha256,
            None,
            None,
        )
    } else {
        CoreIdToken::new(
            claims,
            &signing_key(s.key.load(Ordering::SeqCst), sc.kid.as_deref()),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
    }
    .unwrap();
    Json(json!({
        "access_token": "test-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": serde_json::to_value(&id_token).unwrap(),
    }))
    .into_response()
}

/// Plays the browser on a CLI login link: opens the confirmation page (which sets this
/// browser's confirmation cookie), then submits its form as a same-origin browser would.
/// Returns the form's answer (303 to the provider on success) and the confirmation page.
pub async fn confirm_cli_login(
    client: &reqwest::Client,
    login_url: &str,
) -> (reqwest::Response, String) {
    let page = client.get(login_url).send().await.unwrap();
    assert_eq!(
        page.status(),
        200,
        "the login link shows the confirmation page"
    );
    let (cookie, _) = crate::cookie_value(&page, "rgw_cli_confirm").expect("confirmation cookie");
    let html = page.text().await.unwrap();
    let form = ConfirmationForm::parse(&html).expect("a confirmation form");
    let origin = url_origin(&form.action);
    let resp = client
        .post(&form.action)
        .header("cookie", format!("rgw_cli_confirm={cookie}"))
        .header("origin", origin)
        .header("sec-fetch-site", "same-origin")
        .form(&[("flow_id", &form.flow_id), ("csrf_token", &form.csrf_token)])
        .send()
        .await
        .unwrap();
    (resp, html)
}

/// The form on a CLI login's confirmation page.
#[derive(Debug, Clone)]
pub struct ConfirmationForm {
    pub action: String,
    pub flow_id: String,
    pub csrf_token: String,
}

impl ConfirmationForm {
    /// Reads the form out of the page's HTML (it is plain, generated markup).
    pub fn parse(html: &str) -> Option<ConfirmationForm> {
        let attr = |after: &str, name: &str| -> Option<String> {
            let start = html.find(after)? + after.len();
            let rest = &html[start..];
            let key = format!("{name}=\"");
            let v = rest.find(&key)? + key.len();
            let end = rest[v..].find('"')? + v;
            Some(rest[v..end].replace("&amp;", "&"))
        };
        Some(ConfirmationForm {
            action: attr("<form", "action")?,
            flow_id: attr("name=\"flow_id\"", "value")?,
            csrf_token: attr("name=\"csrf_token\"", "value")?,
        })
    }
}

fn url_origin(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let host_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| i + scheme_end);
    url[..host_end].to_owned()
}
