//! A real OpenID provider inside the test process (axum on port 0): discovery document, JWKS
//! with an RSA key, an authorize endpoint that redirects back with a code, and a token
//! endpoint that checks PKCE and returns an RS256-signed ID token. What the next ID token
//! says (email, audience, nonce, expiry, algorithm) is set per test through [`Scenario`].

use std::collections::HashMap;
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
const RSA_PEM: &str = include_str!("oidc_test_rsa_key.pem");

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
}

/// A running provider.
pub struct TestProvider {
    pub issuer: String,
    scenario: Arc<Mutex<Scenario>>,
}

impl TestProvider {
    pub async fn spawn() -> TestProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let scenario = Arc::new(Mutex::new(Scenario::for_email("nobody@example.com")));
        let state = ProviderState {
            issuer: issuer.clone(),
            scenario: scenario.clone(),
            codes: Arc::default(),
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
        TestProvider { issuer, scenario }
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

fn signing_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(RSA_PEM, Some(JsonWebKeyId::new("test-key".into()))).unwrap()
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

async fn jwks() -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![
        signing_key().as_verification_key(),
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
        StandardClaims::new(SubjectIdentifier::new(format!("sub-{}", sc.email)))
            .set_email(Some(EndUserEmail::new(sc.email.clone())))
            .set_email_verified(Some(sc.email_verified)),
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
            &signing_key(),
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
