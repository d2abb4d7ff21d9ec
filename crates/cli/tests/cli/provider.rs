//! A minimal OpenID provider inside the test process (axum on port 0), trimmed from the
//! server's identity tests: discovery, JWKS with an RSA key, an authorize endpoint that
//! redirects straight back with a code, and a token endpoint that checks PKCE and returns an
//! RS256-signed ID token for the email set with [`TestProvider::set_email`].

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
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
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
const CLIENT_SECRET: &str = "test-client-secret";
const RSA_PEM: &str = include_str!("oidc_test_rsa_key.pem");

struct Pending {
    nonce: String,
    code_challenge: String,
    redirect_uri: String,
}

#[derive(Clone)]
struct ProviderState {
    issuer: String,
    email: Arc<Mutex<String>>,
    codes: Arc<Mutex<HashMap<String, Pending>>>,
}

/// A running provider.
pub struct TestProvider {
    pub issuer: String,
    email: Arc<Mutex<String>>,
}

impl TestProvider {
    pub async fn spawn() -> TestProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let email = Arc::new(Mutex::new("nobody@example.com".to_owned()));
        let state = ProviderState {
            issuer: issuer.clone(),
            email: email.clone(),
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
        TestProvider { issuer, email }
    }

    /// Sets whom the next ID token names.
    pub fn set_email(&self, email: &str) {
        *self.email.lock().unwrap() = email.to_owned();
    }

    /// Gateway environment pointing at this provider.
    pub fn env(&self, allowed_domains: &str) -> Vec<(String, String)> {
        vec![
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
        ]
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
}

async fn authorize(State(s): State<ProviderState>, Query(q): Query<AuthorizeQuery>) -> Response {
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
    let email = s.email.lock().unwrap().clone();
    let now = chrono::Utc::now();
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(s.issuer.clone()).unwrap(),
        vec![Audience::new(CLIENT_ID.into())],
        now + chrono::Duration::minutes(5),
        now,
        StandardClaims::new(SubjectIdentifier::new(format!("sub-{email}")))
            .set_email(Some(EndUserEmail::new(email.clone())))
            .set_email_verified(Some(true)),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(p.nonce)));
    let id_token = CoreIdToken::new(
        claims,
        &signing_key(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap();
    Json(json!({
        "access_token": "test-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": serde_json::to_value(&id_token).unwrap(),
    }))
    .into_response()
}
